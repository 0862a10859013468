#!/usr/bin/env bash
# Bring a stack up the way a user does, run the README's curl example against it verbatim
# (tests/stack: FEL through Slurm, result equal to a bare HyPhy run), then take it down.
#   dev      `make dev`: the local Slurm cluster + the service, run in the background here
#   compose  `make start` / `make stop`: the docker compose stack (two compute nodes)
# Used by .ci/run; safe to run by hand (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${SERVICE_DATAMONKEY_PORT:-$(sed -n 's/^SERVICE_DATAMONKEY_PORT=//p' .env 2>/dev/null | tail -n1 | grep . || echo 9300)}
api=http://127.0.0.1:$port/api/v1

run_readme_example() {
    make test-stack STACK_URL="$api" STACK_SCHEDULER=SlurmRestScheduler
}

case ${1:-} in
dev)
    log=$(mktemp /tmp/datamonkey-dev.XXXXXX.log)
    # its own process group, so the service make starts is stopped with it
    setsid make dev >"$log" 2>&1 &
    dev_pid=$!
    trap 'kill -TERM -- -$dev_pid 2>/dev/null || true; wait $dev_pid 2>/dev/null || true' EXIT
    deadline=$((SECONDS + 600))
    until curl -sf "$api/health" >/dev/null; do
        if ! kill -0 "$dev_pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "check-stack: make dev did not become healthy; its log:" >&2
            tail -n 50 "$log" >&2
            exit 1
        fi
        sleep 1
    done
    run_readme_example
    ;;
compose)
    trap 'make stop' EXIT
    make start
    run_readme_example
    ;;
*)
    echo "usage: $0 dev|compose" >&2
    exit 2
    ;;
esac
