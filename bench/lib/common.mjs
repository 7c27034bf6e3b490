// What every scenario needs: the test server's facts, local commands, running a dist
// bundle exactly as the GitHub runner does (as test/integration/support/runner.ts), and
// the fixture app's server side (as test/integration/support/fixture.ts), in plain ESM.

import { execFile, spawn } from 'child_process'
import { randomBytes } from 'crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs'
import http from 'http'
import net from 'net'
import { dirname, join, resolve } from 'path'
import { performance } from 'perf_hooks'
import { clearTimeout } from 'timers'
import { fileURLToPath } from 'url'
import { parse } from 'yaml'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const BENCH = join(ROOT, 'bench')
export const FIXTURES = join(ROOT, 'test/fixtures')
export const APP_SERVER = join(FIXTURES, 'app-server.sh')
export const STATE = process.env.SLIPWAY_TEST_STATE ?? '/var/lib/slipway-test'

export const now = () => performance.timeOrigin + performance.now()
export const sleep = ms => new Promise(r => setTimeout(r, ms))
export const hex = (n = 4) => randomBytes(n).toString('hex')
export const q = s => `'${String(s).replace(/'/g, `'\\''`)}'`

// ---------------------------------------------------------------- the test server

function readEnv() {
  const env = {}
  for (const line of readFileSync(`${STATE}/env`, 'utf8').split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return env
}

export const server = (() => {
  const e = readEnv()
  return {
    host: e.SLIPWAY_TEST_HOST,
    port: Number(e.SLIPWAY_TEST_PORT),
    user: e.SLIPWAY_TEST_USER,
    keyFile: e.SLIPWAY_TEST_KEY,
    key: readFileSync(e.SLIPWAY_TEST_KEY, 'utf8'),
    fingerprint: e.SLIPWAY_TEST_HOST_FP,
    dbPassword: readFileSync(e.SLIPWAY_TEST_DB_PASSWORD_FILE, 'utf8').trim(),
    hostKeyLine: readFileSync(`${STATE}/keys/host_ed25519.pub`, 'utf8').split(' ').slice(0, 2).join(' '),
  }
})()

/** A work directory for this run (bench/work is gitignored), or `dir` when given. */
export function workDir(base) {
  const dir = base ?? join(BENCH, 'work')
  mkdirSync(dir, { recursive: true })
  return dir
}

/** known_hosts pinning the test server's key for any port (the proxies listen on others). */
export function knownHostsFile(dir, ports) {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'known_hosts')
  writeFileSync(file, [...new Set([server.port, ...ports])].map(p => `[127.0.0.1]:${p} ${server.hostKeyLine}`).join('\n') + '\n')
  return file
}

// ---------------------------------------------------------------- local commands

/** bash -c as root; resolves with stdout, rejects with output on failure. */
export function sh(command, { timeoutMs = 600_000, input } = {}) {
  return new Promise((ok, fail) => {
    const child = execFile('bash', ['-c', command], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${command.slice(0, 300)}\n→ ${err.message}\n${stderr}`.trim()))
      else ok(stdout)
    })
    if (input !== undefined) child.stdin.end(input)
  })
}

export const asDeploy = (command, opts) => sh(`runuser -u deploy -- bash -c ${q(command)}`, opts)

