#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback with auth/jwt, owned by this project.
#
#   scripts/local-slurm.sh start    install (Debian packages) if needed, configure, start; idempotent
#   scripts/local-slurm.sh stop     stop the daemons by their pid files (never by name matching)
#   scripts/local-slurm.sh status   which daemons run; exit 0 only when slurmrestd answers
#   scripts/local-slurm.sh env      the service settings for this cluster, as KEY=value lines
#
# SLURM_SUITE picks the Debian suite whose Slurm runs: the machine's own (bookworm: Slurm 22.05,
# the default), or another one (trixie: 24.11, forky: 26.05), whose daemons then run in a chroot
# of that suite (prepared once under SLURM_ROOTS_DIR/SUITE: `docker export` of the local
# datamonkey/base:SUITE image, else debootstrap from this machine's mirror, plus the Slurm packages
# and HyPhy). A chroot shares this machine's network and pids, so slurmrestd answers on the same
# 127.0.0.1:SLURM_REST_PORT and the pid files hold pids of this machine; the state and run
# directories, /tmp, the repository, /proc, /dev and /sys are bind-mounted at the same paths, and
# the job user has the same uid/gid inside. Without SLURM_SUITE, `start`, `stop`, `status` and
# `env` act on the suite that runs (recorded in the run directory), else on the machine's own;
# starting another suite stops the running one first. A state directory left by another Slurm
# release has its controller and node state dropped (the JWT key and the job directories stay).
#
# Runs as root without systemd. Jobs run as the unix user SLURM_JWT_USERNAME (created if missing).
# slurmrestd serves that release's REST API versions (22.05: v0.0.38 and v0.0.37; 24.11:
# v0.0.40-v0.0.42; 26.05: v0.0.42-v0.0.45) on 127.0.0.1:SLURM_REST_PORT; the JWT key is a 32-byte
# random file owned by slurm, mode 600 (the service signs its tokens with it). At every start the
# node's HyPhy capabilities are published in JOB_WORK_LOCATION/.hyphy (scripts/hyphy-capabilities.sh).
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
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
ROOTS=${SLURM_ROOTS_DIR:-/var/lib/datamonkey-slurm-roots}
# A foreign suite's chroot gets these too: HyPhy for the jobs, curl for the readiness ping.
ROOT_PACKAGES=("${PACKAGES[@]}" hyphy-pt curl)

log() { printf 'local-slurm: %s\n' "$*" >&2; }

# The suite whose cluster runs now (recorded at start in the run directory; a cluster started
# before suites were recorded is the machine's own), or nothing.
running_suite() {
    if [[ -s $RUN_DIR/suite ]]; then cat "$RUN_DIR/suite"; return; fi
    local file
    for file in "$RUN_DIR"/{slurmctld,slurmd,slurmrestd}.pid /run/munge/munged.pid; do
        pid_alive "$file" && { echo "$HOST_SUITE"; return; }
    done
    return 0
}

SUITE=${SLURM_SUITE:-$(running_suite)}
SUITE=${SUITE:-$HOST_SUITE}
[[ $SUITE =~ ^[a-z]+$ ]] || { log "bad SLURM_SUITE '$SUITE'"; exit 2; }
ROOT=$ROOTS/$SUITE
# munged's pid file as this machine sees it (a foreign suite's munged runs in its chroot)
munge_pidfile() { if [[ $1 == "$HOST_SUITE" ]]; then echo /run/munge/munged.pid; else echo "$ROOTS/$1/run/munge/munged.pid"; fi; }

ensure_users() {
    id "$JOB_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$JOB_USER"
    id "$REST_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$REST_USER"
}

# The state directory belongs to one Slurm release: controller and node state of another one
# (e.g. 22.05's after 26.05 ran) is dropped; the JWT key and the job directories stay.
claim_state() {
    local mine="$HOST_SUITE $RELEASE" recorded=""
    [[ -s $STATE_DIR/suite ]] && recorded=$(cat "$STATE_DIR/suite")
    if [[ $recorded != "$mine" ]]; then
        if [[ -n $recorded || -n $(ls -A "$STATE_DIR/ctld" "$STATE_DIR/spool" 2>/dev/null) ]]; then
            log "state in $STATE_DIR was written by ${recorded:-an unrecorded release}: dropping its controller and node state"
        fi
        rm -rf "${STATE_DIR:?}/ctld" "${STATE_DIR:?}/spool"
        mkdir -p "$STATE_DIR"
        echo "$mine" >"$STATE_DIR/suite"
    fi
}

