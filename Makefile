# mod_wsgi_rs — see README.md. Every target works from a clean clone, as root or not.
PYTHON ?= /usr/bin/python3
APXS ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
PORT ?= 8000
APP ?= conf-examples/hello.wsgi
# Test virtualenv (Flask, Django, pytest): world-readable, because Apache's workers use it.
WSGI_RS_VENV ?= /tmp/mod_wsgi_rs-venv
CARGO ?= cargo
SO := target/release/libmod_wsgi_rs.so
EXPRESS := target/release/wsgi-express
# Where `make install` puts wsgi-express.
BINDIR ?= /usr/local/bin
export PYO3_PYTHON := $(PYTHON)
export APXS

.PHONY: all deps build run test test-unit test-integration venv install install-files deb bench fuzz fmt fmt-check lint mutants mutants-integration clean

all: build

deps:
	@PYTHON=$(PYTHON) scripts/install-deps.sh

build: deps
	$(CARGO) build --release --workspace
	@echo "built $(SO) (LoadModule wsgi_rs_module $(abspath $(SO))) and $(EXPRESS)"

# wsgi-express start-server on 127.0.0.1:$(PORT) (see scripts/run.sh).
run: build
	APP=$(APP) PORT=$(PORT) SO=$(abspath $(SO)) EXPRESS=$(abspath $(EXPRESS)) scripts/run.sh

venv: deps
	@PYTHON=$(PYTHON) VENV=$(WSGI_RS_VENV) scripts/test-venv.sh

test-unit: deps
	$(CARGO) test -p wsgi_rs_core
	$(CARGO) test -p wsgi-express

test-integration: build venv
	@WITH_STRACE=1 PYTHON=$(PYTHON) scripts/install-deps.sh
	MOD_WSGI_RS_SO=$(abspath $(SO)) WSGI_RS_VENV=$(WSGI_RS_VENV) \
	  $(WSGI_RS_VENV)/bin/python -m pytest -p no:cacheprovider tests/ -q -ra
	WSGI_RS_MODE=daemon MOD_WSGI_RS_SO=$(abspath $(SO)) WSGI_RS_VENV=$(WSGI_RS_VENV) $(WSGI_RS_VENV)/bin/python -m pytest -p no:cacheprovider tests/ -q -ra -m "not embedded_only and not daemon"
	WSGI_RS_MPM=prefork MOD_WSGI_RS_SO=$(abspath $(SO)) WSGI_RS_VENV=$(WSGI_RS_VENV) $(WSGI_RS_VENV)/bin/python -m pytest -p no:cacheprovider tests/ -q -ra -m "not daemon and not event_only"
	@if [ "$$(id -u)" = 0 ] && [ -x tests/run-unprivileged.sh ]; then \
	  MOD_WSGI_RS_SO=$(abspath $(SO)) WSGI_RS_VENV=$(WSGI_RS_VENV) tests/run-unprivileged.sh; fi

test: test-unit test-integration

install: build install-files

# The install step alone (tests call it with DESTDIR).
install-files:
	$(eval LIBEXEC := $(shell $(APXS) -q LIBEXECDIR))
	$(eval SYSCONF := $(shell $(APXS) -q SYSCONFDIR))
	install -d $(DESTDIR)$(LIBEXEC) $(DESTDIR)$(SYSCONF)/mods-available
	install -m 644 $(SO) $(DESTDIR)$(LIBEXEC)/mod_wsgi_rs.so
	printf 'LoadModule wsgi_rs_module %s/mod_wsgi_rs.so\n' "$(LIBEXEC)" > $(DESTDIR)$(SYSCONF)/mods-available/wsgi_rs.load
	install -m 644 conf-examples/wsgi_rs.conf $(DESTDIR)$(SYSCONF)/mods-available/wsgi_rs.conf
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(EXPRESS) $(DESTDIR)$(BINDIR)/wsgi-express
	@echo "installed; enable with: a2enmod wsgi_rs (disable mod_wsgi first: a2dismod wsgi)"

# The Debian package libapache2-mod-wsgi-rs (target/deb/*.deb; wsgi-express included when built).
deb: build
	SO=$(abspath $(SO)) scripts/build-deb.sh

# The project's own benchmark (docs/benchmark.md): Apache static vs our embedded and daemon
# modes (and mod_wsgi, gunicorn, granian, Apache -> granian where installed, on PATH or in
# BENCH_VENV=/path/to/venv); a Markdown table on stdout and in bench.md.
bench: build
	MOD_WSGI_RS_SO=$(abspath $(SO)) bench/run.sh | tee bench.md

# Regenerates the generated parts of the manual (docs/errors.md from core/src/codes.rs);
# tests/test_docs.py fails while they are stale.
.PHONY: docs
docs:
	$(PYTHON) scripts/gen-error-docs.py

fuzz:
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) scripts/fuzz.sh

# Mutation testing (a report, not a gate; see README "Mutation testing"). MUTANTS_FILES narrows
# it to some files (default: all of core/), e.g. MUTANTS_FILES="core/src/framing.rs".
mutants:
	@command -v cargo-mutants >/dev/null || $(CARGO) install --locked cargo-mutants
	$(CARGO) mutants -p wsgi_rs_core --no-shuffle $(foreach f,$(MUTANTS_FILES),-f $(f)) || true
	@echo "--- mutants no unit test caught (mutants.out/missed.txt):"
	@cat mutants.out/missed.txt 2>/dev/null || true

# The request-path files against the real module: unit tests plus a fast integration subset
# for each mutant (MUTANTS_TESTS to choose the pytest files).
MUTANTS_INTEGRATION_FILES ?= core/src/framing.rs src/request/io.rs
mutants-integration: venv
	@command -v cargo-mutants >/dev/null || $(CARGO) install --locked cargo-mutants
	WSGI_RS_VENV=$(WSGI_RS_VENV) scripts/mutants-integration.py $(if $(MUTANTS_TESTS),--tests "$(MUTANTS_TESTS)") \
	  $(or $(MUTANTS_FILES),$(MUTANTS_INTEGRATION_FILES))

# The development gate (.ci/run runs fmt-check and lint before test).
fmt:
	$(CARGO) fmt --all
	cd fuzz && $(CARGO) fmt

fmt-check:
	$(CARGO) fmt --all -- --check
	cd fuzz && $(CARGO) fmt -- --check

lint: deps
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings

clean:
	$(CARGO) clean
