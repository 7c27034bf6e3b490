#!/usr/bin/env bash
# The demo (README): bring up the local demo server and run slipway's built action
# against it, exactly as a GitHub runner would.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/run/index.js ] || npm run build
bash test/server/up.sh --hosts 1 >/dev/null
exec node scripts/demo.mjs
