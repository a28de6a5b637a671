#!/bin/sh
# `make deb`: the Debian package libapache2-mod-wsgi-rs, built from the already built module with
# plain `dpkg-deb --build` (no debian/ source tree, no cargo tool). The package is laid out the way
# dh_apache2 lays out a module package:
#   /usr/lib/apache2/modules/mod_wsgi_rs.so          the module (LoadModule wsgi_rs_module)
#   /etc/apache2/mods-available/wsgi_rs.{load,conf}  conffiles, so `a2enmod wsgi_rs` works
#   /usr/bin/wsgi-express                            only when target/release/wsgi-express exists
#   /usr/share/doc/libapache2-mod-wsgi-rs/           README, copyright, changelog, examples
# and its maintainer scripts are the ones dh_apache2 generates (apache2-maintscript-helper):
# postinst enables the module (unless the admin disabled it), prerm disables it on remove, postrm
# forgets its a2enmod state on purge; dpkg itself removes the conffiles on purge.
#
# Environment: SO (the module, default target/release/libmod_wsgi_rs.so), WSGI_EXPRESS (default
# target/release/wsgi-express, packaged when present), OUT (output directory, default target/deb),
# DEB_REVISION (default 1), DEBFULLNAME/DEBEMAIL (Maintainer), DEB_BUILD_OPTIONS=nostrip (keep
# debug info). Prints the path of the .deb as its last line.
set -eu
umask 022
repo=$(cd "$(dirname "$0")/.." && pwd)
SO=${SO:-$repo/target/release/libmod_wsgi_rs.so}
WSGI_EXPRESS=${WSGI_EXPRESS:-$repo/target/release/wsgi-express}
OUT=${OUT:-$repo/target/deb}
PKG=libapache2-mod-wsgi-rs
MODDIR=/usr/lib/apache2/modules   # Debian's module directory (dh_apache2's $MODULE_DIR)
MAINT="${DEBFULLNAME:-mod_wsgi_rs developers} <${DEBEMAIL:-dev@mod-wsgi-rs.invalid}>"

die() { echo "build-deb: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (a Debian system is needed)"
[ -f "$SO" ] || die "module not built: $SO (run make build, or set SO=)"

# The version of the [package] section of Cargo.toml, plus a Debian revision.
upstream=$(awk '/^\[/{p = ($0 == "[package]")} p && /^version *=/{gsub(/[" ]/, ""); sub(/^version=/, ""); print; exit}' "$repo/Cargo.toml")
[ -n "$upstream" ] || die "no version in $repo/Cargo.toml"
version=$upstream-${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
# The Apache module ABI the module was built against (what apache2-bin Provides).
mmn_h=$(apxs -q INCLUDEDIR 2>/dev/null || echo /usr/include/apache2)/ap_mmn.h
mmn=$(sed -n 's/^#define MODULE_MAGIC_NUMBER_MAJOR  *\([0-9]*\).*/\1/p' "$mmn_h" 2>/dev/null)
[ -n "$mmn" ] || die "cannot read MODULE_MAGIC_NUMBER_MAJOR from $mmn_h (install apache2-dev)"
# Reproducible dates: the last commit's time when this is a git checkout.
: "${SOURCE_DATE_EPOCH:=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Staged as debian/<package> under a scratch "source tree", where dpkg-shlibdeps expects it.
root=$work/debian/$PKG
doc=$root/usr/share/doc/$PKG
install -d "$root/DEBIAN" "$root$MODDIR" "$root/etc/apache2/mods-available" "$doc/examples"

install -m 644 "$SO" "$root$MODDIR/mod_wsgi_rs.so"
printf 'LoadModule wsgi_rs_module %s/mod_wsgi_rs.so\n' "$MODDIR" > "$root/etc/apache2/mods-available/wsgi_rs.load"
install -m 644 "$repo/conf-examples/wsgi_rs.conf" "$root/etc/apache2/mods-available/wsgi_rs.conf"
binaries="$root$MODDIR/mod_wsgi_rs.so"
if [ -f "$WSGI_EXPRESS" ]; then
  install -d "$root/usr/bin"
  install -m 755 "$WSGI_EXPRESS" "$root/usr/bin/wsgi-express"
  binaries="$binaries $root/usr/bin/wsgi-express"
  echo "build-deb: including wsgi-express ($WSGI_EXPRESS)" >&2
else
  echo "build-deb: $WSGI_EXPRESS not built; the package has no wsgi-express" >&2
fi
case " ${DEB_BUILD_OPTIONS:-} " in
  *" nostrip "*) ;;
  *)  # what dh_strip does (the debug info is most of the release build's size)
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root$MODDIR/mod_wsgi_rs.so"
    [ ! -f "$root/usr/bin/wsgi-express" ] ||
      strip --remove-section=.comment --remove-section=.note "$root/usr/bin/wsgi-express" ;;
esac

# Documentation (policy 12.3, 12.5, 12.7): compressed README and changelog, a DEP-5 copyright.
gzip -9n < "$repo/README.md" > "$doc/README.md.gz"
# Examples, sub-directories included (conf-examples/balancer/).
(cd "$repo/conf-examples" && find . -type f) | while read -r f; do
  install -D -m 644 "$repo/conf-examples/$f" "$doc/examples/$f"
