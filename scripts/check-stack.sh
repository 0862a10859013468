#!/usr/bin/env bash
# Bring a stack up the way a user does, run the README's curl example against it verbatim
# (tests/stack: FEL through Slurm, result equal to a bare HyPhy run), then take it down.
#   run      `make run` as a newcomer runs it: a fresh clone of this repository's HEAD, no .env and
#            no environment but PATH and HOME (the embedded LocalScheduler, default relative stores)
#   dev      `make dev`: the local Slurm cluster + the service, run in the background here
#   compose  `make start` / `make stop`: the docker compose stack (two compute nodes), its Slurm
#            images from the Debian suite SLURM_SUITE (environment, else .env, else bookworm)
# Used by .ci/run; safe to run by hand (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${SERVICE_DATAMONKEY_PORT:-$(sed -n 's/^SERVICE_DATAMONKEY_PORT=//p' .env 2>/dev/null | tail -n1 | grep . || echo 9300)}
api=http://127.0.0.1:$port/api/v1

run_readme_example() {  # SCHEDULER [NODE]
    make test-stack STACK_URL="$api" STACK_SCHEDULER="$1" STACK_NODE="${2:-}"
}

# serve_in_background DIR COMMAND...: run COMMAND in DIR in its own process group (so the service
# make starts is stopped with it, on exit) and wait until /health answers.
serve_in_background() {
    local dir=$1
    shift
    log=$(mktemp /tmp/datamonkey-stack.XXXXXX.log)
    (cd "$dir" && exec setsid "$@") >"$log" 2>&1 &
    serve_pid=$!
    trap 'kill -TERM -- -$serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true; cleanup' EXIT
    local deadline=$((SECONDS + 600))
    until curl -sf "$api/health" >/dev/null; do
        if ! kill -0 "$serve_pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "check-stack: '$*' did not become healthy; its log:" >&2
            tail -n 50 "$log" >&2
            exit 1
        fi
        sleep 1
    done
}
cleanup() { :; }

case ${1:-} in
run)
    api=http://127.0.0.1:9300/api/v1  # the clone has no .env: the default port
    if curl -sf "$api/health" >/dev/null; then
        echo "check-stack: something already serves $api; stop it first" >&2
        exit 1
    fi
    clone=$(mktemp -d /tmp/datamonkey-newcomer.XXXXXX)
    cleanup() { rm -rf "$clone"; }
    git clone -q "$PWD" "$clone"
    serve_in_background "$clone" env -i PATH="$PATH" HOME="$HOME" make run
    run_readme_example LocalScheduler
    ;;
dev)
    serve_in_background "$PWD" make dev
    run_readme_example SlurmRestScheduler
    ;;
compose)
    suite=${SLURM_SUITE:-$(sed -n 's/^SLURM_SUITE=//p' .env 2>/dev/null | tail -n1 | grep . || echo bookworm)}
    echo "check-stack: compose stack, Slurm images from Debian $suite (SLURM_SUITE)"
    trap 'make stop SLURM_SUITE="$suite"' EXIT
    make start SLURM_SUITE="$suite"
    project=$([[ $suite == bookworm ]] && echo datamonkey || echo "datamonkey-$suite")
    run_readme_example SlurmRestScheduler "${project}_c1_1"  # FEL compared with a direct run on c1
    ;;
*)
    echo "usage: $0 run|dev|compose" >&2
    exit 2
    ;;
esac
