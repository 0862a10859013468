#!/usr/bin/env bash
# Entry point of the Slurm containers (docker/slurm.Dockerfile), configured from the environment.
#
#   controller   first start: creates the munge key and the JWT key on their shared volumes; every
#                start: writes slurm.conf (and cgroup.conf where the release needs one) on the
#                shared config volume; then runs munged, slurmctld and slurmrestd (every REST API
#                version the installed release serves, on 0.0.0.0:SLURM_REST_PORT, jwt auth)
#   compute      copies the munge key, waits for slurm.conf, runs munged and slurmd
#   health       the container's health check (controller: an authenticated slurmrestd ping on the
#                newest REST API version; compute: this node is up in slurmctld's view)
#
# The Slurm release (22.05 bookworm, 24.11 trixie, 26.05 forky) is read from the installed
# binaries (slurm_release). slurm.conf and cgroup.conf come from scripts/lib/slurm-conf.sh, shared
# with scripts/local-slurm.sh; as there, slurmrestd runs as an unprivileged user (not root, not
# SlurmUser) with SLURM_JWT=daemon, `-a rest_auth/jwt` and the OpenAPI plugins of
# slurmrestd_plugins (22.05: openapi/v0.0.38,openapi/v0.0.37; 23.02+: openapi/slurmctld with every
# data_parser installed; the slurmdbd plugins are left out: no slurmdbd). The daemons run in the
# foreground (-D) under this script; it exits (and the container stops) when any of them exits,
# and stops them all on SIGTERM.
set -euo pipefail

CONF_DIR=/etc/slurm
KEYS=${SLURM_KEYS_DIR:-/keys}
MUNGE_KEY=$KEYS/munge/munge.key
JWT_KEY=${SLURM_JWT_KEY_PATH:-$KEYS/jwt/jwt_hs256.key}
JOB_USER=${SLURM_JWT_USERNAME:-${JOB_USER:-datamonkey}}
PARTITION=${SLURM_QUEUE_NAME:-debug}
REST_PORT=${SLURM_REST_PORT:-6820}
CTLD_HOST=${SLURM_CTLD_HOST:-slurmctld}
# name:address pairs: fixed addresses, so slurmctld never waits on DNS for a node not yet started
# (Docker's DNS on an internal network takes 20 s to fail a lookup, and slurmctld retries 10 times).
NODES=${SLURM_COMPUTE_NODES:-c1:172.31.250.11,c2:172.31.250.12}
CTLD_ADDR=${SLURM_CTLD_ADDR:-}
STATE_DIR=/var/lib/slurm

# shellcheck source=../scripts/lib/slurm-conf.sh
source /usr/local/lib/datamonkey/slurm-conf.sh

RELEASE=$(slurm_release) || RELEASE=""

log() { printf 'slurm-entrypoint[%s]: %s\n' "$(hostname)" "$*" >&2; }

start_munge() {
    for _ in $(seq 60); do [[ -s $MUNGE_KEY ]] && break; sleep 1; done
    [[ -s $MUNGE_KEY ]] || { log "no munge key at $MUNGE_KEY"; exit 1; }
    mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
    install -o munge -g munge -m 400 "$MUNGE_KEY" /etc/munge/munge.key
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --foreground &
    for _ in $(seq 50); do [[ -S /run/munge/munge.socket.2 ]] && return; sleep 0.1; done
    log "munged did not start"; exit 1
}

make_keys() {  # once per key volume; later starts keep the keys (and so the users' tokens)
    mkdir -p "$(dirname "$MUNGE_KEY")" "$(dirname "$JWT_KEY")"
    if [[ ! -s $MUNGE_KEY ]]; then
        head -c 1024 /dev/urandom >"$MUNGE_KEY.tmp" && mv "$MUNGE_KEY.tmp" "$MUNGE_KEY"
        log "created the munge key"
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 400 "$MUNGE_KEY"
    if [[ ! -s $JWT_KEY ]]; then
        head -c 32 /dev/urandom >"$JWT_KEY.tmp" && mv "$JWT_KEY.tmp" "$JWT_KEY"
        log "created the JWT key"
    fi
    # slurmctld reads it as slurm; the service (running as the job user) signs its tokens with it.
    chown "slurm:$JOB_USER" "$JWT_KEY"
    chmod 640 "$JWT_KEY"
}

