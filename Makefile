# Everyday entry points. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: system install run dev test test-unit test-integration bench clean

system:  ## Debian packages (HyPhy, python3-venv) when missing
	@bash scripts/bootstrap.sh

$(PY): | system
	python3 -m venv $(VENV)

install: $(STAMP)  ## Python dependencies into .venv (editable install of the service)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

run: system install  ## Start the service on the embedded LocalScheduler (http://127.0.0.1:9300/api/v1 unless .env says otherwise)
	$(PY) -m service

dev: system install  ## Local Slurm cluster (scripts/local-slurm.sh) + the service on it via slurmrestd
	bash scripts/local-slurm.sh start
	set -a && eval "$$(bash scripts/local-slurm.sh env)" && set +a && $(PY) -m service

test: system install  ## The whole suite: unit, contract and integration (real HyPhy)
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit tests/contract

test-integration: system install
	$(PY) -m pytest -q tests/integration

bench: system install  ## Benchmarks print measured ratios (see README)
	$(PY) benchmarks/tracker_scale.py
	$(PY) benchmarks/e2e_overhead.py

clean:
	rm -rf $(VENV) data .pytest_cache *.egg-info
