#!/bin/sh
# Installs the Debian packages the project needs (as root), or prints the apt-get line;
# then the npm development tools.
set -eu
cd "$(dirname "$0")/.."
pkgs="lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-busted lua-check lua-argparse lua-yaml
libmicrohttpd-dev lua-socket luarocks valgrind pkg-config make gcc curl wrk"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing:$missing"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
  else
    echo "missing Debian packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

# Development-only tools from npm (package.json): the OpenAPI mock for the contract specs and
# the official TypeScript client for make bench. The runtime never needs Node.
if [ ! -x node_modules/.bin/prism ] || [ ! -d node_modules/@iblai/iblai-api ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "npm is needed for the contract tests: sudo apt-get install -y nodejs npm" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
  fi
  echo "installing the npm development tools (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# Headless Chromium and poppler-utils render the HTML cohort report in its specs (tests only;
# the report itself needs neither).
browser=""
for p in chromium poppler-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || browser="$browser $p"
done
if [ -n "$browser" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing the test-only browser:$browser"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $browser >/dev/null
  else
    echo "the HTML report's specs need: sudo apt-get install -y$browser" >&2
  fi
fi
