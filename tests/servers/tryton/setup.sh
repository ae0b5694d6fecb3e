#!/usr/bin/env bash
# Installs Tryton 8.2 from PyPI into a cache folder and prepares a SQLite database
# with party, product, stock, sale and account_invoice activated and a company
# bootstrapped, ready for `trytond` to serve. Idempotent: a second run with the
# cache in place does nothing (the file `$H/ready` marks a finished set-up).
#
# Usage: setup.sh [CACHE_DIR]   (default: <workspace>/target/servers/tryton)
# Leaves: $H/venv (trytond), $H/trytond.conf, $H/db/tenon.sqlite (database `tenon`),
#         $H/adminpass (password of user `admin`), $H/ready.
# Needs python3 >= 3.9 with venv and network access to PyPI; nothing else.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
H=${1:-${TRYTON_CACHE:-$HERE/../../../target/servers/tryton}}
mkdir -p "$H"
H=$(cd "$H" && pwd)
PY=${PYTHON:-python3}
DB=tenon
exec 9>"$H/setup.lock"
flock 9                          # concurrent test processes: one sets up, others wait
[ -f "$H/ready" ] && exit 0
t0=$(date +%s)

# 1. install (~25 s, ~90 MB); all modules on the 8.2 series.
if [ ! -x "$H/venv/bin/trytond" ]; then
  rm -rf "$H/venv"
  "$PY" -m venv "$H/venv"
  "$H/venv/bin/pip" install -q --disable-pip-version-check \
    'trytond>=8.2,<8.3' 'trytond-party>=8.2,<8.3' 'trytond-product>=8.2,<8.3' \
    'trytond-stock>=8.2,<8.3' 'trytond-sale>=8.2,<8.3' 'trytond-account-invoice>=8.2,<8.3'
fi
t1=$(date +%s)

# 2. configuration: SQLite in $H/db, loopback only, long sessions (the harness hands
#    a session token to the connector as a tenant secret). The database folder
#    and the listen address come from TRYTOND_DATABASE__PATH and
#    TRYTOND_WEB__LISTEN (the file would override them), so that each test
#    serves its own copy of the database on its own port.
cat > "$H/trytond.conf" <<CONF
[database]
uri = sqlite://
[session]
timeout = 86400
max_attempt = 100
CONF

# 3. database (~45 s). The SQLite backend needs the file to exist.
rm -rf "$H/db"; mkdir -p "$H/db"
export TRYTOND_DATABASE__PATH="$H/db"
touch "$H/db/$DB.sqlite"
[ -s "$H/adminpass" ] || { printf 'admin-%s\n' "$RANDOM$RANDOM" > "$H/adminpass"; chmod 600 "$H/adminpass"; }
TRYTONPASSFILE="$H/adminpass" "$H/venv/bin/trytond-admin" -c "$H/trytond.conf" -d "$DB" \
  --all --email admin@example.com </dev/null
"$H/venv/bin/trytond-admin" -c "$H/trytond.conf" -d "$DB" \
  -u party product stock sale account_invoice --activate-dependencies </dev/null
t2=$(date +%s)

# 4. company bootstrap over JSON-RPC against a temporary server.
PORT=$("$H/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TRYTOND_WEB__LISTEN="127.0.0.1:$PORT" "$H/venv/bin/trytond" -c "$H/trytond.conf" -d "$DB" \
  >"$H/setup-server.log" 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
"$H/venv/bin/python" "$HERE/bootstrap.py" "http://127.0.0.1:$PORT" "$DB" admin "$(cat "$H/adminpass")"
kill $SRV; wait $SRV 2>/dev/null || true
trap - EXIT
# Fold the write-ahead log into the database file: the fixture copies that file.
"$H/venv/bin/python" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$H/db/$DB.sqlite"
t3=$(date +%s)
touch "$H/ready"
echo "tryton set-up: install $((t1-t0)) s, database $((t2-t1)) s, bootstrap $((t3-t2)) s"