write_config() {
    local cpus memory
    cpus=${SLURM_NODE_CPUS:-$(nproc)}
    memory=${SLURM_NODE_MEMORY_MB:-$(slurm_default_memory_mb)}
    mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" /var/log/slurm
    chown slurm:slurm "$STATE_DIR" "$STATE_DIR/ctld" /var/log/slurm
    {
        echo "# Written by docker/slurm-entrypoint.sh (controller) at every start, from the environment."
        slurm_conf "${SLURM_CLUSTER_NAME:-datamonkey}" "$CTLD_HOST${CTLD_ADDR:+($CTLD_ADDR)}" "$STATE_DIR" /run \
            "$JWT_KEY" "$PARTITION" "$cpus" "$memory" ${NODES//,/ }
    } >"$CONF_DIR/slurm.conf.tmp"
    local cgroup
    cgroup=$(slurm_cgroup_conf "$RELEASE")
    if [[ -n $cgroup ]]; then
        printf '# Written by docker/slurm-entrypoint.sh (controller) for Slurm %s.\n%s\n' "$RELEASE" "$cgroup" \
            >"$CONF_DIR/cgroup.conf.tmp"
        mv "$CONF_DIR/cgroup.conf.tmp" "$CONF_DIR/cgroup.conf"
    else
        rm -f "$CONF_DIR/cgroup.conf"
    fi
    mv "$CONF_DIR/slurm.conf.tmp" "$CONF_DIR/slurm.conf"
}

rest_ping() {  # an authenticated ping through slurmrestd with a short-lived token from slurmctld
    local token
    token=$(scontrol token username="$JOB_USER" lifespan=60 2>/dev/null | sed -n 's/^SLURM_JWT=//p') || return 1
    [[ -n $token ]] || return 1
    curl -fsS -o /dev/null -H "X-SLURM-USER-NAME: $JOB_USER" -H "X-SLURM-USER-TOKEN: $token" \
        "http://127.0.0.1:$REST_PORT/slurm/$(slurmrestd_newest_version "$RELEASE")/ping"
}

supervise() {  # wait for the first daemon to exit, then stop the others and exit with its code
    trap 'log "stopping"; kill $(jobs -p) 2>/dev/null; wait; exit 0' TERM INT
    local code=0
    wait -n || code=$?
    log "a daemon exited (code $code); stopping the others"
    kill $(jobs -p) 2>/dev/null || true
    wait || true
    exit "$code"
}

case ${1:-} in
controller)
    id "$JOB_USER" >/dev/null 2>&1 || { log "job user $JOB_USER does not exist in this image (build arg JOB_USER)"; exit 1; }
    make_keys
    write_config
    start_munge
    /usr/sbin/slurmctld -D -f "$CONF_DIR/slurm.conf" &
    # cwd "/": a job without a working directory inherits slurmrestd's. Its unshare() sandboxing
    # needs CAP_SYS_ADMIN, which a container does not have (and it already has its own IPC and
    # file-table isolation), so it is turned off; -u/-g still drop root.
    (cd / && SLURM_JWT=daemon SLURM_CONF="$CONF_DIR/slurm.conf" \
        SLURMRESTD_SECURITY=disable_unshare_sysv,disable_unshare_files exec /usr/sbin/slurmrestd \
        -a rest_auth/jwt -u slurmrest -g slurmrest -s "$(slurmrestd_plugins "$RELEASE")" "0.0.0.0:$REST_PORT") &
    log "started munged, slurmctld, slurmrestd (Slurm $RELEASE, port $REST_PORT); nodes $NODES, partition $PARTITION"
    supervise
    ;;
compute)
    id "$JOB_USER" >/dev/null 2>&1 || { log "job user $JOB_USER does not exist in this image (build arg JOB_USER)"; exit 1; }
    for _ in $(seq 60); do [[ -s $CONF_DIR/slurm.conf ]] && break; sleep 1; done
    mkdir -p "$STATE_DIR/spool" /var/log/slurm
    # The shared job volume: the service (running as the job user) creates job directories in it.
    if [[ -n ${JOB_WORK_LOCATION:-} ]]; then
        mkdir -p "$JOB_WORK_LOCATION"
        chown "$JOB_USER:$JOB_USER" "$JOB_WORK_LOCATION"
        # this image's HyPhy capabilities (collected at build) for the service's method registry
        sh /usr/local/bin/hyphy-capabilities.sh --copy /usr/local/share/datamonkey/hyphy-capabilities \
            "$JOB_WORK_LOCATION/.hyphy"
    fi
    start_munge
    /usr/sbin/slurmd -D -f "$CONF_DIR/slurm.conf" -N "$(hostname -s)" &
    log "started munged, slurmd"
    supervise
    ;;
health)
    if [[ -x /usr/sbin/slurmctld ]]; then
        rest_ping
    else
        state=$(sinfo -h -n "$(hostname -s)" -o %T 2>/dev/null)
        [[ $state =~ ^(idle|mixed|allocated|completing) ]] || { echo "node state: ${state:-unknown}"; exit 1; }
    fi
    ;;
*)
    exec "$@"
    ;;
esac
