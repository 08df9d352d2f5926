# Peluit: make run (the whole system with a demo province), make test, make bench.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PACKAGES := -e contracts -e common -e services/intake -e services/cases \
            -e services/identity-vault -e services/notifications -e services/reporting \
            -e services/console -e deploy/local -e chain -e verifier \
            -e examples/bkpsdm-follower -e examples/lapor-mirror
STAMP  := $(VENV)/.installed

.PHONY: install servers run test test-unit bench bench-province bench-console bench-scale keys clean browser-deps mat2 corpus-deps

$(STAMP): constraints.txt requirements-dev.txt $(wildcard */pyproject.toml services/*/pyproject.toml deploy/local/pyproject.toml examples/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) mat2

# Debian's mat2 redraws PDF evidence (python3-gi, poppler, cairo: not from pip); as root, if missing
mat2:
	@command -v mat2 >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mat2 >/dev/null; } || \
		echo "note: mat2 is not installed; intake refuses PDF evidence and the PDF tests are skipped"

# PostgreSQL and RabbitMQ answer on 127.0.0.1: installed from Debian and started as root, else the exact command
servers:
	@bash deploy/local/servers.sh

run: servers install
	$(PY) -m peluit_local.run

test: servers install browser-deps corpus-deps
	$(PY) -m pytest

# Chromium from Debian (as root, if missing) and axe-core from npm, for the portal's browser test
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: chromium is not installed; the browser test will be skipped"
	@test -d tests/browser/node_modules/axe-core || (cd tests/browser && npm ci --no-audit --no-fund --silent) || \
		echo "note: npm could not install axe-core; the browser test will be skipped"

# LibreOffice (headless) and exiftool make the evidence test corpus; from Debian as root, if missing
corpus-deps:
	@{ command -v soffice && command -v exiftool; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui \
		libreoffice-calc-nogui libreoffice-impress-nogui libimage-exiftool-perl >/dev/null; } || \
		echo "note: LibreOffice or exiftool is not installed; the evidence corpus tests will be skipped"

test-unit: servers install corpus-deps
	$(PY) -m pytest -m "not system"

bench: servers install
	$(PY) -m peluit_local.bench

bench-province: servers install  # part (f) alone; the full province: PELUIT_BENCH_PROVINCE_SCALE=1 make bench-province
	$(PY) -m peluit_local.bench_province

bench-console: servers install  # part (h) alone, on the province store of (f) at the same scale
	$(PY) -m peluit_local.bench_console

bench-scale: servers install  # part (n) alone: one and two intake instances, failover time; then (l), a broker restart
	$(PY) -m peluit_local.bench_scale

keys: install
	$(PY) -m peluit_local.keys .keys

clean:
	rm -rf $(VENV) var test-artifacts