/** Runs argv; resolves with {code, stdout, stderr, ms, startedAt}; never rejects on exit status. */
export function timed(argv, { env, cwd, input, timeoutMs = 600_000 } = {}) {
  return new Promise(resolve => {
    const startedAt = now()
    const child = spawn(argv[0], argv.slice(1), { env: env ?? process.env, cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', c => (stdout += c))
    child.stderr.on('data', c => (stderr += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: now() - startedAt, startedAt })
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(input ?? '')
  })
}

export function toolVersion(command) {
  return sh(`${command} 2>&1 | head -n 1`).then(s => s.trim(), e => `unavailable (${e.message.split('\n')[0]})`)
}

// ---------------------------------------------------------------- dist bundles as the runner runs them

// The actions run from a copy taken when the bench starts (freezeActions): other engineers
// rebuild dist/ on this machine, and every scenario must run the same build.
let actionsRoot = ROOT

/**
 * Copies action.yml, actions/<name>/action.yml and dist/<name>/ into `dir` (waiting for a
 * build in progress to finish) and runs the actions from there; returns the sha256 of
 * each bundle, to identify the build in the results.
 */
export async function freezeActions(dir, names) {
  for (let i = 0; i < 120 && names.some(n => !existsSync(join(ROOT, `dist/${n}/index.js`))); i++) await sleep(1000)
  await sh(`rm -rf ${q(dir)} && mkdir -p ${q(dir)}/actions ${q(dir)}/dist && cp ${q(ROOT)}/action.yml ${q(dir)}/`)
  const bundles = {}
  for (const n of names) {
    if (n !== 'release') await sh(`mkdir -p ${q(`${dir}/actions/${n}`)} && cp ${q(`${ROOT}/actions/${n}/action.yml`)} ${q(`${dir}/actions/${n}/`)}`)
    await sh(`cp -r ${q(`${ROOT}/dist/${n}`)} ${q(`${dir}/dist/`)}`)
    bundles[n] = (await sh(`sha256sum ${q(`${dir}/dist/${n}/index.js`)}`)).slice(0, 16)
  }
  actionsRoot = dir
  return bundles
}

function readActionYaml(action) {
  const dir = action === 'release' ? actionsRoot : join(actionsRoot, 'actions', action)
  const spec = parse(readFileSync(join(dir, 'action.yml'), 'utf8'))
  return { dir, spec }
}

/**
 * Runs dist/<action>/index.js as the runner would: INPUT_* for every declared input
 * (defaults applied), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY; workflow commands interpreted.
 * `rss: true` wraps node in /usr/bin/time to report its peak resident memory.
 */
export async function runAction(action, inputs, { env: extraEnv = {}, cwd, timeoutMs = 1_800_000, rss = false, onSpawn } = {}) {
  const { dir, spec } = readActionYaml(action)
  const declared = spec.inputs ?? {}
  for (const name of Object.keys(inputs)) if (!(name in declared)) throw new Error(`bench passes input '${name}', which ${action}/action.yml does not declare`)
  const tmp = mkdtempSync(join(workDir(), 'runner-'))
  const outputFile = join(tmp, 'output')
  const summaryFile = join(tmp, 'summary')
  writeFileSync(outputFile, '')
  writeFileSync(summaryFile, '')
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_STATE: join(tmp, 'state'),
    RUNNER_TEMP: tmp,
    RUNNER_OS: 'Linux',
    GITHUB_WORKSPACE: cwd ?? tmp,
    GITHUB_REPOSITORY: 'example/app',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'bench',
    GITHUB_WORKFLOW: 'bench',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    ...extraEnv,
  }
  for (const [name, def] of Object.entries(declared)) {
    const given = inputs[name]
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = given ?? (def.default === undefined ? '' : String(def.default))
  }
  const main = join(dir, spec.runs.main)
  const rssFile = join(tmp, 'rss')
  const argv = rss ? ['/usr/bin/time', '-f', '%M %U %S', '-o', rssFile, process.execPath, main] : [process.execPath, main]
  const startedAt = now()
  const child = spawn(argv[0], argv.slice(1), { env, cwd: cwd ?? tmp, stdio: ['ignore', 'pipe', 'pipe'] })
  onSpawn?.(child, startedAt)
  let raw = ''
  // When each line arrived, relative to the spawn: a timeline of the run for profiles.
  const timeline = []
  let partial = ''
  child.stdout.on('data', c => {
    raw += c
    const t = now() - startedAt
    const parts = (partial + c).split('\n')
    partial = parts.pop()
    for (const line of parts) if (!line.startsWith('::add-mask::')) timeline.push({ ms: Math.round(t), line: line.slice(0, 200) })
  })
  child.stderr.on('data', c => (raw += c))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const exitCode = await new Promise(r => child.on('close', code => r(code)))
  const ms = now() - startedAt
  clearTimeout(timer)
  const masks = []
  const log = []
  for (const line of raw.split('\n')) {
    const m = /^::add-mask::(.*)$/.exec(line)
    if (m) {
      masks.push(m[1])
      continue
    }
    const a = /^::(error|warning)[^:]*::(.*)$/.exec(line)
    log.push(a ? a[2].replace(/%0A/g, '\n').replace(/%25/g, '%') : line)
  }
  const mask = s => masks.filter(Boolean).reduce((t, m) => t.split(m).join('***'), s)
  const result = {
    exitCode,
    log: mask(log.join('\n')),
    outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
    summary: readFileSync(summaryFile, 'utf8'),
    ms,
    startedAt,
    timeline,
    ...(rss ? usage(readFileSync(rssFile, 'utf8')) : {}),
  }
  rmSync(tmp, { recursive: true, force: true })
  return result
}

/** /usr/bin/time -f '%M %U %S': peak RSS (KiB) and CPU seconds of the node process. */
function usage(text) {
  const [kb, user, sys] = text.trim().split('\n').pop().split(' ').map(Number)
  return { maxRssKb: kb, cpuMs: (user + sys) * 1000 }
}

export function parseOutputFile(text) {
  const out = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const value = []
      while (++i < lines.length && lines[i] !== heredoc[2]) value.push(lines[i])
      out[heredoc[1]] = value.join('\n')
    } else if (lines[i].includes('=')) {
      const eq = lines[i].indexOf('=')
      out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1)
    }
  }
  return out
}

