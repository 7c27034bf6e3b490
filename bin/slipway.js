#!/usr/bin/env node
// The `slipway` command (package.json "bin"): the CLI is bundled like the actions, so
// this only loads the bundle. Build it with `node scripts/build.mjs cli`.
/* eslint-disable @typescript-eslint/no-require-imports, no-undef -- CommonJS launcher */
require('../dist/cli/index.js')
