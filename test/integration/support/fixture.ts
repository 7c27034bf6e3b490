// The fixture Django app and its server side, for integration tests, benchmarks and
// end-to-end tests: a git repository of tagged releases (test/fixtures/make-app-repo.sh),
// databases to run it on, Gunicorn/Daphne through test/fixtures/app-server.sh, and an
// nginx site in front. Everything runs on this machine (it is the server), as root, or as
// the deploy user where ownership matters.
import { execFile, execFileSync } from 'child_process'
import { randomBytes } from 'crypto'
import { writeFileSync } from 'fs'
import http from 'http'
import net from 'net'
import { resolve } from 'path'
import { server, sh } from './server'

export const FIXTURES = resolve(__dirname, '../../fixtures')
/** Absolute path of the server-side helper; the server is this machine, so use it in place. */
export const APP_SERVER = `${FIXTURES}/app-server.sh`
export const SYSTEM_PYTHON = '/usr/bin/python3'

export const FIXTURE_TAGS = [
  'v1',
  'v2',
  'v3-requirements',
  'bad-migration',
  'bad-migration-mariadb',
  'bad-static',
  'bad-health',
  'bad-import',
  'slow-health',
] as const
export type FixtureTag = (typeof FIXTURE_TAGS)[number]

export interface AppRepo {
  /** The repository (work tree on master, which is v3-requirements). */
  dir: string
  /** Where manage.py lives below the repository root: '' or e.g. 'src'. */
  projectDir: string
  /** Commit id of every tag; the same on every machine. */
  shas: Record<FixtureTag, string>
}