/** Fails with the action's log when it did not succeed. */
export function expectOk(r, what) {
  if (r.exitCode !== 0) throw new Error(`${what} failed (exit ${r.exitCode}):\n${r.log.split('\n').slice(-40).join('\n')}`)
  return r
}

/** The "Steps" table of a release summary: [{step, ms}] (durations as the summary prints them). */
export function summarySteps(summary) {
  const rows = []
  for (const m of summary.matchAll(/^\| [^|]+ \| ([^|]+) \| (?:(\d+) m )?([\d.]+) (ms|s) \| ok \|$/gm)) {
    const n = Number(m[3])
    rows.push({ step: m[1].trim(), ms: (Number(m[2] ?? 0) * 60_000) + (m[4] === 'ms' ? n : n * 1000) })
  }
  return rows
}

/** Connection inputs of every action, for the server directly or through a proxy port. */
export function connection(port = server.port) {
  return { host: `${server.host}:${port}`, user: server.user, 'private-key': server.key, fingerprint: server.fingerprint }
}

// ---------------------------------------------------------------- the fixture app's server side

/** Generates the fixture repository into `dir` (root-owned, world-readable); returns tag → sha. */
export async function makeAppRepo(dir) {
  rmSync(dir, { recursive: true, force: true })
  const out = await sh(`bash ${q(join(FIXTURES, 'make-app-repo.sh'))} ${q(dir)}`)
  const shas = {}
  for (const line of out.trim().split('\n')) {
    const [tag, sha] = line.split(' ')
    shas[tag] = sha
  }
  return { dir, shas }
}

export async function createPgDatabase(name = `bench_${hex()}`) {
  await sh(`psql -U postgres -h /var/run/postgresql -qc ${q(`create database ${name} owner app`)}`)
  return name
}

export const dropPgDatabase = name => sh(`psql -U postgres -h /var/run/postgresql -qc ${q(`drop database if exists ${name} with (force)`)}`)

function localSettings(db, mediaRoot) {
  return [
    '# Written by the slipway benchmarks.',
    `SECRET_KEY = 'bench-${hex(8)}'`,
    "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']",
    `DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': '${db}', 'USER': 'app', 'PASSWORD': '${server.dbPassword}', 'HOST': '127.0.0.1', 'PORT': '5432'}}`,
    `MEDIA_ROOT = '${mediaRoot}'`,
    '',
  ].join('\n')
}

function portFree(port) {
  return new Promise(ok => {
    const s = net.createServer()
    s.once('error', () => ok(false))
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)))
  })
}

const taken = new Set()
/** A free port in 8300-8399 (the integration tests use 8100-8199). */
export async function freePort() {
  const start = Math.floor(Math.random() * 100)
  for (let i = 0; i < 100; i++) {
    const port = 8300 + ((start + i) % 100)
    if (!taken.has(port) && (await portFree(port))) {
      taken.add(port)
      return port
    }
  }
  throw new Error('no free port in 8300-8399')
}

/**
 * The benchmarks' own nginx (not the test server's shared one, which other test runs
 * reload and sometimes break on purpose): same shape, its own sites directory.
 */
export async function startNginx() {
  const dir = `/tmp/slipway-bench-nginx-${process.pid}`
  await sh(`rm -rf ${dir} && mkdir -p ${dir}/sites ${dir}/logs ${dir}/tmp && chown nobody ${dir}/tmp && chown deploy ${dir}/sites`)
  const conf = `${dir}/nginx.conf`
  const port = await freePort()
  writeFileSync(
    conf,
    [
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/logs/error.log;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(t => `  ${t}_temp_path ${dir}/tmp/${t};`),
      `  include ${dir}/sites/*.conf;`,
      // Without a server of its own nginx would listen on *:80.
      `  server { listen 127.0.0.1:${port} default_server; location = /up { return 200 "up\\n"; } }`,
      '}',
      '',
    ].join('\n'),
  )
  await sh(`/usr/sbin/nginx -c ${conf}`)
  nginx = { dir, conf, sites: `${dir}/sites` }
  return {
    ...nginx,
    stop: async () => {
      await sh(`/usr/sbin/nginx -c ${conf} -s quit`).catch(() => undefined)
      await sleep(300)
      await sh(`rm -rf ${dir}`).catch(() => undefined)
    },
  }
}

let nginx
export const nginxConf = () => {
  if (!nginx) throw new Error('startNginx() first')
  return nginx.conf
}

export async function reloadNginx() {
  await sh(`/usr/sbin/nginx -t -q -c ${nginxConf()} && /usr/sbin/nginx -s reload -c ${nginxConf()}`)
}

export function httpGet(url, timeoutMs = 10_000) {
  return new Promise((ok, fail) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', c => (body += c))
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }))
      res.on('error', fail)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', fail)
  })
}

