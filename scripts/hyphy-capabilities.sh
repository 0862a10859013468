#!/bin/sh
# Record what the installed HyPhy offers, for the job service's method registry.
#
#   hyphy-capabilities.sh OUT_DIR [HYPHY_BINARY [ANALYSIS ...]]
#   hyphy-capabilities.sh --copy FROM_DIR OUT_DIR
#
# The first form runs HyPhy (stdin /dev/null, in a scratch directory: a failing --help leaves an
# errors.log in its working directory) and writes into OUT_DIR:
#   version      `hyphy --version`, e.g. "HYPHY 2.5.46(MP) for Linux on x86_64"
#   analyses     `hyphy --help`: the usage text, ending with HyPhy's own list of standard
#                analysis names ("Available standard keyword analyses")
#   help/NAME    `hyphy NAME --help` for every analysis (by default every name in that list,
#                so nothing here repeats the service's registry), stdout only
#   exit-codes   "NAME CODE" per analysis (some old analyses fail or crash on --help)
#   info         format=1, binary=, host=, collected= (UTC)
# The second form copies such a directory (e.g. one collected at image build) to OUT_DIR.
#
# Either way OUT_DIR is replaced whole: the new set is written to a sibling temporary directory
# and renamed into place, so a reader never sees a partial set. Needs only HyPhy, a POSIX shell,
# coreutils and sed; HYPHY_BINARY defaults to Debian's generic /usr/lib/hyphy/bin/hyphy (the
# /usr/bin/hyphy wrapper joins all arguments into one and cannot run `NAME --help`).
set -eu

die() { echo "hyphy-capabilities: $*" >&2; exit 1; }

# install_dir SRC_DIR OUT_DIR: make SRC_DIR (a temporary sibling of OUT_DIR) readable by all and
# rename it to OUT_DIR, replacing what is there; retried when another node publishes at once.
install_dir() {
    chmod -R a+rX "$1"
    tries=0
    while :; do
        old=""
        if [ -e "$2" ] || [ -L "$2" ]; then
            old=$(dirname -- "$2")/.$(basename -- "$2").old.$$.$tries
            mv -T -- "$2" "$old" 2>/dev/null || old=""
        fi
        if mv -T -- "$1" "$2" 2>/dev/null; then
            [ -z "$old" ] || rm -rf -- "$old"
            return 0
        fi
        [ -z "$old" ] || rm -rf -- "$old"
        tries=$((tries + 1))
        [ "$tries" -lt 10 ] || die "could not replace $2"
        sleep 1
    done
}

# absolute PATH (the collector runs HyPhy in a scratch directory)
absolute() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }

new_dir_next_to() {
    parent=$(dirname -- "$1")
    mkdir -p -- "$parent"
    mktemp -d "$parent/.$(basename -- "$1").new.XXXXXX"
}

if [ "${1:-}" = "--copy" ]; then
    [ $# -eq 3 ] || die "usage: $0 --copy FROM_DIR OUT_DIR"
    [ -f "$2/version" ] && [ -f "$2/info" ] || die "$2 holds no collected HyPhy capabilities"
    tmp=$(new_dir_next_to "$3")
    trap 'rm -rf -- "$tmp"' EXIT
    cp -R -- "$2"/. "$tmp"/
    install_dir "$tmp" "$3"
    trap - EXIT
    exit 0
fi

[ $# -ge 1 ] || die "usage: $0 OUT_DIR [HYPHY_BINARY [ANALYSIS ...]]"
out=$(absolute "$1")
shift
binary=${1:-/usr/lib/hyphy/bin/hyphy}
[ $# -eq 0 ] || shift
[ -x "$binary" ] || die "$binary is not an executable HyPhy binary"

tmp=$(absolute "$(new_dir_next_to "$out")")
scratch=$(mktemp -d)
trap 'rm -rf -- "$tmp" "$scratch"' EXIT
mkdir "$tmp/help"

cd "$scratch"
"$binary" --version </dev/null >"$tmp/version" 2>/dev/null || die "$binary --version failed"
grep -q 'HYPHY [0-9]' "$tmp/version" || die "$binary --version printed no HyPhy version: $(head -c 200 "$tmp/version")"
"$binary" --help </dev/null >"$tmp/analyses" 2>/dev/null || die "$binary --help failed"

if [ $# -eq 0 ]; then
    tab=$(printf '\t')
    # the list's lines are "<tab>name <tab>description"
    set -- $(sed -n "/^Available standard keyword analyses/,\$ s/^${tab}\([^ ${tab}]*\).*/\1/p" "$tmp/analyses")
    [ $# -gt 0 ] || die "$binary --help lists no standard analyses"
fi

: >"$tmp/exit-codes"
for name in "$@"; do
    case $name in
        "" | .* | *[!A-Za-z0-9._-]*) echo "hyphy-capabilities: skipping analysis name '$name'" >&2; continue ;;
    esac
    code=0
    "$binary" "$name" --help </dev/null >"$tmp/help/$name" 2>/dev/null || code=$?
    echo "$name $code" >>"$tmp/exit-codes"
done

{
    echo "format=1"
    echo "binary=$binary"
    echo "host=$(uname -n)"
    echo "collected=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$tmp/info"

cd /
install_dir "$tmp" "$out"
rm -rf -- "$scratch"
trap - EXIT
