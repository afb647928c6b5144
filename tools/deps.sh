#!/bin/sh
# Installs what a make target needs: Debian packages (as root; otherwise it prints the apt-get
# line and stops), and for tests and benchmarks the npm development tools of package.json.
#   tools/deps.sh runtime   build and run: what make, make demo and make install need
#   tools/deps.sh test      runtime + the test tools (busted, luacheck, valgrind, LDoc, Prism, Chromium)
#   tools/deps.sh bench     runtime + the benchmark peers (nginx, wrk, valgrind, GNU time, the TypeScript client)
set -eu
cd "$(dirname "$0")/.."
what=${1:-test}

runtime="lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-argparse libmicrohttpd-dev pkg-config make gcc curl"
# lua-yaml regenerates the operation facts; lua-socket plays the hostile server in the specs;
# Chromium and poppler-utils render the HTML cohort report in its specs, cmark-gfm (GitHub's
# Markdown) its Markdown; lua-ldoc builds the reference (make docs).
test="lua-busted lua-check lua-yaml lua-socket luarocks valgrind chromium poppler-utils cmark-gfm lua-ldoc nodejs npm"
bench="nginx-light wrk valgrind time nodejs npm"
case "$what" in
  runtime) pkgs=$runtime ;;
  test) pkgs="$runtime $test" ;;
  bench) pkgs="$runtime $bench" ;;
  *) echo "usage: tools/deps.sh runtime|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nodejs may come from elsewhere than Debian: a working npm is enough
if command -v npm >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//'); fi
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

# Development-only tools from npm (package-lock.json): the OpenAPI mock and validating proxy for
# the contract specs, the official TypeScript client for make bench. The runtime never needs Node.
if [ "$what" != runtime ] && { [ ! -x node_modules/.bin/prism ] || [ ! -d node_modules/@iblai/iblai-api ]; }; then
  echo "installing the npm development tools (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
