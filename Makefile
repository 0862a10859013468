# Everyday entry points. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= $(or $(SERVICE_DATAMONKEY_PORT),9300)

.PHONY: install hyphy run test test-unit test-integration bench clean start stop

$(PY):
	python3 -m venv $(VENV)

install: $(PY)  ## Python dependencies into .venv (editable install of the service)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'

hyphy:  ## HyPhy from Debian, when missing and we may install packages
	@bash scripts/install-hyphy.sh

run: install hyphy  ## Start the service on the embedded LocalScheduler (http://127.0.0.1:$(PORT)/api/v1)
	$(PY) -m service

test: install hyphy  ## The whole suite: unit, contract and integration (real HyPhy)
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit tests/contract

test-integration: install hyphy
	$(PY) -m pytest -q tests/integration

bench: install hyphy  ## Benchmarks print measured ratios (see README)
	$(PY) benchmarks/tracker_scale.py
	$(PY) benchmarks/e2e_overhead.py

clean:
	rm -rf $(VENV) data .pytest_cache *.egg-info
