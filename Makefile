# Every target sets itself up on a fresh machine (a .venv at the repo root and npm's Azurite) and
# reuses what is already there. Nothing here needs Azure or the internet beyond the package registries.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_STAMP := $(VENV)/checkov/.installed
AZ_STAMP := $(VENV)/az/.installed

.PHONY: setup runtime-setup browser test lint demo bench soak fuzz reliability up clean

$(PY_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# the `hublink` command (pyproject.toml [project.scripts]), on this checkout's code
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov (tests/test_infra.py) pins packages that clash with pytest, so it gets a venv of its own.
$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

# The real Azure CLI (tests/devcloud/test_az_cli.py), also in a venv of its own: it pins its own SDKs.
$(AZ_STAMP): devcloud/requirements-az.txt
	test -x $(VENV)/az/bin/python || $(PYTHON) -m venv $(VENV)/az
	$(VENV)/az/bin/python -m pip install --quiet --disable-pip-version-check -r devcloud/requirements-az.txt
	touch $@

# Debian's chromium for tests/test_status_page.py (PyPI's browser drivers download a browser; this one comes
# from apt). Best effort: where apt cannot install it, that one test skips and says why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || $(SUDO) apt-get install -y --no-install-recommends chromium \
	  || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; } \
	  || echo "chromium could not be installed: tests/test_status_page.py will skip"

# The demo and benchmarks need no checkov or az; tests do.
runtime-setup: $(PY_STAMP) $(NODE_STAMP)

setup: runtime-setup $(CHECKOV_STAMP) $(AZ_STAMP) browser

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The unit tier first (in-memory fakes of the product's adapters, seconds, no devcloud), then the rest
# on two pytest-xdist workers, a test file per worker at a time (each worker has its own devcloud and
# Azurite): most of those tests wait on Azure-like timings, not on the CPU.
test: lint $(AZ_STAMP) browser
	$(PY) -m pytest -q -p no:cacheprovider tests/unit
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/unit -n 2 --dist loadfile

demo: runtime-setup
	$(PY) -m demo

bench: runtime-setup
	$(PY) -m bench

# Reliability at full size (tests/reliability runs small in `make test`): figures printed at the end.
soak: runtime-setup
	$(PY) -m reliability soak

fuzz: runtime-setup
	$(PY) -m reliability fuzz

reliability: runtime-setup
	$(PY) -m reliability report

up: runtime-setup
	$(PY) -m stack up

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