write_config() {
    mkdir -p "$STATE_DIR" "$RUN_DIR" "$CONF_DIR" /var/log/slurm
    claim_state
    mkdir -p "$STATE_DIR"/{ctld,spool}
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
    local cgroup
    cgroup=$(slurm_cgroup_conf "$RELEASE")
    if [[ -n $cgroup ]]; then
        printf '# Written by scripts/local-slurm.sh for Slurm %s.\n%s\n' "$RELEASE" "$cgroup" >"$CONF_DIR/cgroup.conf"
    else
        rm -f "$CONF_DIR/cgroup.conf"
    fi
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
            -a rest_auth/jwt -u "$REST_USER" -g "$REST_USER" -s "$(slurmrestd_plugins "$RELEASE")" \
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
        "http://127.0.0.1:$REST_PORT/slurm/$API_VERSION/ping"
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
    log "ready: Slurm $RELEASE ($HOST_SUITE), slurmrestd on http://127.0.0.1:$REST_PORT (newest REST API $API_VERSION), partition $PARTITION, jobs run as $JOB_USER"
}

# This node's HyPhy, for the service's method registry (JOB_WORK_LOCATION/.hyphy); collected
# again only when the published set is not from this binary and version.
publish_hyphy() {
    local binary=/usr/lib/hyphy/bin/hyphy out=$STATE_DIR/jobs/.hyphy version
    [[ -x $binary ]] || { log "no HyPhy at $binary: capabilities not published"; return 0; }
    version=$("$binary" --version </dev/null 2>/dev/null) || version=""
    if [[ -n $version && -f $out/info && $(cat "$out/version" 2>/dev/null) == "$version" ]] \
        && grep -qx "binary=$binary" "$out/info"; then
        return 0
    fi
    sh "$REPO/scripts/hyphy-capabilities.sh" "$out" "$binary" || log "publishing HyPhy's capabilities failed"
}

# -- the machine's own suite (also what runs inside a foreign suite's chroot) ---------------------
native() {
    case $1 in
    start)
        [[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
        # shellcheck disable=SC2046  # one package name per word
        apt_install $(missing_packages "${PACKAGES[@]}")
        RELEASE=$(slurm_release) || { log "no Slurm release found"; exit 1; }
        API_VERSION=$(slurmrestd_newest_version "$RELEASE")
        ensure_users
        write_config
        echo "$HOST_SUITE" >"$RUN_DIR/suite"
        start_munge
        start_daemons
        wait_ready
        publish_hyphy
        ;;
    status)
        RELEASE=$(slurm_release) || RELEASE=""
        API_VERSION=$(slurmrestd_newest_version "$RELEASE")
        for daemon in munged:/run/munge/munged.pid slurmctld:$RUN_DIR/slurmctld.pid \
            slurmd:$RUN_DIR/slurmd.pid slurmrestd:$RUN_DIR/slurmrestd.pid; do
            if pid_alive "${daemon#*:}"; then echo "${daemon%%:*}: running"; else echo "${daemon%%:*}: stopped"; fi
        done
        rest_ping && echo "slurmrestd: answering on 127.0.0.1:$REST_PORT (Slurm $RELEASE, $HOST_SUITE, REST API $API_VERSION)"
        ;;
    esac
}

# -- another suite, in a chroot ------------------------------------------------------------------
# Directories shared with the chroot, at the same paths: the service writes job directories on
# this machine (the state directory's jobs/, and the live tests' /tmp/dm-slurm-live-*), the tests
# signal the daemons through the pid files, and the script itself runs inside from the repository.
shared_dirs() {
    printf '%s\n' "$STATE_DIR" "$RUN_DIR" /tmp "$REPO"
    [[ $(dirname "$JWT_KEY") == "$STATE_DIR" ]] || dirname "$JWT_KEY"
}

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

