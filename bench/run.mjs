#!/usr/bin/env node
// slipway's benchmarks, one command: `npm run bench` (or `node bench/run.mjs`).
//
//   --quick          tiny sizes, one iteration: a smoke test of the harness (CI)
//   --runs N         iterations per measurement (default 5; --quick: 1)
//   --only a,b       run only these scenarios: release, transfer, snapshot, download, downtime, startup
//   --out DIR        where results.json and RESULTS.md go (default: bench/)
//   --merge          run the --only scenarios and replace just those in the existing
//                    results.json in --out (the others, and their machine facts, stay)
//   --render         only rewrite RESULTS.md from the results.json in --out (no measuring)
//   --wait-quiet M   first wait up to M minutes for the 1-minute load average to drop
//                    below the number of cores (default 20; --quick: 0)
//
// Needs root, the built dist/ bundles (npm run build) and the local test server
// (test/server/up.sh, brought up here). Missing Debian packages (ansible, time, zstd,
// postgresql-contrib) are installed with apt-get. See bench/README.md.

import { execFileSync } from 'child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs'
import os from 'os'
import { join } from 'path'
import { BENCH, ROOT, STATE, freezeActions, log, makeAppRepo, sh, startNginx, toolVersion, workDir } from './lib/common.mjs'
import { ProxyClient } from './lib/proxy.mjs'
import { renderMarkdown } from './lib/report.mjs'
import { downloadScenario } from './scenarios/download.mjs'
import { downtimeScenario } from './scenarios/downtime.mjs'
import { releaseScenario } from './scenarios/release.mjs'
import { snapshotScenario } from './scenarios/snapshot.mjs'
import { startupScenario } from './scenarios/startup.mjs'
import { transferScenario } from './scenarios/transfer.mjs'

const SCENARIOS = { release: releaseScenario, transfer: transferScenario, snapshot: snapshotScenario, download: downloadScenario, downtime: downtimeScenario, startup: startupScenario }

function parseArgs(argv) {
  const a = { quick: false, runs: undefined, only: Object.keys(SCENARIOS), out: BENCH, waitQuiet: undefined, render: false, merge: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--quick') a.quick = true
    else if (arg === '--runs') a.runs = Number(argv[++i])
    else if (arg === '--only') a.only = argv[++i].split(',').map(s => s.trim())
    else if (arg === '--out') a.out = argv[++i]
    else if (arg === '--wait-quiet') a.waitQuiet = Number(argv[++i])
    else if (arg === '--render') a.render = true
    else if (arg === '--merge') a.merge = true
    else if (arg === '-h' || arg === '--help') {
      console.log('usage: node bench/run.mjs [--quick] [--runs N] [--only release,transfer,snapshot,download,downtime,startup] [--out DIR] [--wait-quiet MINUTES]')
      process.exit(0)
    } else throw new Error(`unknown argument ${arg}`)
  }
  for (const s of a.only) if (!(s in SCENARIOS)) throw new Error(`unknown scenario ${s}`)
  a.runs ??= a.quick ? 1 : 5
  a.waitQuiet ??= a.quick ? 0 : 20
  if (!(a.runs >= 1)) throw new Error('--runs must be at least 1')
  return a
}

