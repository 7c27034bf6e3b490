// Runs the built action against the local demo server with the inputs a workflow would
// give it, and prints the step log, outputs and job summary.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const state = process.env.SLIPWAY_TEST_STATE ?? '/var/lib/slipway-test'
const tmp = mkdtempSync(join(tmpdir(), 'slipway-demo-'))
const knownHosts = `[127.0.0.1]:2222 ${readFileSync(`${state}/keys/host_ed25519.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`
const inputs = {
  host: 'deploy@127.0.0.1:2222',
  'private-key': readFileSync(`${state}/keys/deploy_ed25519`, 'utf8'),
  'known-hosts': knownHosts,
  run: 'echo "slipway demo: connected to $(hostname) as $(whoami)"; uname -sr; df -h / | tail -1',
  capture: 'true',
}
const env = { ...process.env, GITHUB_OUTPUT: join(tmp, 'output'), GITHUB_STEP_SUMMARY: join(tmp, 'summary'), RUNNER_TEMP: tmp }
for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v
writeFileSync(env.GITHUB_OUTPUT, '')
writeFileSync(env.GITHUB_STEP_SUMMARY, '')
const r = spawnSync(process.execPath, ['dist/run/index.js'], { env, encoding: 'utf8' })
process.stdout.write(r.stdout.split('\n').filter(l => !l.startsWith('::add-mask::')).join('\n'))
process.stderr.write(r.stderr)
console.log('\n--- outputs ---\n' + readFileSync(env.GITHUB_OUTPUT, 'utf8'))
console.log('--- job summary ---\n' + readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8'))
process.exit(r.status ?? 1)
