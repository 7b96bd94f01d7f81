#!/usr/bin/env bash
# Make sure this Debian machine has what building .venv needs: Python 3.11 with venv;
# with --browser also Chromium, for the Studio's browser tests (Playwright drives
# /usr/bin/chromium; it never downloads a browser of its own).
# Installs missing Debian packages with apt-get when run as root; says what to do otherwise.
set -euo pipefail
python=${1:-python3.11}
browser=${2:-}

need=()
if ! command -v "$python" >/dev/null 2>&1; then
  need+=(python3.11 python3.11-venv python3.11-dev)
elif ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3.11-venv)
fi
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ "$browser" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${need[*]}; install them (apt-get install ${need[*]}) and run make again" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
