#!/usr/bin/env bash
# Docker's engine for the compose stack, on a machine without systemd.
#
#   scripts/docker-engine.sh start    install docker.io + docker-compose + debootstrap (Debian) if
#                                     missing, start dockerd in the background with a pid file and
#                                     wait until `docker info` answers; idempotent
#   scripts/docker-engine.sh stop     stop the dockerd this script started, by its pid file
#   scripts/docker-engine.sh status   exit 0 when the engine answers
#
# Runs as root. dockerd's log: /var/log/dockerd.log. An engine already answering (started some
# other way) is used as it is and never stopped by this script.
set -euo pipefail
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
# shellcheck source=lib/pidfile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

PID_FILE=${DOCKERD_PID_FILE:-/run/datamonkey-dockerd.pid}
LOG_FILE=${DOCKERD_LOG_FILE:-/var/log/dockerd.log}
PACKAGES=(docker.io docker-compose debootstrap)

log() { printf 'docker-engine: %s\n' "$*" >&2; }


case ${1:-} in
start)
    [[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
    # shellcheck disable=SC2046  # one package name per word
    apt_install $(missing_packages "${PACKAGES[@]}")
    if docker info >/dev/null 2>&1; then
        log "engine already answering"
        exit 0
    fi
    if ! pid_alive "$PID_FILE"; then
        # `cmd &` execs dockerd itself, so $! is its pid (dockerd also keeps its own /var/run/docker.pid).
        dockerd >>"$LOG_FILE" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
    fi
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && { log "engine ready (pid $(cat "$PID_FILE"))"; exit 0; }
        pid_alive "$PID_FILE" || break
        sleep 0.5
    done
    log "dockerd did not answer; last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 || true
    exit 1
    ;;
stop)
    stop_pidfile "$PID_FILE" dockerd 20
    ;;
status)
    docker info >/dev/null 2>&1 && echo "docker engine: answering" || { echo "docker engine: not answering"; exit 1; }
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
