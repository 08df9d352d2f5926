# Peluit: make run (the whole system with a demo province), make test, make bench.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PACKAGES := -e contracts -e common -e services/intake -e services/cases \
            -e services/identity-vault -e services/notifications -e services/reporting \
            -e services/console -e deploy/local -e chain -e verifier \
            -e examples/bkpsdm-follower -e examples/lapor-mirror
STAMP  := $(VENV)/.installed

.PHONY: install servers run test test-unit bench bench-province keys clean browser-deps

$(STAMP): constraints.txt requirements-dev.txt $(wildcard */pyproject.toml services/*/pyproject.toml deploy/local/pyproject.toml examples/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL and RabbitMQ answer on 127.0.0.1: installed from Debian and started as root, else the exact command
servers:
	@bash deploy/local/servers.sh

run: servers install
	$(PY) -m peluit_local.run

test: servers install browser-deps
	$(PY) -m pytest

# Chromium from Debian (as root, if missing) and axe-core from npm, for the portal's browser test
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: chromium is not installed; the browser test will be skipped"
	@test -d tests/browser/node_modules/axe-core || (cd tests/browser && npm ci --no-audit --no-fund --silent) || \
		echo "note: npm could not install axe-core; the browser test will be skipped"

test-unit: servers install
	$(PY) -m pytest -m "not system"

bench: servers install
	$(PY) -m peluit_local.bench

bench-province: servers install  # part (f) alone; the full province: PELUIT_BENCH_PROVINCE_SCALE=1 make bench-province
	$(PY) -m peluit_local.bench_province

keys: install
	$(PY) -m peluit_local.keys .keys

clean:
	rm -rf $(VENV) var test-artifacts