done
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  printf '%s (%s) unstable; urgency=medium\n\n' "$PKG" "$version"
  printf '  * Built from mod_wsgi_rs %s (commit %s) by scripts/build-deb.sh.\n\n' "$upstream" "$commit"
  printf ' -- %s  %s\n' "$MAINT" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.Debian.gz"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mod_wsgi_rs
Comment: An Apache httpd 2.4 module, written in Rust, hosting Python WSGI applications.
 Written from scratch; it shares no code with mod_wsgi (whose directives it implements).

Files: *
Copyright: mod_wsgi_rs contributors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations under
 the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can be
 found in "/usr/share/common-licenses/Apache-2.0".
EOF
find "$root" -type d -exec chmod 755 {} +

# Library dependencies as Debian computes them (libc6, libgcc-s1, libpython3.X with minimum
# versions from the symbols files); dpkg-shlibdeps wants a debian/control beside debian/<pkg>.
printf 'Source: mod-wsgi-rs\n\nPackage: %s\nArchitecture: any\n' "$PKG" > "$work/debian/control"
if command -v dpkg-shlibdeps >/dev/null; then
  # shellcheck disable=SC2086
  shlibs=$(cd "$work" && dpkg-shlibdeps -O -e $binaries 2>"$work/shlibdeps.err" | sed -n 's/^shlibs:Depends=//p') ||
    die "dpkg-shlibdeps failed: $(cat "$work/shlibdeps.err") (was the module built against a Debian python3, PYTHON=/usr/bin/python3?)"
else  # no dpkg-dev: the packages owning the linked libraries, unversioned
  shlibs=$(for b in $binaries; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"; done |
    cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
fi
case "$shlibs" in *libpython3*) ;; *) die "no libpython3 package among the dependencies: '$shlibs'";; esac

# Conflicts: mod_wsgi claims the same directives and handler names and embeds the same libpython;
# with both loaded Apache starts, hands the WSGI* directives to one module, and the other cannot
# initialise Python in the same process (see README "Debian package"). Replaces (with Conflicts:
# Debian policy 7.6.2, "replacing whole packages") lets dpkg swap mod_wsgi out for this drop-in.
# No Provides: httpd-wsgi3: packages depending on it configure `wsgi_module`/`mod_wsgi.c`, not
# the `wsgi_rs_module` this package loads.
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: $PKG
Version: $version
Architecture: $arch
Maintainer: $MAINT
Installed-Size: $size
Depends: apache2-api-$mmn, apache2-bin (>= 2.4.16), $shlibs
Conflicts: libapache2-mod-wsgi-py3, libapache2-mod-wsgi
Replaces: libapache2-mod-wsgi-py3, libapache2-mod-wsgi
Section: httpd
Priority: optional
Description: Python WSGI applications in Apache httpd 2.4 (mod_wsgi replacement)
 mod_wsgi_rs is an Apache httpd 2.4 module, written in Rust, that hosts Python
 WSGI applications (PEP 3333: Django, Flask, ...) the way mod_wsgi does: an
 existing mod_wsgi configuration keeps its WSGIScriptAlias, WSGIDaemonProcess,
 ... lines; only the LoadModule line changes (LoadModule wsgi_rs_module).
 .
 Applications run in Apache's worker threads (embedded mode) or in supervised
 daemon process groups, which can run as other users (daemon mode).
EOF
printf '/etc/apache2/mods-available/wsgi_rs.load\n/etc/apache2/mods-available/wsgi_rs.conf\n' > "$root/DEBIAN/conffiles"
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\n' | LC_ALL=C sort |
  xargs md5sum) > "$root/DEBIAN/md5sums"

# Maintainer scripts: dh_apache2's autoscripts (postinst-apache2, prerm-apache2, postrm-apache2
# in /usr/share/debhelper/autoscripts) for a module package, as `dh_apache2` fills them in.
helper() {  # $1: a2 helper (enmod/dismod)
  cat <<EOF
	if [ -e /usr/share/apache2/apache2-maintscript-helper ] ; then
		. /usr/share/apache2/apache2-maintscript-helper
		for conf in wsgi_rs ; do
			apache2_invoke $1 \$conf  || exit 1
		done
	fi
EOF
}
{ printf '#!/bin/sh\nset -e\n# Enable the module on install (not if the admin disabled it); restart Apache if running.\n'
  helper enmod; printf 'exit 0\n'; } > "$root/DEBIAN/postinst"
{ printf '#!/bin/sh\nset -e\n# Disable the module before its files go; the conffiles stay until purge.\n'
  printf 'if [ "$1" = "remove" ] || [ "$1" = "deconfigure" ] ; then\n'
  helper dismod; printf 'fi\nexit 0\n'; } > "$root/DEBIAN/prerm"
{ printf '#!/bin/sh\nset -e\n# Purge: forget the a2enmod state of wsgi_rs (dpkg removes the conffiles).\n'
  printf 'if [ "$1" = "purge" ] ; then\n'
  helper dismod; printf 'fi\nexit 0\n'; } > "$root/DEBIAN/postrm"
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$OUT"
deb=$OUT/${PKG}_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
