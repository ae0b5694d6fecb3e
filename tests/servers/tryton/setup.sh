#!/usr/bin/env bash
# Installs Tryton 8.2 from PyPI into a cache folder and prepares a SQLite database
# with the modules below activated and a company, a chart of accounts, a fiscal
# year and the rest bootstrapped (see bootstrap.py), ready for `trytond` to serve.
# Idempotent: a second run with the cache in place does nothing. The file
# `$H/ready` marks a finished set-up and holds the stamp of what made it (this
# script, bootstrap.py and the year the fiscal year was made for): a cache made
# by another version of either file, or in another year, is set up again.
#
# Usage: setup.sh [CACHE_DIR]   (default: <workspace>/target/servers/tryton)
# Leaves: $H/venv (trytond), $H/trytond.conf, $H/db/tenon.sqlite (database `tenon`),
#         $H/adminpass (password of user `admin`), $H/modules (the database before
#         bootstrap.py), $H/ready.
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
STAMP="$(cat "$HERE/setup.sh" "$HERE/bootstrap.py" | sha256sum | cut -d' ' -f1) $(date +%Y)"
[ -f "$H/ready" ] && [ "$(cat "$H/ready")" = "$STAMP" ] && exit 0
rm -f "$H/ready"
t0=$(date +%s)

# Tryton modules activated in the database (and their dependencies: company,
# currency, country, account, account_product, account_invoice_stock...).
MODULES="party product stock sale account_invoice product_price_list sale_price_list
  account_credit_limit sale_credit_limit"
# Their PyPI packages, all on the 8.2 series.
PACKAGES=""
for module in trytond $MODULES; do
  [ "$module" = trytond ] && package=trytond || package="trytond-${module//_/-}"
  PACKAGES="$PACKAGES $package>=8.2,<8.3"
done

# 1. install (~20 s, ~90 MB); again into the same venv when the list changed.
if [ ! -x "$H/venv/bin/trytond" ] || [ "$(cat "$H/venv/tenon-packages" 2>/dev/null)" != "$PACKAGES" ]; then
  [ -x "$H/venv/bin/pip" ] || { rm -rf "$H/venv"; "$PY" -m venv "$H/venv"; }
  # shellcheck disable=SC2086 # one word per package
  "$H/venv/bin/pip" install -q --disable-pip-version-check $PACKAGES
  printf '%s' "$PACKAGES" > "$H/venv/tenon-packages"
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

# 3. database with the modules activated (~35 s), kept in $H/modules (with the
#    package list it was made with) so that a change of bootstrap.py alone
#    starts from it. The SQLite backend needs the file to exist.
rm -rf "$H/db"; mkdir -p "$H/db"
export TRYTOND_DATABASE__PATH="$H/db"
[ -s "$H/adminpass" ] || { printf 'admin-%s\n' "$RANDOM$RANDOM" > "$H/adminpass"; chmod 600 "$H/adminpass"; }
if [ -s "$H/modules/$DB.sqlite" ] && [ "$(cat "$H/modules/packages" 2>/dev/null)" = "$PACKAGES $MODULES" ]; then
  cp "$H/modules/$DB.sqlite" "$H/db/$DB.sqlite"
else
  touch "$H/db/$DB.sqlite"
  TRYTONPASSFILE="$H/adminpass" "$H/venv/bin/trytond-admin" -c "$H/trytond.conf" -d "$DB" \
    --all --email admin@example.com </dev/null
  # shellcheck disable=SC2086 # one word per module
  "$H/venv/bin/trytond-admin" -c "$H/trytond.conf" -d "$DB" \
    -u $MODULES --activate-dependencies </dev/null
  rm -rf "$H/modules"; mkdir -p "$H/modules"
  cp "$H/db/$DB.sqlite" "$H/modules/$DB.sqlite"
  printf '%s' "$PACKAGES $MODULES" > "$H/modules/packages"
fi
t2=$(date +%s)

# 4. company, accounts, fiscal year... over JSON-RPC against a temporary server.
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
printf '%s' "$STAMP" > "$H/ready"
echo "tryton set-up: install $((t1-t0)) s, database $((t2-t1)) s, bootstrap $((t3-t2)) s"
