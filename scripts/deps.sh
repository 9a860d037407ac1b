#!/bin/sh
# Installs the Debian packages a target needs (as root), or says the exact command to run
# and stops.
#   scripts/deps.sh build   the module, the test DC and `make demo`: no Node.js
#   scripts/deps.sh test    also the specs' and benchmarks' tools, Node.js and the pinned npm
#                           packages of the interop specs (GramJS, mtcute) when they are missing
#                           or older than the lock file
set -e
what=${1:-test}
pkgs="lua5.4 liblua5.4-dev libssl-dev zlib1g-dev"
case "$what" in
    build) ;;
    test) pkgs="$pkgs lua-busted luarocks lua-cqueues lua-luv lua-check lua-cjson lua-ldoc libqrencode-dev microsocks nodejs npm";;
    *) echo "usage: $0 build|test" >&2; exit 2;;
esac
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# nodejs/npm may come from outside Debian (as on the CI machines): accept them on PATH.
case "$missing" in *nodejs*|*npm*)
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
    fi;;
esac
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
    else
        echo "missing Debian packages; run:" >&2
        echo "  sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi
[ "$what" = test ] || exit 0
# npm writes node_modules/.package-lock.json on every install: a lock file newer than it
# means packages were added or changed since.
if [ -f interop/package-lock.json ] && { [ ! -f interop/node_modules/.package-lock.json ] ||
        [ interop/package-lock.json -nt interop/node_modules/.package-lock.json ]; }; then
    (cd interop && npm ci --no-audit --no-fund)
fi
