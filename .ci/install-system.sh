#!/usr/bin/env bash
# System tools the tests need, from Debian's packages, installed only when missing:
#   bubblewrap  -> the 'bwrap' sandbox backend and its hostile-code suite
#   chromium    -> the browser tests of `lllm ui` (tests/ui, through Playwright; no browser download)
# Without root (or apt) nothing is installed and the tests that need a tool skip, naming it.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system: missing ${need[*]} and cannot install them (needs root and apt-get)" >&2
    exit 0
fi
echo "install-system: installing ${need[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
