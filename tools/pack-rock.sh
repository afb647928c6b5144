#!/bin/sh
# Packs a source rock of HEAD: the rockspec with its source pointing at an archive of HEAD
# (git archive), so that the rock holds both and installs without a network.
# usage: sh tools/pack-rock.sh OUTDIR    (make rock)
set -eu
out=${1:?usage: pack-rock.sh OUTDIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/iblai-scm-1.*
git archive --format=tar.gz --prefix=iblai/ -o "$out/iblai-scm.tar.gz" HEAD
sed -e "s|^  url = .*|  url = \"file://$out/iblai-scm.tar.gz\", dir = \"iblai\",|" rockspec/iblai-scm-1.rockspec \
  > "$out/iblai-scm-1.rockspec"
cd "$out"
luarocks --lua-version 5.4 pack iblai-scm-1.rockspec >/dev/null
rm -f iblai-scm.tar.gz iblai-scm-1.rockspec
echo "$out/iblai-scm-1.src.rock"
