# Peluit: make run (the whole system with a demo province), make test, make bench.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PACKAGES := -e contracts -e common -e services/intake -e services/cases \
            -e services/identity-vault -e services/notifications -e services/reporting -e deploy/local
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit bench keys clean

$(STAMP): constraints.txt requirements-dev.txt $(wildcard */pyproject.toml services/*/pyproject.toml deploy/local/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m peluit_local.run

test: install
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest -m "not system"

bench: install
	$(PY) -m peluit_local.bench

keys: install
	$(PY) -m peluit_local.keys .keys

clean:
	rm -rf $(VENV) var test-artifacts
