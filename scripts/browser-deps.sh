#!/usr/bin/env bash
# Headless browser for tests/browser: Debian's chromium and chromium-driver (/usr/bin/chromedriver;
# the tests never let Selenium download a driver). Idempotent; installs only what is missing, and
# only as root (.ci/run and `make test-browser` call it). With recommends: they bring the fonts
# pages render with.
set -euo pipefail
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
mapfile -t missing < <(missing_packages chromium chromium-driver)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]});" \
         "the browser tests skip without them" >&2
    exit 1
fi
apt_install --with-recommends "${missing[@]}"
