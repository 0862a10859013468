# Sourced by the project's scripts: install Debian packages that are missing (as root).

# The named packages that dpkg does not list as installed, one per line.
missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

# Install the named packages (no-op for none). Recommends are skipped, so name what you need.
apt_install() {
    (($#)) || return 0
    printf 'installing Debian packages: %s\n' "$*" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$@" >/dev/null
}
