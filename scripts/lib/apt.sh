# Sourced by the project's scripts: install Debian packages that are missing (as root).

# The named packages that dpkg does not list as installed, one per line.
missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

# Install the named packages (no-op for none). Recommends are skipped unless the first argument
# is --with-recommends, so name what you need. Our scripts may run at once (.ci/run builds images
# in the background): one lock serialises them, as `apt-get update` does not wait for apt's own.
apt_install() {
    local recommends=--no-install-recommends
    [[ ${1:-} != --with-recommends ]] || { recommends=""; shift; }
    (($#)) || return 0
    printf 'installing Debian packages: %s\n' "$*" >&2
    export DEBIAN_FRONTEND=noninteractive
    (
        flock -w 1200 9 || { echo "apt: another installation held the lock for 20 min" >&2; exit 1; }
        apt-get update -qq
        apt-get install -y -qq -o DPkg::Lock::Timeout=600 $recommends "$@" >/dev/null
    ) 9>/run/lock/datamonkey-apt.lock
}
