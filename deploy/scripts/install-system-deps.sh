#!/usr/bin/env bash
# System packages the test suite uses, from Debian's archive: chromium (dashboard browser test)
# and docker-compose (validates docker-compose.yml without a Docker engine). Idempotent; quiet
# when everything is there; never fatal (the tests that need a missing tool say so and skip).
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && SUDO="sudo -n" || { echo "not root: install ${missing[*]} yourself"; exit 0; }
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "could not install ${missing[*]}; the tests that need them will be skipped"
exit 0
