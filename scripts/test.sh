#!/usr/bin/env bash
# The test command (README): unit tests, then integration tests that run the built
# dist/ bundles against the real local test server (brought up as root by
# test/server/up.sh, which installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/run/index.js ] || npm run build
npx vitest run --project unit
npx vitest run --project integration "$@"
# The three server shapes our users run, end to end (examples/).
npx vitest run --project e2e