export const suffix = (): string => randomBytes(4).toString('hex')
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** Runs a bash command as the deploy user; throws with its output on failure. */
export function asDeploy(command: string): string {
  return execFileSync('su', ['-s', '/bin/bash', 'deploy', '-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

export interface Outcome {
  code: number
  stdout: string
  stderr: string
}

/** Like asDeploy, but asynchronous and never throws: the exit code and both streams. */
export function asDeployAsync(command: string, timeoutMs = 120_000): Promise<Outcome> {
  return new Promise((done) => {
    execFile('su', ['-s', '/bin/bash', 'deploy', '-c', command], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      done({ code, stdout, stderr })
    })
  })
}

/** Synchronous asDeployAsync: exit code and output, no throw. */
export function tryAsDeploy(command: string): Outcome {
  try {
    return { code: 0, stdout: asDeploy(command), stderr: '' }
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string }
    return { code: err.status ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

/**
 * Generates the fixture repository (about a second). `dir` defaults to a fresh directory
 * under /tmp. It belongs to root, like the runner's checkout, and is world-readable; pass
 * owner 'deploy' when the deploy user must run git in it (git refuses repositories of
 * other users unless `-c safe.directory=<dir>` is given).
 */
export function makeAppRepo(opts: { dir?: string; projectDir?: string; owner?: 'root' | 'deploy' } = {}): AppRepo {
  const dir = opts.dir ?? `/tmp/slipway-fixture-repo-${process.pid}-${suffix()}`
  const projectDir = opts.projectDir ?? ''
  const args = [`${FIXTURES}/make-app-repo.sh`, ...(projectDir ? ['--project-dir', projectDir] : []), dir]
  const out = execFileSync('bash', args, { encoding: 'utf8' })
  if (opts.owner === 'deploy') sh(`chown -R deploy:deploy ${q(dir)}`)
  const shas = {} as Record<FixtureTag, string>
  for (const line of out.trim().split('\n')) {
    const [tag, sha] = line.split(' ')
    shas[tag as FixtureTag] = sha
  }
  return { dir, projectDir, shas }
}

export type Engine = 'postgresql' | 'mysql' | 'sqlite3'

export interface Database {
  engine: Engine
  /** Database name, or the SQLite file. */
  name: string
  drop(): void
}

/** A fresh PostgreSQL database `fixture_<random>` owned by role app. */
export function createPgDatabase(name = `fixture_${suffix()}`): Database {
  sh(`psql -U postgres -h /var/run/postgresql -qc ${q(`create database ${name} owner app`)}`)
  return { engine: 'postgresql', name, drop: () => dropPgDatabase(name) }
}

export function dropPgDatabase(name: string): void {
  sh(`psql -U postgres -h /var/run/postgresql -qc ${q(`drop database if exists ${name} with (force)`)}`)
}

/** A fresh MariaDB database `app_fx_<random>` (user app has rights on app_%). */
export function createMariaDatabase(name = `app_fx_${suffix()}`): Database {
  sh(`mariadb -e ${q(`create database \`${name}\` character set utf8mb4`)}`)
  return { engine: 'mysql', name, drop: () => dropMariaDatabase(name) }
}

export function dropMariaDatabase(name: string): void {
  sh(`mariadb -e ${q(`drop database if exists \`${name}\``)}`)
}

/** An SQLite database file (created by migrate); drop() deletes it. */
export function sqliteDatabase(file: string): Database {
  return { engine: 'sqlite3', name: file, drop: () => sh(`rm -f ${q(file)}`) }
}

/** Runs SQL in a fixture database as an administrator; returns tab-separated rows. */
export function sql(db: Database, query: string): string {
  if (db.engine === 'postgresql') return sh(`psql -U postgres -h /var/run/postgresql -d ${db.name} -qtAc ${q(query)}`).trim()
  if (db.engine === 'mysql') return sh(`mariadb -N -B ${db.name} -e ${q(query)}`).trim()
  return sh(`sqlite3 ${q(db.name)} ${q(query)}`).trim()
}

/** Table names of a fixture database. */
export function tables(db: Database): string[] {
  const query =
    db.engine === 'postgresql'
      ? "select tablename from pg_tables where schemaname = 'public' order by 1"
      : db.engine === 'mysql'
        ? 'show tables'
        : "select name from sqlite_master where type = 'table' order by 1"
  return sql(db, query).split('\n').filter(Boolean)
}

export interface LocalSettingsOptions {
  db: Database
  /** MEDIA_ROOT; usually <app_root>/shared/media. */
  mediaRoot: string
  /** Extra Python lines (e.g. `SLOW_HEALTH_SECONDS = 1`). */
  extra?: string
}

/** The text of a local_settings.py for the fixture app (password from the test server). */
export function localSettings(o: LocalSettingsOptions): string {
  const pw = server.dbPassword
  const db =
    o.db.engine === 'postgresql'
      ? `{'ENGINE': 'django.db.backends.postgresql', 'NAME': '${o.db.name}', 'USER': 'app', 'PASSWORD': '${pw}', 'HOST': '127.0.0.1', 'PORT': '5432'}`
      : o.db.engine === 'mysql'
        ? `{'ENGINE': 'django.db.backends.mysql', 'NAME': '${o.db.name}', 'USER': 'app', 'PASSWORD': '${pw}', 'HOST': '127.0.0.1', 'PORT': '3306', 'OPTIONS': {'charset': 'utf8mb4'}}`
        : `{'ENGINE': 'django.db.backends.sqlite3', 'NAME': '${o.db.name}'}`
  return [
    '# Written by the slipway integration tests.',
    `SECRET_KEY = 'fixture-${suffix()}'`,
    "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']",
    `DATABASES = {'default': ${db}}`,
    `MEDIA_ROOT = '${o.mediaRoot}'`,
    o.extra ?? '',
    '',
  ].join('\n')
}

/** Writes local_settings.py at `path` (e.g. <app_root>/shared/local_settings.py), owned by deploy. */
export function writeLocalSettings(path: string, o: LocalSettingsOptions): void {
  writeFileSync(path, localSettings(o), { mode: 0o640 })
  sh(`chown deploy:deploy ${q(path)}`)
}

/**
 * An app root laid out as slipway lays it out: releases/, shared/{run,log,media}, owned by
 * deploy, under /srv/slipway.
 */
export function makeAppRoot(name: string): string {
  const root = `/srv/slipway/${name}-${process.pid}-${suffix()}`
  sh(`install -d -o deploy -g deploy -m 0755 ${root} ${root}/releases ${root}/shared ${root}/shared/run ${root}/shared/log ${root}/shared/media`)
  return root
}

export interface ReleaseOptions {
  repo: AppRepo
  tag: FixtureTag
  appRoot: string
  /** releases/<id>; defaults to the tag. */
  id?: string
  /** A virtualenv to link as .venv instead of building one (same requirements). */
  venvFrom?: string
  /** Skip the virtualenv entirely (the system python then runs the app). */
  noVenv?: boolean
  /** Create the virtualenv but do not pip install (a release that cannot import its requirements). */
  skipInstall?: boolean
}

/**
 * Builds a release directory by hand, the way slipway will: git archive, a virtualenv
 * with system site packages and `pip install -r requirements.txt` (offline, a local
 * wheel), and local_settings.py linked from shared/. Returns the release directory. Does
 * not migrate or collect static files (see manage()).
 */
export function buildRelease(o: ReleaseOptions): string {
  const dir = `${o.appRoot}/releases/${o.id ?? o.tag}`
  const project = o.repo.projectDir ? `${dir}/${o.repo.projectDir}` : dir
  asDeploy(`mkdir ${q(dir)}`)
  sh(`set -o pipefail; git -c safe.directory='*' -C ${q(o.repo.dir)} archive ${o.tag} | su -s /bin/bash deploy -c ${q(`tar -x -C ${q(dir)}`)}`)
  asDeploy(
    [
      'set -euo pipefail',
      `ln -s ${q(`${o.appRoot}/shared/local_settings.py`)} ${q(`${project}/fixture/local_settings.py`)}`,
      o.noVenv
        ? 'true'
        : o.venvFrom
          ? `ln -s ${q(o.venvFrom)} ${q(`${dir}/.venv`)}`
          : `cd ${q(dir)} && ${SYSTEM_PYTHON} -m venv --system-site-packages .venv` +
            (o.skipInstall ? '' : ' && .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt'),
    ].join('\n'),
  )
  return dir
}

/** `python manage.py <args>` in a release, with its .venv when it has one. */
export function manage(release: string, args: string, projectDir = ''): Outcome {
  const cwd = projectDir ? `${release}/${projectDir}` : release
  const python = `$( [ -x ${q(`${release}/.venv/bin/python`)} ] && echo ${q(`${release}/.venv/bin/python`)} || echo ${SYSTEM_PYTHON} )`
  return tryAsDeploy(`cd ${q(cwd)} && ${python} manage.py ${args}`)
}

/** Points <app_root>/current at a release atomically (new link, then mv -T). */
export function switchCurrent(appRoot: string, release: string): void {
  asDeploy(`ln -sfn ${q(release)} ${q(`${appRoot}/current.new`)} && mv -T ${q(`${appRoot}/current.new`)} ${q(`${appRoot}/current`)}`)
}

export interface AppServerOptions {
  projectDir?: string
  workers?: number
  signal?: 'usr2' | 'hup'
  timeout?: number
}

function appServerArgs(o: AppServerOptions): string {
  return [
    o.projectDir ? `--project-dir ${q(o.projectDir)}` : '',
    o.workers ? `--workers ${o.workers}` : '',
    o.signal ? `--signal ${o.signal}` : '',
    o.timeout ? `--timeout ${o.timeout}` : '',
  ].join(' ')
}

/** The shell command (for the deploy user) that restarts Gunicorn on the live release. */
export function restartCommand(appRoot: string, bind: number | string, o: AppServerOptions = {}): string {
  return `${APP_SERVER} restart ${q(appRoot)} ${q(String(bind))} ${appServerArgs(o)}`.trim()
}

/** Restarts Gunicorn as deploy (asynchronous, so requests can run meanwhile). */
export function restartApp(appRoot: string, bind: number | string, o: AppServerOptions = {}): Promise<Outcome> {
  return asDeployAsync(restartCommand(appRoot, bind, o))
}

export function stopApp(appRoot: string): Outcome {
  return tryAsDeploy(`${APP_SERVER} stop ${q(appRoot)}`)
}

/** `app-server.sh status`: "running pid=... bind=... release=... workers=..." or "stopped". */
export function appStatus(appRoot: string): string {
  return tryAsDeploy(`${APP_SERVER} status ${q(appRoot)}`).stdout.trim()
}

export function restartDaphne(appRoot: string, port: number, o: Pick<AppServerOptions, 'projectDir' | 'timeout'> = {}): Promise<Outcome> {
  return asDeployAsync(`${APP_SERVER} restart-daphne ${q(appRoot)} ${port} ${appServerArgs(o)}`)
}

export function stopDaphne(appRoot: string): Outcome {
  return tryAsDeploy(`${APP_SERVER} stop-daphne ${q(appRoot)}`)
}

/** The nginx server block for an app root (see app-server.sh nginx-site). */
export function nginxSite(appRoot: string, name: string, listenPort: number, upstream: number | string, projectDir = ''): string {
  return execFileSync('bash', [APP_SERVER, 'nginx-site', appRoot, name, String(listenPort), String(upstream), ...(projectDir ? ['--project-dir', projectDir] : [])], {
    encoding: 'utf8',
  })
}

const NGINX_CONF = `${server.state}/nginx/nginx.conf`
const NGINX_SITES = `${server.state}/nginx/sites`

/** `sudo nginx -t` then `sudo nginx -s reload` as deploy, as a release would. */
export function reloadNginx(): void {
  asDeploy(`sudo /usr/sbin/nginx -t -q -c ${NGINX_CONF} && sudo /usr/sbin/nginx -s reload -c ${NGINX_CONF}`)
}

/**
 * Writes the site into the test nginx's sites dir (as deploy), tests and reloads nginx,
 * and waits until the port answers. Returns a function that removes it again.
 */
export async function installNginxSite(name: string, text: string, listenPort: number): Promise<() => void> {
  const file = `${NGINX_SITES}/${name}.conf`
  asDeploy(`cat > ${q(file)} <<'SLIPWAY_SITE'\n${text}SLIPWAY_SITE`)
  try {
    reloadNginx()
  } catch (e) {
    sh(`rm -f ${q(file)}`)
    throw e
  }
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${listenPort}/`).catch(() => null)) !== null, 10_000, `nginx on 127.0.0.1:${listenPort}`)
  return () => {
    sh(`rm -f ${q(file)}`)
    reloadNginx()
  }
}

