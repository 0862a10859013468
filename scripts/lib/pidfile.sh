# Daemons managed by their pid files, never by name matching. Sourced, not run; the caller
# defines `log`.

# pid_alive FILE: is the process named in the pid file alive?
pid_alive() {
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pidfile FILE NAME [WAIT_S]: SIGTERM, up to WAIT_S seconds (default 10) for it to go, then SIGKILL.
stop_pidfile() {
    local file=$1 name=$2 wait_s=${3:-10}
    if pid_alive "$file"; then
        local pid
        pid=$(cat "$file")
        kill "$pid"
        for _ in $(seq $((wait_s * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        log "stopped $name ($pid)"
    fi
    rm -f "$file"
}
