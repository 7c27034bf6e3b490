#!/usr/bin/env bash
# Server fixtures for the snapshot tests, as root, idempotent (run after up.sh):
#
#   postgres role slipway_snap_pw   must give its password (scram-sha-256 lines at the
#                                   top of pg_hba.conf, above the trust lines), so a
#                                   snapshot that dumps as this role proves the password
#                                   arrived, and a wrong one is refused
set -euo pipefail

STATE=${SLIPWAY_TEST_STATE:-/var/lib/slipway-test}
ROLE=slipway_snap_pw
pw=$(cat "$STATE/db_password")
q() { psql -U postgres -h /var/run/postgresql -qtAX "$@"; }

if ! q -c "select 1 from pg_roles where rolname = '$ROLE'" | grep -q 1; then
  q -c "create role $ROLE login createdb" >/dev/null
fi
q -c "set password_encryption = 'scram-sha-256'; alter role $ROLE password '$pw'" >/dev/null

hba=$(q -c 'show hba_file')
if ! grep -q '^# slipway-snapshot-test' "$hba"; then
  tmp=$(mktemp)
  {
    echo "# slipway-snapshot-test: $ROLE must authenticate with its password"
    echo "local all $ROLE scram-sha-256"
    echo "host all $ROLE 127.0.0.1/32 scram-sha-256"
    cat "$hba"
  } > "$tmp"
  cat "$tmp" > "$hba"
  rm -f "$tmp"
  q -c 'select pg_reload_conf()' >/dev/null
fi
