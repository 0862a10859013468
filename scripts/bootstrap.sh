#!/usr/bin/env bash
# System packages the service needs on Debian: HyPhy 2.5 (hyphy-pt) and Python's venv module.
# Idempotent; installs only what is missing, and only as root.
set -euo pipefail
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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
