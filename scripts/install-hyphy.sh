#!/usr/bin/env bash
# Installs Debian's HyPhy 2.5 (hyphy-pt) when its real binary is missing. Idempotent.
set -euo pipefail
if [[ -x /usr/lib/hyphy/bin/hyphy ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "HyPhy is missing: install Debian's hyphy-pt (apt-get install hyphy-pt) as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o DPkg::Lock::Timeout=600 hyphy-pt hyphy-common >/dev/null
echo "installed $(/usr/lib/hyphy/bin/hyphy --version </dev/null 2>&1 | head -1)"