export async function waitFor(probe, timeoutMs, what) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return
    await sleep(100)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/**
 * A fresh app on the server, laid out as slipway lays it out: /srv/slipway/bench-<name>-…
 * with shared/fixture/local_settings.py, its own PostgreSQL database, ports for Gunicorn
 * and an nginx site in front. cleanup() removes all of it.
 */
export async function newApp(name, { nginx: withNginx = true, db: dbName } = {}) {
  const root = `/srv/slipway/bench-${name}-${process.pid}-${hex()}`
  await sh(`install -d -o deploy -g deploy -m 0755 ${root} ${root}/releases ${root}/venvs ${root}/shared ${root}/shared/run ${root}/shared/log ${root}/shared/media ${root}/shared/fixture`)
  const db = dbName ?? (await createPgDatabase())
  writeFileSync(`${root}/shared/fixture/local_settings.py`, localSettings(db, `${root}/shared/media`), { mode: 0o640 })
  await sh(`chown deploy:deploy ${root}/shared/fixture/local_settings.py`)
  const appPort = await freePort()
  const web = withNginx ? await freePort() : undefined
  const site = withNginx ? `${nginx.sites}/bench-${name}-${web}.conf` : undefined
  if (withNginx) {
    const text = await sh(`bash ${APP_SERVER} nginx-site ${root} bench-${name}-${web} ${web} ${appPort}`)
    writeFileSync(site, text)
    await reloadNginx()
    await waitFor(() => httpGet(`http://127.0.0.1:${web}/`).then(() => true), 10_000, `nginx on ${web}`)
  }
  const app = {
    root,
    db,
    appPort,
    web,
    healthUrl: withNginx ? `http://127.0.0.1:${web}/health` : `http://127.0.0.1:${appPort}/health`,
    restartCommand: (signal = 'usr2') => `${APP_SERVER} restart ${root} ${appPort} --signal ${signal}`,
    async cleanup() {
      await asDeploy(`bash ${APP_SERVER} stop ${root}`).catch(() => undefined)
      if (site) {
        rmSync(site, { force: true })
        await reloadNginx().catch(() => undefined)
      }
      if (!dbName) await dropPgDatabase(db).catch(() => undefined)
      await sh(`rm -rf -- ${q(root)}`)
    },
  }
  return app
}

/**
 * Untimed setup: release v1 of the fixture app with slipway. The virtualenv (same
 * requirements for v1 and v2) is built once per bench run and copied into later apps,
 * which slipway then reuses as it would its own ("reusing virtualenv"); this only
 * shortens the setup, every measured release sees the same state.
 */
export async function releaseV1(ctx, app, overrides = {}) {
  if (ctx.venvTemplate) await sh(`cp -a ${q(ctx.venvTemplate)}/. ${q(`${app.root}/venvs`)}/ && chown -R deploy:deploy ${q(`${app.root}/venvs`)}`)
  const r = expectOk(await runAction('release', releaseInputs(app, ctx.repo.dir, { ref: 'v1', signal: ctx.signal, ...overrides })), 'setup: slipway release v1')
  if (!ctx.venvTemplate) {
    ctx.venvTemplate = join(ctx.work, 'venv-template')
    await sh(`rm -rf ${q(ctx.venvTemplate)} && cp -a ${q(`${app.root}/venvs`)} ${q(ctx.venvTemplate)}`)
  }
  return r
}

/** Release inputs for the fixture app (the integration tests' set). */
export function releaseInputs(app, repoDir, { port, signal = 'usr2', ...overrides } = {}) {
  return {
    ...connection(port),
    path: app.root,
    'working-directory': repoDir,
    shared: 'fixture/local_settings.py',
    python: '/usr/bin/python3',
    'system-site-packages': 'true',
    restart: app.restartCommand(signal),
    proxy: 'nginx',
    'proxy-config': nginxConf(),
    'health-url': app.healthUrl,
    'health-timeout': '30s',
    ...overrides,
  }
}

// ---------------------------------------------------------------- statistics

export function median(xs) {
  const v = xs.filter(x => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

export function summary(xs) {
  const v = xs.filter(x => typeof x === 'number' && Number.isFinite(x))
  if (!v.length) return { n: 0, median: null, min: null, max: null, runs: [] }
  return { n: v.length, median: median(v), min: Math.min(...v), max: Math.max(...v), runs: v.map(x => Math.round(x * 100) / 100) }
}

export const ratio = (a, b) => (a == null || b == null || b === 0 ? null : Number((a / b).toPrecision(4)))

/** Rotates `items` by `i` so that each tool goes first in turn (spreads drift and noise). */
export const rotate = (items, i) => items.map((_, k) => items[(k + i) % items.length])

export function log(...args) {
  const t = new Date().toISOString().slice(11, 19)
  console.log(`[bench ${t}]`, ...args)
}
