#!/usr/bin/env bash
# The local Debian base images every Dockerfile in docker/ starts FROM (no registry needed).
#
#   scripts/base-image.sh [SUITE]   build `datamonkey/base:SUITE` unless it exists (idempotent);
#                                   SUITE: bookworm (default; Slurm 22.05), trixie (24.11), forky (26.05)
#
# debootstrap --variant=minbase from this machine's configured Debian mirror (read from
# /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list), then `docker import`. For the
# machine's own suite its enabled apt sources (and apt.conf.d settings) are copied into the image,
# so `apt-get` inside builds reaches the same mirror, updates and security suites; another suite
# gets the same mirror with that suite's main, -updates and -security (when the mirror has them).
# Debian testing (forky) lets its Release files expire between pushes, so a testing image does not
# check Valid-Until. Runs as root.
set -euo pipefail

SUITE=${1:-bookworm}
IMAGE=${BASE_IMAGE:-datamonkey/base:$SUITE}
[[ $SUITE =~ ^[a-z]+$ ]] || { printf 'base-image: bad suite %q\n' "$SUITE" >&2; exit 2; }

log() { printf 'base-image: %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE exists"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }

# Enabled source files only (the machine may keep disabled ones under other suffixes).
shopt -s nullglob
SOURCES=()
[[ -s /etc/apt/sources.list ]] && SOURCES+=(/etc/apt/sources.list)
SOURCES+=(/etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)

mirror() {  # the first URI serving the main Debian suite, deb822 or one-line format
    local file uri
    for file in "${SOURCES[@]}"; do
        if [[ $file == *.sources ]]; then
            # a deb822 stanza whose Suites include "$SUITE" (not only -security/-updates)
            uri=$(awk -v suite="$SUITE" '
                BEGIN { RS = ""; FS = "\n" }
                {
                    uris = ""; ok = 0
                    for (i = 1; i <= NF; i++) {
                        if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
                        if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
                    }
                    if (ok && uris != "") { print uris; exit }
                }' "$file")
        else
            uri=$(awk -v suite="$SUITE" '$1 == "deb" {
                    for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i + 1) == suite) { print $i; exit } ; break }
                }' "$file")
        fi
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    return 1
}

# The machine's own suite, whose mirror serves every other suite too.
HOST_SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
SAVED_SUITE=$SUITE
SUITE=$HOST_SUITE
MIRROR=$(mirror) || { log "no Debian $SUITE mirror in ${SOURCES[*]:-/etc/apt}"; exit 1; }
SUITE=$SAVED_SUITE
SECURITY_MIRROR=$(SUITE=$HOST_SUITE-security; mirror) || SECURITY_MIRROR=""
command -v debootstrap >/dev/null || { log "debootstrap missing (scripts/docker-engine.sh start installs it)"; exit 1; }

ROOT=$(mktemp -d /var/tmp/datamonkey-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
log "debootstrap $SUITE from $MIRROR"
started=$SECONDS
# debootstrap ships no script for a suite newer than itself; Debian's are all alike (sid's).
SCRIPT=/usr/share/debootstrap/scripts/$SUITE
[[ -e $SCRIPT ]] || SCRIPT=/usr/share/debootstrap/scripts/sid
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" "$SCRIPT" >"$ROOT.log" 2>&1 || {
    tail -n 20 "$ROOT.log" >&2; rm -f "$ROOT.log"; exit 1; }
rm -f "$ROOT.log"

# Builds use the same mirror: the machine's apt configuration for its own suite, else that suite
# from the same mirrors (a suffix only where the mirror serves it: testing has no -updates).
rm -f "$ROOT/etc/apt/sources.list"
served() { curl -fsS -m 30 -o /dev/null "$1/dists/$2/Release"; }
if [[ $SUITE == "$HOST_SUITE" ]]; then
    for file in "${SOURCES[@]}"; do
        cp "$file" "$ROOT/etc/apt/sources.list.d/$(basename "$file" | sed 's/^sources\.list$/machine.list/')"
    done
else
    suites=$SUITE
    served "$MIRROR" "$SUITE-updates" && suites+=" $SUITE-updates"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$MIRROR" "$suites" >"$ROOT/etc/apt/sources.list.d/debian.sources"
    if [[ -n $SECURITY_MIRROR ]] && served "$SECURITY_MIRROR" "$SUITE-security"; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$SECURITY_MIRROR" "$SUITE" \
            >>"$ROOT/etc/apt/sources.list.d/debian.sources"
    fi
    # testing's Release files carry a Valid-Until that lapses between archive pushes
    release=$(curl -fsS -m 30 "$MIRROR/dists/$SUITE/Release")
    grep -q '^Valid-Until:' <<<"$release" \
        && echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/01-datamonkey-valid-until"
fi
cp /etc/apt/apt.conf.d/99* "$ROOT/etc/apt/apt.conf.d/" 2>/dev/null || true
# Small images: no docs, man pages or apt caches.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-datamonkey-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
EOF
echo 'APT::Install-Recommends "false"; APT::Install-Suggests "false";' >"$ROOT/etc/apt/apt.conf.d/01-datamonkey-norecommends"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

tar -C "$ROOT" -c . | docker import \
    -c 'ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive' -c 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
log "$IMAGE built in $((SECONDS - started)) s"