async function ensurePrerequisites() {
  if (process.getuid?.() !== 0) throw new Error('run the benchmarks as root (they drive the local test server)')
  // Keep as many namespace hosts as are up (the integration tests use 2; up.sh would drop the rest).
  const hosts = /SLIPWAY_TEST_NETNS_HOSTS=(\d+)/.exec(existsSync(`${STATE}/env`) ? readFileSync(`${STATE}/env`, 'utf8') : '')?.[1] ?? '2'
  execFileSync('bash', [join(ROOT, 'test/server/up.sh'), '--hosts', hosts], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (!existsSync(join(ROOT, 'dist'))) throw new Error('dist/ is missing: npm run build')
  const missing = []
  for (const [bin, pkg] of [['ansible-playbook', 'ansible'], ['/usr/bin/time', 'time'], ['zstd', 'zstd'], ['pgbench', 'postgresql-contrib']]) {
    if (!(await sh(`command -v ${bin} || true`)).trim()) missing.push(pkg)
  }
  if (missing.length) {
    log(`installing ${missing.join(' ')}`)
    await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${missing.join(' ')} >/dev/null`)
  }
}

/** Other engineers' tests share this machine: give them a chance to finish first. */
async function waitQuiet(minutes) {
  const cores = os.cpus().length
  const until = Date.now() + minutes * 60_000
  const started = Date.now()
  while (os.loadavg()[0] >= cores && Date.now() < until) {
    log(`load average ${os.loadavg()[0].toFixed(2)} ≥ ${cores} cores: waiting (up to ${Math.round((until - Date.now()) / 60_000)} more min)`)
    await new Promise(r => setTimeout(r, 30_000))
  }
  return Math.round((Date.now() - started) / 1000)
}

async function machine(args) {
  const cpus = os.cpus()
  const pg = await sh("psql -U postgres -h /var/run/postgresql -qtAc 'show server_version'").then(s => s.trim(), () => 'unavailable')
  return {
    date: new Date().toISOString(),
    command: process.env.npm_lifecycle_event === 'bench' ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}` : `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    quick: args.quick,
    runs: args.runs,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    versions: {
      node: process.version,
      ssh: await toolVersion('ssh -V'),
      ansible: await toolVersion('ansible --version'),
      postgres: pg,
      pg_dump: await toolVersion('pg_dump --version'),
      git: await toolVersion('git --version'),
      nginx: await toolVersion('/usr/sbin/nginx -v'),
      gunicorn: await toolVersion('gunicorn --version'),
      zstd: await toolVersion('zstd -V'),
      gzip: await toolVersion('gzip --version'),
      pigz: await toolVersion('pigz --version'),
      ssh2: JSON.parse(await sh(`cat ${ROOT}/node_modules/ssh2/package.json`)).version,
    },
    loadAverageAtStart: os.loadavg().map(x => Math.round(x * 100) / 100),
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (args.render) {
    const results = JSON.parse(readFileSync(join(args.out, 'results.json'), 'utf8'))
    writeFileSync(join(args.out, 'RESULTS.md'), renderMarkdown(results))
    log(`rewrote ${join(args.out, 'RESULTS.md')} from results.json`)
    return
  }
  const started = Date.now()
  await ensurePrerequisites()
  const waitedSeconds = await waitQuiet(args.waitQuiet)
  const meta = { ...(await machine(args)), waitedForQuietSeconds: waitedSeconds }
  const work = workDir(join(BENCH, 'work', `run-${process.pid}`))
  meta.build = {
    commit: (await sh(`git -C ${ROOT} rev-parse HEAD`)).trim(),
    dirtyFiles: (await sh(`git -C ${ROOT} status --porcelain -- src dist action.yml actions | wc -l`)).trim(),
    bundleSha256: await freezeActions(join(work, 'actions'), ['release', 'snapshot', 'run']),
  }
  const proxy = await ProxyClient.start()
  const nginx = await startNginx()
  const repo = await makeAppRepo(join(work, 'fixture-repo'))
  // Quick mode restarts Gunicorn with HUP (under a second) instead of USR2 (three or four).
  const ctx = { quick: args.quick, runs: args.runs, work, proxy, repo, signal: args.quick ? 'hup' : 'usr2' }
  const previous = args.merge ? JSON.parse(readFileSync(join(args.out, 'results.json'), 'utf8')) : undefined
  const results = previous ?? { meta, scenarios: {}, errors: {} }
  if (previous) {
    results.meta.merges = [...(previous.meta.merges ?? []), { scenarios: args.only, date: meta.date, command: meta.command, runs: meta.runs, loadAverageAtStart: meta.loadAverageAtStart, build: meta.build }]
    for (const name of args.only) delete results.errors[name]
  }
  try {
    for (const name of args.only) {
      log(`── ${name}`)
      const t = Date.now()
      const load = os.loadavg()[0]
      try {
        results.scenarios[name] = { ...(await SCENARIOS[name](ctx)), ranAt: new Date(t).toISOString(), bundles: meta.build.bundleSha256, loadAverage1m: { before: Math.round(load * 100) / 100, after: Math.round(os.loadavg()[0] * 100) / 100 }, seconds: Math.round((Date.now() - t) / 1000) }
      } catch (e) {
        log(`${name} failed: ${e.stack ?? e}`)
        results.errors[name] = String(e.stack ?? e)
      }
    }
  } finally {
    await proxy.close()
    await nginx.stop()
    await sh(`rm -rf ${work}`).catch(() => undefined)
  }
  if (previous) {
    results.meta.merges.at(-1).loadAverageAtEnd = os.loadavg().map(x => Math.round(x * 100) / 100)
    results.meta.merges.at(-1).totalSeconds = Math.round((Date.now() - started) / 1000)
  } else {
    meta.loadAverageAtEnd = os.loadavg().map(x => Math.round(x * 100) / 100)
    meta.totalSeconds = Math.round((Date.now() - started) / 1000)
  }
  mkdirSync(args.out, { recursive: true })
  writeFileSync(join(args.out, 'results.json'), JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(args.out, 'RESULTS.md'), renderMarkdown(results))
  log(`wrote ${join(args.out, 'results.json')} and RESULTS.md in ${Math.round((Date.now() - started) / 1000)} s`)
  if (Object.keys(results.errors).length) process.exit(1)
}

main().catch(e => {
  console.error(e.stack ?? e)
  process.exit(1)
})
