"""The manual in docs/ keeps up with the code: every directive of the module's table
(src/module/mod.rs) has an entry in docs/directives.md whose Context line is what Apache really
accepts; every WSGIDaemonProcess option (core/src/config/daemon.rs SUPPORTED) is documented;
every `apache` example block of the manual passes `apache2 -t`; docs/errors.md is what
scripts/gen-error-docs.py makes of core/src/codes.rs; every log line quoted in
docs/troubleshooting.md matches a message the code writes under that code; every README
"Differences from mod_wsgi" row is in docs/migration.md; links between the pages resolve; and
nothing points outside the repository (a user's clone has only the repository itself)."""
import glob
import os
import re
import subprocess
import sys

import pytest

from harness import configtest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")
MOD_RS = os.path.join(REPO, "src", "module", "mod.rs")
DAEMON_RS = os.path.join(REPO, "core", "src", "config", "daemon.rs")

pytestmark = [
    pytest.mark.embedded_only,  # reads files and runs configtest: nothing to run in daemon mode
    pytest.mark.event_only(reason="configtest only, the same under every MPM"),
    pytest.mark.skipif(not os.path.exists(MOD_RS), reason="run from a copy of tests/ only"),
]


def read(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as f:
        return f.read()


# ----- the module's directive table ---------------------------------------------------------

def module_directives():
    """[(name, context constant, handler)] of src/module/mod.rs's CMDS, in table order."""
    text = read("src", "module", "mod.rs")
    body = text[text.index("pub static mut CMDS"):]
    rows = re.findall(r'(?:raw|take1|flag)\(\s*c"(WSGI\w+)",\s*([\w:]+),\s*\d+,\s*(\w+),', body)
    assert len(rows) > 40, f"the scan of mod.rs found too few directives: {len(rows)}"
    return [(name, ctx, handler) for name, handler, ctx in rows]


def directives_doc():
    return read("docs", "directives.md")


def entry(name):
    """The text of `### name` in docs/directives.md, up to the next heading."""
    doc = directives_doc()
    m = re.search(r"^### " + re.escape(name) + r"\n(.*?)(?=^##)", doc + "\n##", re.S | re.M)
    return m.group(1) if m else None


def test_every_directive_has_an_entry():
    missing = [n for n, _, _ in module_directives() if entry(n) is None]
    assert not missing, f"directives of src/module/mod.rs without a '### Name' entry in docs/directives.md: {missing}"


def test_every_supported_directive_has_a_default_and_an_example():
    """Each entry of a directive the module accepts gives its default and an `apache` example
    that uses it (the examples are run through configtest below)."""
    wrong = []
    for name, _, handler in module_directives():
        text = entry(name) or ""
        if handler == "d::not_supported":
            continue
        if "**Default:**" not in text:
            wrong.append(f"{name}: no **Default:**")
        blocks = re.findall(r"^```apache\n(.*?)^```", text, re.S | re.M)
        if not any(re.search(r"^\s*" + name + r"\b", b, re.M) for b in blocks):
            wrong.append(f"{name}: no ```apache example using it")
    assert not wrong, "\n".join(wrong)


def test_every_entry_is_a_directive():
    """No entry for a directive the module does not have (a typo, a removed directive)."""
    names = {n for n, _, _ in module_directives()}
    headed = set(re.findall(r"^### (WSGI\w+)$", directives_doc(), re.M))
    assert headed - names == set(), f"entries for unknown directives: {sorted(headed - names)}"


def context_line(name):
    text = entry(name) or ""
    m = re.search(r"\*\*Context:\*\*(.*?)(?:·|\n\n)", text, re.S)
    assert m, f"{name}: no **Context:** line in docs/directives.md"
    return " ".join(m.group(1).split())


# What the context constants of mod.rs allow in .htaccess (Apache's req_override classes).
HTACCESS = {"FILEINFO": ".htaccess (FileInfo)", "AUTHCFG": ".htaccess (AuthConfig)", "ANY": ".htaccess"}


def test_context_lines_match_the_table():
    """Every entry has a Context line, and it names .htaccess exactly when the table allows it;
    a refused directive (d::not_supported) says so."""
    wrong = []
    for name, ctx, handler in module_directives():
        line = context_line(name)
        if handler == "d::not_supported":
            if not line.startswith("refused everywhere"):
                wrong.append(f"{name}: refused by the module, but the docs say '{line}'")
            continue
        want = HTACCESS.get(ctx)
        has = ".htaccess" in line
        if bool(want) != has or (want and want not in line):
            wrong.append(f"{name}: table context {ctx}, docs say '{line}'")
    assert not wrong, "\n".join(wrong)


# One valid argument per directive, to try it in each context ("On" for the rest).
SAMPLE = {
    "WSGIScriptAlias": "/x /srv/app/app.wsgi", "WSGIScriptAliasMatch": "^/x/(.*) /srv/app/$1.wsgi",
    "WSGICallableObject": "app", "WSGIMapHEADToGET": "Auto", "WSGIPythonEggs": "/tmp/eggs",
    "WSGIPythonHashSeed": "0", "WSGIPythonWarnings": "ignore", "WSGISwitchInterval": "0.01",
    "WSGIApplicationGroup": "%{GLOBAL}", "WSGIProcessGroup": "%{GLOBAL}", "WSGIPythonHome": "/usr",
    "WSGIPythonPath": "/tmp", "WSGIPythonOptimize": "1", "WSGIDaemonProcess": "docsgroup",
    "WSGISocketPrefix": "run/wsgi",
    "WSGIImportScript": "/srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
    "WSGIRestrictProcess": "%{GLOBAL}", "WSGIHandlerScript": "h /srv/h.wsgi",
    "WSGIDispatchScript": "/srv/d.py", "WSGIAccessScript": "/srv/a.py",
    "WSGIAuthUserScript": "/srv/a.py", "WSGIAuthGroupScript": "/srv/a.py",
    "WSGITrustedProxies": "10.0.0.1", "WSGITrustedProxyHeaders": "X-Forwarded-For",
    "WSGIAcceptMutex": "default", "WSGIPerInterpreterGIL": "On", "WSGIFreeThreading": "Off",
}

# The contexts the Context line names, and the container that tries each.
CONTAINERS = {
    "server config": "{}",
    "virtual host": "<VirtualHost *:80>\n{}\n</VirtualHost>",
    "directory": "<Directory /srv>\n{}\n</Directory>\n<Location /docs-l>\n{}\n</Location>",
}


@pytest.mark.parametrize("name", [n for n, _, _ in module_directives()] if os.path.exists(MOD_RS) else [])
def test_context_line_is_what_apache_accepts(name):
    """The documented contexts are exactly those where `apache2 -t` accepts the directive."""
    line = context_line(name)
    documented = [c for c in CONTAINERS if re.search(r"(^|, )" + c + r"\b", line)]
    arg = SAMPLE.get(name, "On")
    got = []
    for ctx, wrap in CONTAINERS.items():
        rc, out = configtest(wrap.format(f"{name} {arg}", f"{name} {arg}"), name="docs-ctx")
        if rc == 0:
            got.append(ctx)
        elif ctx in documented:
            pytest.fail(f"{name} is documented for '{ctx}' but configtest refuses it there:\n{out}")
    assert got == documented, f"{name}: docs say {documented}, Apache accepts it in {got}"


def test_every_daemon_option_is_documented():
    text = read("core", "src", "config", "daemon.rs")
    body = text[text.index("const SUPPORTED"):]
    body = body[:body.index("];")]
    options = re.findall(r'"([a-z-]+)"', body)
    assert len(options) > 30, f"the scan of SUPPORTED found too few options: {options}"
    table = entry("WSGIDaemonProcess") or ""
    missing = [o for o in options if not re.search(r"^\| `" + re.escape(o) + "=", table, re.M)]
    assert not missing, f"WSGIDaemonProcess options without a row in docs/directives.md: {missing}"


# ----- example blocks -------------------------------------------------------------------------

# Pages whose every ```apache block is a complete configuration fragment (other pages may show
# fragments with placeholders, e.g. ${NODE1}, in ```apache blocks too).
EXAMPLE_PAGES = ["directives.md", "quick-start.md", "troubleshooting.md", "security.md", "migration.md"]


def apache_blocks():
    """(page, index, text) of every ```apache block of the EXAMPLE_PAGES."""
    out = []
    for p in [os.path.join(DOCS, page) for page in EXAMPLE_PAGES]:
        if not os.path.exists(p):
            continue
        with open(p, encoding="utf-8") as f:
            blocks = re.findall(r"^```apache\n(.*?)^```", f.read(), re.S | re.M)
        out += [(os.path.basename(p), i, b) for i, b in enumerate(blocks)]
    return out


def test_the_manual_has_examples():
    pages = {}
    for page, _, _ in apache_blocks():
        pages[page] = pages.get(page, 0) + 1
    assert pages.get("directives.md", 0) >= 40, pages


@pytest.mark.parametrize("page,index,block", [
    pytest.param(page, i, block, id=f"{page}#{i}") for page, i, block in (apache_blocks() if os.path.isdir(DOCS) else [])])
def test_example_block_passes_configtest(page, index, block):
    rc, out = configtest(block, name="docs-example")
    assert rc == 0, f"{page} example #{index} fails apache2 -t:\n{block}\n---\n{out}"
    assert "Syntax OK" in out, out


# ----- error reference --------------------------------------------------------------------------

def test_error_reference_is_up_to_date():
    p = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "gen-error-docs.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr + p.stdout


def test_error_reference_lists_every_code():
    codes = re.findall(r'\bc\(\s*"(RWSGI\d{4})"', read("core", "src", "codes.rs"))
    doc = read("docs", "errors.md")
    missing = [c for c in codes if f"### {c}\n" not in doc]
    assert codes and not missing, f"codes without an entry in docs/errors.md: {missing}"


# ----- troubleshooting: quoted log lines are real -------------------------------------------------

RUST_STR = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


def logged_messages():
    """code -> [regex of each message the sources write with coded!("code", "format", …)]."""
    out = {}
    for root in ("src", os.path.join("core", "src")):
        for d, _, files in os.walk(os.path.join(REPO, root)):
            for f in files:
                if not f.endswith(".rs"):
                    continue
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    text = fh.read()
                for m in re.finditer(r'coded!\(\s*"(RWSGI\d{4})"\s*,\s*', text):
                    s = RUST_STR.match(text, m.end())
                    if not s:
                        continue
                    fmt = re.sub(r"\\\n\s*", "", s.group(1))
                    fmt = re.sub(r'\\(.)', r"\1", fmt).replace("{{", "\0").replace("}}", "\1")
                    parts = re.split(r"\{[^{}]*\}", fmt)
                    rx = ".*".join(re.escape(p) for p in parts).replace("\0", "{").replace("\1", "}")
                    out.setdefault(m.group(1), []).append(re.compile(rx + r"\Z", re.S))
    return out


def quoted_log_lines():
    text = read("docs", "troubleshooting.md")
    lines = []
    for block in re.findall(r"^```text\n(.*?)^```", text, re.S | re.M):
        lines += [l for l in block.splitlines() if re.search(r"RWSGI\d{4}: ", l)]
    return lines


def test_troubleshooting_quotes_the_real_messages():
    msgs = logged_messages()
    lines = quoted_log_lines()
    assert len(lines) >= 15, f"too few quoted log lines: {len(lines)}"
    wrong = []
    for line in lines:
        m = re.search(r"(RWSGI\d{4}): (.*)", line)
        code, msg = m.group(1), m.group(2)
        if code == "RWSGI0021":  # a traceback line: Python's own text
            continue
        if not any(rx.match(msg) for rx in msgs.get(code, [])):
            wrong.append(line)
    assert not wrong, "quoted lines no coded!() message of their code produces:\n" + "\n".join(wrong)


def test_troubleshooting_covers_the_classic_pains():
    text = read("docs", "troubleshooting.md").lower()
    for topic in ("wrong python or virtualenv", "socket permissions", "authorization header",
                  "timeouts", "sub-interpreters"):
        assert re.search(r"^## .*" + re.escape(topic), text, re.M), topic


# ----- migration guide ------------------------------------------------------------------------------

def differences_rows(text):
    """First cells of the "Differences from mod_wsgi" table of `text`."""
    m = re.search(r"^## Differences from mod_wsgi\n(.*?)(?=^## )", text + "\n## ", re.S | re.M)
    if not m:
        return []
    rows = [l for l in m.group(1).splitlines() if l.startswith("| ") and not l.startswith("| Difference |")]
    return [r[2:].split(" | ")[0].strip() for r in rows]


def test_migration_guide_lists_every_difference():
    readme_rows = differences_rows(read("README.md"))
    migration = read("docs", "migration.md")
    if not readme_rows:  # the README's table moved into the guide
        assert migration.count("\n| ") >= 30
        return
    missing = [r for r in readme_rows if r not in migration]
    rows = [l for l in read("README.md").splitlines() if any(l.startswith("| " + r) for r in missing)]
    assert not missing, ("README 'Differences from mod_wsgi' rows missing from docs/migration.md; "
                         "add these lines to its table:\n" + "\n".join(rows))


def test_migration_guide_says_what_changes():
    text = read("docs", "migration.md")
    assert "LoadModule wsgi_rs_module" in text and "a2dismod wsgi" in text


# ----- links, index, standing alone ---------------------------------------------------------------

def slug(title):
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_links_between_pages_resolve():
    bad = []
    pages = glob.glob(os.path.join(DOCS, "*.md")) + [os.path.join(REPO, "README.md")]
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(dest):
                bad.append(f"{os.path.relpath(page, REPO)}: {target} (no such file)")
            elif frag and dest.endswith(".md") and frag not in anchors(dest):
                bad.append(f"{os.path.relpath(page, REPO)}: {target} (no such heading)")
    assert not bad, "\n".join(bad)


def test_every_page_is_in_the_index():
    index = read("docs", "README.md")
    pages = [os.path.basename(p) for p in glob.glob(os.path.join(DOCS, "*.md"))]
    missing = [p for p in pages if p != "README.md" and f"({p}" not in index]
    assert not missing, f"docs pages not linked from docs/README.md: {missing}"
    assert "(docs/README.md)" in read("README.md"), "the README does not link the manual"


def test_nothing_points_outside_the_repository():
    """A user's clone has no development directory beside it: the README, Makefile, docs, tests, scripts and bench
    must not use it."""
    needle = "../" + "shared"
    hits = []
    files = ["README.md", "Makefile"]
    for d in ("docs", "tests", "scripts", "bench", "conf-examples"):
        for p in glob.glob(os.path.join(REPO, d, "**", "*"), recursive=True):
            if os.path.isfile(p) and "__pycache__" not in p:
                files.append(os.path.relpath(p, REPO))
    for rel in files:
        try:
            text = read(rel)
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for n, l in enumerate(text.splitlines(), 1):
            if needle in l or "/work/" + "shared" in l or re.search(r"\b(DESIGN|run-anchors)[.](md|sh)\b", l):
                hits.append(f"{rel}:{n}: {l.strip()}")
    assert not hits, "\n".join(hits)
