#!/usr/bin/env bash
# Machine-specific build-context files for docker/service.Dockerfile, under docker/.build/ (ignored
# by git, never committed): the CA bundle pip must trust inside the build (the machine's PIP_CERT,
# else its system bundle) and a pip.conf carrying the machine's network index settings (index-url,
# extra-index-url; local file:// indexes, find-links and constraints do not exist in a container
# and are left out).
set -euo pipefail
OUT=${1:-docker/.build}
mkdir -p "$OUT"

ca=${PIP_CERT:-$(pip3 config get global.cert 2>/dev/null || true)}
for candidate in "$ca" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [[ -n $candidate && -s $candidate ]]; then
        cmp -s "$candidate" "$OUT/ca-certificates.crt" || cp "$candidate" "$OUT/ca-certificates.crt"
        break
    fi
done
[[ -s $OUT/ca-certificates.crt ]] || { echo "docker-build-context: no CA bundle found" >&2; exit 1; }

network_urls() {  # the http(s) URLs among the machine's values for one pip setting
    local key=$1 env=$2
    { printf '%s\n' "${!env:-}"; pip3 config list 2>/dev/null | sed -n "s/^[a-z:]*\.$key='\(.*\)'$/\1/p"; } \
        | tr ' ' '\n' | grep -E '^https?://' | awk '!seen[$0]++' | tr '\n' ' ' | sed 's/ $//' || true
}
index=$(network_urls index-url PIP_INDEX_URL | awk '{print $1}')
extra=$(network_urls extra-index-url PIP_EXTRA_INDEX_URL)
trusted=$(network_urls trusted-host PIP_TRUSTED_HOST)
{
    echo "# Written by scripts/docker-build-context.sh from this machine's pip settings."
    echo "[global]"
    echo "disable-pip-version-check = true"
    echo "timeout = ${PIP_DEFAULT_TIMEOUT:-60}"
    [[ -n $index ]] && echo "index-url = $index"
    [[ -n $extra ]] && echo "extra-index-url = $extra"
    [[ -n $trusted ]] && echo "trusted-host = $trusted"
    true
} >"$OUT/pip.conf.tmp"
cmp -s "$OUT/pip.conf.tmp" "$OUT/pip.conf" && rm -f "$OUT/pip.conf.tmp" || mv "$OUT/pip.conf.tmp" "$OUT/pip.conf"
