#!/usr/bin/env bash
# A real single-node Slurm 22.05 cluster on loopback with auth/jwt, owned by this project.
#
#   scripts/local-slurm.sh start    install (Debian packages) if needed, configure, start; idempotent
#   scripts/local-slurm.sh stop     stop the daemons by their pid files (never by name matching)
#   scripts/local-slurm.sh status   which daemons run; exit 0 only when slurmrestd answers
#   scripts/local-slurm.sh env      the service settings for this cluster, as KEY=value lines
#
# Runs as root without systemd. Jobs run as the unix user SLURM_JWT_USERNAME (created if missing).
# slurmrestd serves REST API v0.0.38 and v0.0.37 on 127.0.0.1:SLURM_REST_PORT; the JWT key is a
# 32-byte random file owned by slurm, mode 600 (the service signs its tokens with it).
set -euo pipefail
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/slurm-conf.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

STATE_DIR=${SLURM_LOCAL_DIR:-/var/lib/datamonkey-slurm}
RUN_DIR=${SLURM_LOCAL_RUN_DIR:-/run/datamonkey-slurm}
CONF_DIR=/etc/slurm
JWT_KEY=${SLURM_JWT_KEY_PATH:-$STATE_DIR/jwt_hs256.key}
JOB_USER=${SLURM_JWT_USERNAME:-datamonkey}
REST_USER=slurmrest
REST_PORT=${SLURM_REST_PORT:-6820}
PARTITION=${SLURM_QUEUE_NAME:-debug}
NODE=$(hostname -s)
PACKAGES=(slurmctld slurmd slurmrestd slurm-client slurm-wlm-jwt-plugin munge)

log() { printf 'local-slurm: %s\n' "$*" >&2; }


ensure_users() {
    id "$JOB_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$JOB_USER"
    id "$REST_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$REST_USER"
}

write_config() {
    mkdir -p "$STATE_DIR"/{ctld,spool} "$RUN_DIR" "$CONF_DIR" /var/log/slurm
    chown slurm:slurm "$STATE_DIR" "$STATE_DIR/ctld" /var/log/slurm
    # `make dev`'s job directories: reachable by the job user wherever the repository lives
    # (a clone under /root is not), and the same path for the service and the (only) node.
    install -d -m 755 "$STATE_DIR/jobs"
    chmod 755 "$STATE_DIR"
    if [[ ! -s $JWT_KEY ]]; then
        mkdir -p "$(dirname "$JWT_KEY")"
        head -c 32 /dev/urandom >"$JWT_KEY"
    fi
    chown slurm:slurm "$JWT_KEY"
    chmod 600 "$JWT_KEY"
    {
        echo "# Written by scripts/local-slurm.sh: single node on loopback, auth/munge + auth/jwt."
        slurm_conf datamonkey "$NODE(127.0.0.1)" "$STATE_DIR" "$RUN_DIR" "$JWT_KEY" "$PARTITION" "$(nproc)" \
            "$(slurm_default_memory_mb)" "$NODE:127.0.0.1"
    } >"$CONF_DIR/slurm.conf"
}

start_munge() {
    mkdir -p /run/munge /etc/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        head -c 1024 /dev/urandom >/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    pid_alive /run/munge/munged.pid && return
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
}

start_daemons() {
    if ! pid_alive "$RUN_DIR/slurmctld.pid"; then
        /usr/sbin/slurmctld -f "$CONF_DIR/slurm.conf"
    fi
    if ! pid_alive "$RUN_DIR/slurmd.pid"; then
        /usr/sbin/slurmd -f "$CONF_DIR/slurm.conf"
    fi
    if ! pid_alive "$RUN_DIR/slurmrestd.pid"; then
        # cwd "/": a job without a working directory inherits slurmrestd's. `cmd &` execs the
        # daemon itself, so $! is its pid; its output goes to a log, not to our caller's pipe.
        pushd / >/dev/null
        SLURM_JWT=daemon SLURM_CONF="$CONF_DIR/slurm.conf" /usr/sbin/slurmrestd \
            -a rest_auth/jwt -u "$REST_USER" -g "$REST_USER" -s openapi/v0.0.38,openapi/v0.0.37 \
            "127.0.0.1:$REST_PORT" >>/var/log/slurm/slurmrestd.log 2>&1 </dev/null &
        echo $! >"$RUN_DIR/slurmrestd.pid"
        popd >/dev/null
    fi
}

rest_ping() {  # one authenticated ping through slurmrestd, with a short-lived token from slurmctld
    local token
    token=$(scontrol token username="$JOB_USER" lifespan=60 2>/dev/null | sed -n 's/^SLURM_JWT=//p') || return 1
    [[ -n $token ]] || return 1
    curl -fsS -o /dev/null -H "X-SLURM-USER-NAME: $JOB_USER" -H "X-SLURM-USER-TOKEN: $token" \
        "http://127.0.0.1:$REST_PORT/slurm/v0.0.38/ping"
}

wait_ready() {
    local deadline=$((SECONDS + 60))
    until rest_ping 2>/dev/null; do
        if ((SECONDS > deadline)); then
            log "cluster did not become ready in 60 s; logs in /var/log/slurm"
            tail -n 20 /var/log/slurm/*.log >&2 || true
            return 1
        fi
        sleep 1
    done
    # A node left DOWN by an unclean stop would keep every job pending.
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    log "ready: slurmrestd on http://127.0.0.1:$REST_PORT (v0.0.38, v0.0.37), partition $PARTITION, jobs run as $JOB_USER"
}


case ${1:-} in
start)
    [[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
    # shellcheck disable=SC2046  # one package name per word
    apt_install $(missing_packages "${PACKAGES[@]}")
    ensure_users
    write_config
    start_munge
    start_daemons
    wait_ready
    ;;
stop)
    stop_pidfile "$RUN_DIR/slurmrestd.pid" slurmrestd
    stop_pidfile "$RUN_DIR/slurmd.pid" slurmd
    stop_pidfile "$RUN_DIR/slurmctld.pid" slurmctld
    stop_pidfile /run/munge/munged.pid munged
    ;;
status)
    for daemon in munged:/run/munge/munged.pid slurmctld:$RUN_DIR/slurmctld.pid \
        slurmd:$RUN_DIR/slurmd.pid slurmrestd:$RUN_DIR/slurmrestd.pid; do
        if pid_alive "${daemon#*:}"; then echo "${daemon%%:*}: running"; else echo "${daemon%%:*}: stopped"; fi
    done
    rest_ping && echo "slurmrestd: answering on 127.0.0.1:$REST_PORT"
    ;;
env)
    cat <<EOF
SCHEDULER_TYPE=SlurmRestScheduler
SLURM_REST_URL=http://127.0.0.1:$REST_PORT
SLURM_REST_API_PATH=/slurm/v0.0.38
SLURM_QUEUE_NAME=$PARTITION
SLURM_JWT_KEY_PATH=$JWT_KEY
SLURM_JWT_USERNAME=$JOB_USER
JOB_WORK_LOCATION=$STATE_DIR/jobs
EOF
    ;;
*)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
