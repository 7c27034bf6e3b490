// Copy what the CLI shows and accepts (each action's inputs, their descriptions, its
// outputs) from the action.yml files into src/cli/actions.json, which is bundled into
// dist/cli: the CLI must not depend on finding the YAML files at run time, and
// `slipway <action> --help` must say what action.yml says. A unit test fails when the
// JSON is out of date. `--check` only compares (for CI).
// Usage: node scripts/cli-inputs.mjs [--check]
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'

const OUT = 'src/cli/actions.json'

// An action is named by the bundle it runs (dist/<name>/index.js): the root action.yml
// is the release action once that exists, and runs another bundle until then.
const files = [
  ...(existsSync('actions') ? readdirSync('actions').sort() : []).map(n => `actions/${n}/action.yml`).filter(f => existsSync(f)),
  'action.yml',
]
const actions = {}
for (const file of files) {
  const spec = parse(readFileSync(file, 'utf8'))
  const name = /dist\/([^/]+)\/index\.js$/.exec(spec?.runs?.main ?? '')?.[1]
  if (!name) {
    console.error(`${file}: runs.main is not dist/<name>/index.js`)
    process.exit(1)
  }
  if (actions[name]) continue // actions/<name>/action.yml comes first and wins
  const inputs = {}
  for (const [input, i] of Object.entries(spec.inputs ?? {})) {
    inputs[input] = { description: String(i?.description ?? '').trim(), ...(i?.required ? { required: true } : {}) }
  }
  const outputs = {}
  for (const [output, o] of Object.entries(spec.outputs ?? {})) outputs[output] = String(o?.description ?? '').trim()
  actions[name] = { file, description: String(spec.description ?? '').trim(), inputs, outputs }
}
const sorted = Object.fromEntries(Object.keys(actions).sort().map(k => [k, actions[k]]))
const text = `${JSON.stringify(sorted, null, 2)}\n`

if (process.argv.includes('--check')) {
  if (!existsSync(OUT) || readFileSync(OUT, 'utf8') !== text) {
    console.error(`${OUT} is out of date: run node scripts/cli-inputs.mjs and commit it`)
    process.exit(1)
  }
} else {
  writeFileSync(OUT, text)
}
