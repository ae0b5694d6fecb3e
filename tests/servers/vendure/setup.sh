#!/usr/bin/env bash
# Installs the Vendure test server's npm packages (exact versions from
# package-lock.json) into a cache folder. Idempotent and safe to run from several
# test processes at once: a lock serialises them and `$H/ready` marks a finished
# install.
#
# Usage: setup.sh [CACHE_DIR]   (default: <workspace>/target/servers/vendure)
# Leaves: $H/index.js, b2b.js, gql.js, bootstrap.js, $H/package.json, $H/package-lock.json, $H/node_modules, $H/ready.
# Needs node >= 20 and npm with network access to the npm registry; nothing else.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
H=${1:-${VENDURE_CACHE:-$HERE/../../../target/servers/vendure}}
mkdir -p "$H"
H=$(cd "$H" && pwd)
exec 9>"$H/setup.lock"
flock 9
# The server scripts and their configuration are copied every time (cheap), so a
# cache never runs an old configuration; the install only when the lock file changed.
cp "$HERE/index.js" "$HERE/b2b.js" "$HERE/gql.js" "$HERE/bootstrap.js" "$H/"
if [ -f "$H/ready" ] && [ -d "$H/node_modules/@vendure/core" ] && cmp -s "$HERE/package-lock.json" "$H/package-lock.json"; then
  exit 0
fi
rm -f "$H/ready"
t0=$(date +%s)
cp "$HERE/package.json" "$HERE/package-lock.json" "$H/"
(cd "$H" && npm ci --no-audit --no-fund --loglevel=error)
touch "$H/ready"
echo "vendure set-up: npm ci $(( $(date +%s) - t0 )) s"
