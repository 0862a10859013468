#!/usr/bin/env bash
# Record the running compose stack's real slurmrestd answers as unit-test fixtures.
#
#   scripts/capture-slurm-fixtures.sh SUITE        # bookworm | trixie | forky
#
# Needs the stack of SUITE up (`SLURM_SUITE=SUITE make start`) and the project's .venv (requests,
# pyjwt). For every REST API version that stack serves and the service has an adapter for, the
# helper (capture-slurm-fixtures.py, beside this script) sends what the service sends and writes each
# request with its answer to tests/fixtures/slurmrestd/<release>/<version>/*.json, and GET /openapi/v3
# (trimmed) to tests/fixtures/slurmrestd/<release>/openapi.json. It submits short jobs named
# fixture-SUITE-vNNNN-* (sleep/exit, as the datamonkey user, partition debug) and cancels every one
# it submitted before it ends. Rerunnable: it overwrites its own files. OUT_ROOT overrides the
# fixture root.
set -euo pipefail

suite=${1:-}
[[ $suite =~ ^[a-z]+$ ]] || { echo "usage: $0 SUITE   (bookworm, trixie or forky)" >&2; exit 2; }
cd "$(dirname "$0")/.."
project=$([[ $suite == bookworm ]] && echo datamonkey || echo "datamonkey-$suite")
ctld=${CTLD_CONTAINER:-${project}_slurmctld_1}
out=${OUT_ROOT:-tests/fixtures/slurmrestd}
python=${PYTHON:-.venv/bin/python}

[[ -x $python ]] || { echo "no $python: run 'make install' first" >&2; exit 1; }
state=$(docker inspect -f '{{.State.Health.Status}}' "$ctld" 2>/dev/null) \
    || { echo "$ctld is not running: start the stack with 'SLURM_SUITE=$suite make start'" >&2; exit 1; }
[[ $state == healthy ]] || { echo "$ctld is $state, not healthy yet" >&2; exit 1; }

exec "$python" scripts/capture-slurm-fixtures.py "$suite" "$ctld" "$out"
