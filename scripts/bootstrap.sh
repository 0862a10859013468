#!/usr/bin/env bash
# System packages the service needs on Debian: HyPhy 2.5 (hyphy-pt) and Python's venv module.
# Idempotent; installs only what is missing, and only as root.
set -euo pipefail
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
missing=()
[[ -x /usr/lib/hyphy/bin/hyphy ]] || missing+=(hyphy-pt hyphy-common)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
    exit 1
fi
apt_install "${missing[@]}"