export interface HttpResult {
  status: number
  body: string
}

/** A GET with a timeout; rejects on connection errors. */
export function httpGet(url: string, timeoutMs = 10_000): Promise<HttpResult> {
  return new Promise((ok, fail) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }))
      res.on('error', fail)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)))
    req.on('error', fail)
  })
}

export async function waitFor(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await probe()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = net.createServer()
    s.once('error', () => ok(false))
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)))
  })
}

/** A port in 8100-8199 that nobody listens on now (random start, to keep apart from other tests). */
export async function freePort(exclude: number[] = []): Promise<number> {
  const start = Math.floor(Math.random() * 100)
  for (let i = 0; i < 100; i++) {
    const port = 8100 + ((start + i) % 100)
    if (!exclude.includes(port) && (await portFree(port))) return port
  }
  throw new Error('no free port in 8100-8199')
}

export interface LoadReport {
  total: number
  /** Requests that got no HTTP answer or a status other than 200. */
  failed: number
  statuses: Record<string, number>
  /** Response bodies seen, with counts (e.g. {"ok v1": 40, "ok v2": 60}). */
  bodies: Record<string, number>
  /** How long `until` took to settle. */
  durationMs: number
}

/**
 * Sends GETs to `url` from `concurrency` clients until `until` settles, then reports.
 * Use it around a restart to count failed requests during the switch.
 */
export async function loadDuring(url: string, until: Promise<unknown>, concurrency = 4): Promise<LoadReport> {
  const report: LoadReport = { total: 0, failed: 0, statuses: {}, bodies: {}, durationMs: 0 }
  const t0 = Date.now()
  let done = false
  void until.finally(() => {
    done = true
    report.durationMs = Date.now() - t0
  })
  const client = async () => {
    while (!done) {
      report.total++
      try {
        const r = await httpGet(url, 15_000)
        report.statuses[r.status] = (report.statuses[r.status] ?? 0) + 1
        const body = r.body.trim()
        report.bodies[body] = (report.bodies[body] ?? 0) + 1
        if (r.status !== 200) report.failed++
      } catch (e) {
        report.failed++
        const key = `error: ${(e as Error).message}`
        report.statuses[key] = (report.statuses[key] ?? 0) + 1
      }
    }
  }
  await Promise.all([until, ...Array.from({ length: concurrency }, client)])
  return report
}
