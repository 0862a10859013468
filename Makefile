# Everyday entry points. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: system install run dev images start stop test test-unit test-integration test-browser test-stack bench bench-slurm postman clean

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

# The compose stack (docker-compose.yml): service + slurmctld/slurmrestd + two slurmd compute nodes.
# SLURM_SUITE (environment, else .env, else bookworm) picks the Debian suite of the Slurm images:
# bookworm = Slurm 22.05, trixie = 24.11, forky = 26.05. Each suite is its own compose project
# (datamonkey for bookworm, as before; datamonkey-SUITE otherwise), so its volumes (slurmctld's
# state, keys, job records) are never read by another Slurm release, and kept across stop/start.
SLURM_SUITE ?= $(or $(shell sed -n 's/^SLURM_SUITE=//p' .env 2>/dev/null | tail -n1),bookworm)
COMPOSE_PROJECT ?= $(if $(filter bookworm,$(SLURM_SUITE)),datamonkey,datamonkey-$(SLURM_SUITE))
COMPOSE ?= SLURM_SUITE=$(SLURM_SUITE) docker-compose -p $(COMPOSE_PROJECT)
START_TIMEOUT ?= 300
# The compose projects of every suite's stack that has containers (running or not).
STACK_PROJECTS = docker ps -a --filter label=com.docker.compose.project --format '{{.Label "com.docker.compose.project"}}' \
	| sort -u | grep -E '^datamonkey(-[a-z]+)?$$' || true

images:  ## Docker engine + local base images + the compose stack's images for SLURM_SUITE (cached per suite)
	@[[ "$(SLURM_SUITE)" =~ ^[a-z]+$$ ]] || { echo "SLURM_SUITE: bad suite '$(SLURM_SUITE)'"; exit 2; }
	bash scripts/docker-engine.sh start
	bash scripts/base-image.sh bookworm
	bash scripts/base-image.sh $(SLURM_SUITE)
	bash scripts/docker-build-context.sh docker/.build
	$(COMPOSE) build -q

start: images  ## The compose stack for SLURM_SUITE, built and up; waits until the service is healthy
	@# one stack at a time: the stacks share the service port and the cluster subnet
	@for project in $$($(STACK_PROJECTS)); do \
		[[ $$project == $(COMPOSE_PROJECT) ]] || { echo "stopping the $$project stack"; SLURM_SUITE=$(SLURM_SUITE) docker-compose -p $$project down; }; \
	done
	$(COMPOSE) up -d --build
	@cid=$$($(COMPOSE) ps -q service); deadline=$$((SECONDS + $(START_TIMEOUT))); \
	until [[ "$$(docker inspect -f '{{.State.Health.Status}}' $$cid 2>/dev/null)" == healthy ]]; do \
		if ((SECONDS > deadline)); then echo "service not healthy after $(START_TIMEOUT) s"; $(COMPOSE) ps; $(COMPOSE) logs --tail=30; exit 1; fi; \
		sleep 1; \
	done; \
	echo "stack up (Slurm images from Debian $(SLURM_SUITE), project $(COMPOSE_PROJECT)): http://127.0.0.1:$${SERVICE_DATAMONKEY_PORT:-$$(sed -n 's/^SERVICE_DATAMONKEY_PORT=//p' .env 2>/dev/null | tail -n1 | grep . || echo 9300)}/api/v1"

stop:  ## Stop and remove the containers of every suite's compose stack (volumes are kept; `$(COMPOSE) down -v` drops SLURM_SUITE's)
	$(COMPOSE) down
	@for project in $$($(STACK_PROJECTS)); do \
		echo "stopping the $$project stack"; SLURM_SUITE=$(SLURM_SUITE) docker-compose -p $$project down; \
	done

test: system install  ## The whole suite: unit, contract and integration (real HyPhy)
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit tests/contract

test-integration: system install
	$(PY) -m pytest -q tests/integration

test-browser: system install  ## Headless Chromium: Swagger UI + a FEL job's report page (screenshots in artifacts/browser/)
	bash scripts/browser-deps.sh
	$(PY) -m pytest -q tests/browser

STACK_URL ?= http://127.0.0.1:9300/api/v1
STACK_SCHEDULER ?=
# a compose stack's compute-node container: the direct HyPhy run and the /health, /methods checks use it
STACK_NODE ?=
test-stack: install  ## The README's curl example, verbatim, against a running stack (STACK_URL); see scripts/check-stack.sh
	DATAMONKEY_STACK_URL=$(STACK_URL) DATAMONKEY_STACK_SCHEDULER=$(STACK_SCHEDULER) DATAMONKEY_STACK_NODE=$(STACK_NODE) \
		$(PY) -m pytest -q tests/stack

bench: system install  ## Benchmarks print measured ratios (see README)
	$(PY) benchmarks/tracker_scale.py
	$(PY) benchmarks/list_scale.py
	$(PY) benchmarks/e2e_overhead.py
	$(PY) benchmarks/pty_overhead.py

bench-slurm: system install  ## Slurm benchmarks against the local cluster (see README)
	bash scripts/local-slurm.sh start
	$(PY) benchmarks/poll_fanin.py
	$(PY) benchmarks/submit_throughput.py

.PHONY: spec
spec:  ## Regenerate openapi.yaml (openapi.base.yaml + the method registry), then postman/; tests/contract checks both are fresh
	$(PY) -m service.methods.spec
	$(PY) scripts/postman.py

postman:  ## Regenerate postman/ (collection + environment) from openapi.yaml; tests/contract checks it is fresh
	$(PY) scripts/postman.py

clean:
	rm -rf $(VENV) data .pytest_cache *.egg-info