mount_root() {  # idempotent
    local root=$1 dir
    is_mounted "$root/proc" || mount -t proc proc "$root/proc"
    for dir in /dev /sys; do
        is_mounted "$root$dir" || { mount --rbind "$dir" "$root$dir" && mount --make-rslave "$root$dir"; }
    done
    while read -r dir; do
        mkdir -p "$dir" "$root$dir"
        is_mounted "$root$dir" || { mount --rbind "$dir" "$root$dir" && mount --make-rslave "$root$dir"; }
    done < <(shared_dirs)
    cp /etc/resolv.conf "$root/etc/resolv.conf"
}

unmount_root() {  # everything mounted below the root, deepest first
    local root=$1 target
    while read -r target; do
        umount "$target" 2>/dev/null || umount -l "$target"
    done < <(awk -v root="$root/" 'index($2, root) == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# The machine's Debian mirror for its own suite (or SUITE-security with `security`).
host_mirror() {
    apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null \
        | awk -v want="$HOST_SUITE${1:+-$1}" '$2 == want { print $1; exit }'
}

# Bootstrap the suite's minimal root into $1: the local base image when there is one (seconds),
# else debootstrap from this machine's mirror.
bootstrap_root() {
    local tmp=$1 image=datamonkey/base:$SUITE cid
    if command -v docker >/dev/null && docker image inspect "$image" >/dev/null 2>&1; then
        log "root of $SUITE from $image"
        cid=$(docker create "$image" /bin/true)
        docker export "$cid" | tar -x --numeric-owner -C "$tmp" || { docker rm "$cid" >/dev/null; return 1; }
        docker rm "$cid" >/dev/null
        return
    fi
    local mirror security script release
    mirror=$(host_mirror) || mirror=""
    [[ -n $mirror ]] || { log "no Debian mirror for $HOST_SUITE in apt's sources"; return 1; }
    security=$(host_mirror security) || security=""
    command -v debootstrap >/dev/null || apt_install debootstrap
    log "debootstrap $SUITE from $mirror"
    # debootstrap ships no script for a suite newer than itself; Debian's are all alike (sid's).
    script=/usr/share/debootstrap/scripts/$SUITE
    [[ -e $script ]] || script=/usr/share/debootstrap/scripts/sid
    debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" "$script" >"$tmp.log" 2>&1 \
        || { tail -n 20 "$tmp.log" >&2; return 1; }
    rm -f "$tmp.log" "$tmp/etc/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$SUITE" >"$tmp/etc/apt/sources.list.d/debian.sources"
    if [[ -n $security ]] && curl -fsS -m 30 -o /dev/null "$security/dists/$SUITE-security/Release"; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE" \
            >>"$tmp/etc/apt/sources.list.d/debian.sources"
    fi
    # testing's Release files carry a Valid-Until that lapses between archive pushes
    release=$(curl -fsS -m 30 "$mirror/dists/$SUITE/Release") || release=""
    grep -q '^Valid-Until:' <<<"$release" \
        && echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/01-datamonkey-valid-until"
    return 0
}

# The cached root of $SUITE with the Slurm packages and HyPhy installed (built once, atomically:
# a half-built root is never used); the job user gets this machine's uid and gid at every start.
prepare_root() {
    local tmp uid gid
    uid=$(id -u "$JOB_USER") gid=$(id -g "$JOB_USER")
    if [[ ! -e $ROOT/.datamonkey-root ]]; then
        [[ -z $(awk -v root="$ROOT/" 'index($2, root) == 1' /proc/self/mounts) ]] \
            || { log "$ROOT is incomplete but has mounts below it; run: $0 stop"; exit 1; }
        local started=$SECONDS
        mkdir -p "$ROOTS"
        rm -rf "$ROOT"
        tmp=$(mktemp -d "$ROOTS/.$SUITE.new.XXXXXX")
        chmod 755 "$tmp"  # a root's / (mktemp makes it 0700: no user but root could use the chroot)
        trap 'unmount_root "$tmp"; rm -rf "$tmp" "$tmp.log"' EXIT
        bootstrap_root "$tmp" || { log "could not bootstrap a $SUITE root"; exit 1; }
        # no daemon starts while packages are installed (munge's postinst would)
        printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
        chmod 755 "$tmp/usr/sbin/policy-rc.d"
        cp /etc/resolv.conf "$tmp/etc/resolv.conf"
        cp /etc/hosts "$tmp/etc/hosts"
        mount -t proc proc "$tmp/proc"
        mount --rbind /dev "$tmp/dev" && mount --make-rslave "$tmp/dev"
        log "installing ${ROOT_PACKAGES[*]} in the $SUITE root"
        chroot "$tmp" /usr/bin/env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 sh -c \
            'apt-get update -qq && apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" >/dev/null \
             && apt-get clean' sh "${ROOT_PACKAGES[@]}" >"$tmp.log" 2>&1 \
            || { tail -n 20 "$tmp.log" >&2; log "package installation in the $SUITE root failed"; exit 1; }
        rm -f "$tmp.log"
        unmount_root "$tmp"
        echo "$SUITE ${ROOT_PACKAGES[*]}" >"$tmp/.datamonkey-root"
        mv -T "$tmp" "$ROOT"
        trap - EXIT
        log "$SUITE root ready in $ROOT ($((SECONDS - started)) s)"
    fi
    # the job user: this machine's uid and gid (job directories are handed to it here)
    chroot "$ROOT" getent group "$gid" >/dev/null || chroot "$ROOT" groupadd -g "$gid" "$JOB_USER"
    if chroot "$ROOT" id "$JOB_USER" >/dev/null 2>&1; then
        [[ $(chroot "$ROOT" id -u "$JOB_USER") == "$uid" && $(chroot "$ROOT" id -g "$JOB_USER") == "$gid" ]] \
            || chroot "$ROOT" usermod -u "$uid" -g "$gid" "$JOB_USER"
    else
        chroot "$ROOT" useradd --uid "$uid" --gid "$gid" --create-home --shell /bin/bash "$JOB_USER"
    fi
    # the JWT key is chowned to the chroot's slurm, which must be this machine's slurm for the key
    # to stay readable by the service's tests and the machine's own cluster
    if id slurm >/dev/null 2>&1 && [[ $(chroot "$ROOT" id -u slurm) != "$(id -u slurm)" ]]; then
        log "warning: slurm is uid $(chroot "$ROOT" id -u slurm) in the $SUITE root, $(id -u slurm) here"
    fi
}

in_root() {  # this script, run inside the root of $SUITE (where it is the machine's own suite)
    chroot "$ROOT" /usr/bin/env SLURM_SUITE="$SUITE" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        bash "$REPO/scripts/local-slurm.sh" "$@"
}

stop_suite() {  # stop the daemons of suite $1 (by their pid files) and release its root's mounts
    local suite=$1
    stop_pidfile "$RUN_DIR/slurmrestd.pid" slurmrestd
    stop_pidfile "$RUN_DIR/slurmd.pid" slurmd
    stop_pidfile "$RUN_DIR/slurmctld.pid" slurmctld
    stop_pidfile "$(munge_pidfile "$suite")" munged
    rm -f "$RUN_DIR/suite"
    [[ $suite == "$HOST_SUITE" || ! -d $ROOTS/$suite ]] || unmount_root "$ROOTS/$suite"
}


case ${1:-} in
start)
    [[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
    running=$(running_suite)
    if [[ -n $running && $running != "$SUITE" ]]; then
        log "stopping the $running cluster to start $SUITE's"
        stop_suite "$running"
    fi
    if [[ $SUITE == "$HOST_SUITE" ]]; then
        native start
    else
        ensure_users
        prepare_root
        mount_root "$ROOT"
        in_root start
    fi
    ;;
stop)
    running=$(running_suite)
    stop_suite "${running:-$SUITE}"
    ;;
status)
    if [[ $SUITE == "$HOST_SUITE" ]]; then
        native status
    elif is_mounted "$ROOT$REPO"; then
        in_root status
    else
        echo "$SUITE: not running (no chroot mounted at $ROOT)"
        exit 1
    fi
    ;;
env)
    cat <<EOF
SCHEDULER_TYPE=SlurmRestScheduler
SLURM_REST_URL=http://127.0.0.1:$REST_PORT
SLURM_REST_API_PATH=auto
SLURM_QUEUE_NAME=$PARTITION
SLURM_JWT_KEY_PATH=$JWT_KEY
SLURM_JWT_USERNAME=$JOB_USER
JOB_WORK_LOCATION=$STATE_DIR/jobs
EOF
    ;;
*)
    echo "usage: $0 start|stop|status|env   (SLURM_SUITE=bookworm|trixie|forky; default: the running one, else $HOST_SUITE)" >&2
    exit 2
    ;;
esac
