// The fixture app works on the real test server WITHOUT slipway: releases built by hand
// (git archive, virtualenv, offline pip install, migrate, collectstatic), Gunicorn through
// test/fixtures/app-server.sh, nginx in front; and every bad-* tag fails at its own step.
// The release tests rely on these facts, so they are proven here first.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type AppRepo,
  type Database,
  FIXTURE_TAGS,
  appStatus,
  buildRelease,
  createMariaDatabase,
  createPgDatabase,
  freePort,
  httpGet,
  installNginxSite,
  loadDuring,
  makeAppRepo,
  makeAppRoot,
  manage,
  nginxSite,
  restartApp,
  restartDaphne,
  sql,
  sqliteDatabase,
  stopApp,
  stopDaphne,
  switchCurrent,
  tables,
  writeLocalSettings,
} from './support/fixture'
import { sh } from './support/server'

// Cleanups run after each test even when it fails: servers, sites, databases, directories.
const cleanups: Array<() => void> = []
const later = (f: () => void) => cleanups.push(f)
afterEach(() => {
  for (const f of cleanups.splice(0).reverse()) {
    try {
      f()
    } catch (e) {
      console.warn(`cleanup failed: ${(e as Error).message}`)
    }
  }
})

function appRoot(name: string): string {
  const root = makeAppRoot(name)
  later(() => sh(`rm -rf ${root}`))
  return root
}

function database(db: Database): Database {
  later(() => db.drop())
  return db
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
}

function prepare(release: string, projectDir = ''): void {
  ok(manage(release, 'check', projectDir), 'manage.py check')
  ok(manage(release, 'migrate --noinput', projectDir), 'manage.py migrate')
  ok(manage(release, 'collectstatic --noinput', projectDir), 'manage.py collectstatic')
}

async function started(root: string, port: number, opts: Parameters<typeof restartApp>[2] = {}): Promise<void> {
  later(() => stopApp(root))
  const r = await restartApp(root, port, opts)
  ok(r, 'app-server.sh restart')
}

async function body(url: string): Promise<string> {
  const r = await httpGet(url)
  return `${r.status} ${r.body.trim()}`
}

describe('fixture app', () => {
  let repo: AppRepo
  beforeAll(() => {
    repo = makeAppRepo()
  })
  afterAll(() => {
    if (repo) sh(`rm -rf ${repo.dir}`)
  })

  it('is generated with the same commit ids every time, one per tag', () => {
    expect(Object.keys(repo.shas).sort()).toEqual([...FIXTURE_TAGS].sort())
    const again = makeAppRepo()
    try {
      expect(again.shas).toEqual(repo.shas)
    } finally {
      sh(`rm -rf ${again.dir}`)
    }
    // local_settings.py is ignored, the templates are tracked, master is v3-requirements.
    const files = sh(`git -C ${repo.dir} ls-tree -r --name-only v1`).split('\n')
    expect(files).toEqual(expect.arrayContaining(['manage.py', 'fixture/settings.py', 'fixture/local_settings.example.py',
      'fixture/local_settings.mariadb.example.py', 'fixture/local_settings.sqlite.example.py', 'notes/migrations/0001_initial.py',
      'notes/static/notes/app.css', 'requirements.txt', 'vendor/slipway_fixture_dep-1.0-py3-none-any.whl']))
    expect(sh(`cd ${repo.dir} && touch fixture/local_settings.py && git check-ignore fixture/local_settings.py && rm fixture/local_settings.py`).trim()).toBe('fixture/local_settings.py')
    expect(sh(`git -C ${repo.dir} rev-parse master`).trim()).toBe(repo.shas['v3-requirements'])
    expect(sh(`git -C ${repo.dir} show v2:requirements.txt`)).toBe(sh(`git -C ${repo.dir} show v1:requirements.txt`))
  })

  it('v1 then v2 and v3 run under Gunicorn behind nginx, and the switches lose no request', async () => {
    const root = appRoot('fixture-pg')
    const db = database(createPgDatabase())
    writeLocalSettings(`${root}/shared/local_settings.py`, { db, mediaRoot: `${root}/shared/media` })

    // v1: a real offline pip install of the vendored wheel into a fresh virtualenv.
    const r1 = buildRelease({ repo, tag: 'v1', appRoot: root, id: 'r1' })
    expect(sh(`${r1}/.venv/bin/python -m pip list --disable-pip-version-check 2>/dev/null`)).toMatch(/slipway[-_]fixture[-_]dep\s+1\.0/)
    prepare(r1)
    expect(sql(db, "select name from django_migrations where app = 'notes' order by 1")).toBe('0001_initial')
    switchCurrent(root, r1)

    const upstream = await freePort()
    const listen = await freePort([upstream])
    await started(root, upstream)
    expect(appStatus(root)).toMatch(new RegExp(`^running pid=\\d+ bind=127\\.0\\.0\\.1:${upstream} release=${r1} workers=\\d+,\\d+$`))
    const site = `fixture-${upstream}`
    later(await installNginxSite(site, nginxSite(root, site, listen, upstream), listen))
    const base = `http://127.0.0.1:${listen}`
    expect(await body(`${base}/health`)).toBe('200 ok v1')
    expect(await body(`${base}/version`)).toBe('200 v1')
    expect(await body(`${base}/static/notes/app.css`)).toContain('slipway fixture v1')

    // v2: same requirements, so the v1 virtualenv is reused; its migration runs while v1
    // serves (v1 only reads the columns it knows).
    const r2 = buildRelease({ repo, tag: 'v2', appRoot: root, id: 'r2', venvFrom: `${r1}/.venv` })
    prepare(r2)
    expect(await body(`${base}/health`)).toBe('200 ok v1')
    switchCurrent(root, r2)
    const usr2 = await loadDuring(`${base}/health`, restartApp(root, upstream))
    console.log(`restart v1 -> v2 (USR2): ${JSON.stringify(usr2)}`)
    expect(usr2.failed).toBe(0)
    expect(await body(`${base}/health`)).toBe('200 ok v2')
    expect(await body(`${base}/static/notes/app.css`)).toContain('slipway fixture v2')
    expect(appStatus(root)).toContain(`release=${r2} `)

    // Back to v1 with HUP (a code rollback; the schema stays at v2, which v1 tolerates).
    switchCurrent(root, r1)
    const hup = await loadDuring(`${base}/health`, restartApp(root, upstream, { signal: 'hup' }))
    console.log(`restart v2 -> v1 (HUP): ${JSON.stringify(hup)}`)
    expect(hup.failed).toBe(0)
    expect(await body(`${base}/health`)).toBe('200 ok v1')
    expect(await body(`${base}/static/notes/app.css`)).toContain('slipway fixture v1')

    // v3-requirements: v2's virtualenv is not enough (the app checks its wheel's version)...
    const stale = buildRelease({ repo, tag: 'v3-requirements', appRoot: root, id: 'r3-stale', venvFrom: `${r1}/.venv` })
    const check = manage(stale, 'check')
    expect(check.code).not.toBe(0)
    expect(check.stderr).toContain('needs slipway_fixture_dep 1.1 (requirements.txt) but the virtualenv has 1.0')
    // ...its own is: a new virtualenv picked up by the restart (HUP: the venv path is spelled through `current`).
    const r3 = buildRelease({ repo, tag: 'v3-requirements', appRoot: root, id: 'r3' })
    prepare(r3)
    switchCurrent(root, r3)
    const hup3 = await loadDuring(`${base}/health`, restartApp(root, upstream, { signal: 'hup' }))
    console.log(`restart v1 -> v3-requirements, new virtualenv (HUP): ${JSON.stringify(hup3)}`)
    expect(hup3.failed).toBe(0)
    expect(await body(`${base}/health`)).toBe('200 ok v3-requirements')
    expect(await body(`${base}/dep-version`)).toBe('200 1.1')
    switchCurrent(root, r2)
    const usr2b = await loadDuring(`${base}/health`, restartApp(root, upstream), 8)
    console.log(`restart v3-requirements -> v2, 8 clients (USR2): ${JSON.stringify(usr2b)}`)
    expect(usr2b.failed).toBe(0)
    expect(await body(`${base}/dep-version`)).toBe('200 1.0')

    // The app writes notes to the database and files to shared/media (data for snapshots).
    const post = sh(`curl -s -X POST -d title=hello ${base}/notes`).trim()
    expect(sh(`cat ${root}/shared/media/notes/${post}.txt`).trim()).toBe('hello')
    expect(await body(`${base}/notes`)).toBe('200 1')
  })

  it('each bad tag fails at its own step on PostgreSQL', async () => {
    const root = appRoot('fixture-bad')
    const db = database(createPgDatabase())
    writeLocalSettings(`${root}/shared/local_settings.py`, { db, mediaRoot: `${root}/shared/media`, extra: 'SLOW_HEALTH_SECONDS = 1' })
    const v2 = buildRelease({ repo, tag: 'v2', appRoot: root })
    prepare(v2)
    const venvFrom = `${v2}/.venv`
    const notesMigrations = () => sql(db, "select name from django_migrations where app = 'notes' order by 1").split('\n')
    const noteColumns = () => sql(db, "select column_name from information_schema.columns where table_name = 'notes_note' order by 1").split('\n')

    // bad-migration: atomic, so PostgreSQL applies nothing of 0003 (not even its AddField).
    const badMigration = buildRelease({ repo, tag: 'bad-migration', appRoot: root, venvFrom })
    ok(manage(badMigration, 'check'), 'check')
    const m1 = manage(badMigration, 'migrate --noinput')
    expect(m1.code).toBe(1)
    expect(m1.stderr).toContain('RuntimeError: bad-migration fixture: this data migration always fails')
    expect(noteColumns()).toEqual(['body', 'id', 'title'])
    expect(notesMigrations()).toEqual(['0001_initial', '0002_note_body'])

    // bad-migration-mariadb: atomic = False, so the table stays even on PostgreSQL.
    const partial = buildRelease({ repo, tag: 'bad-migration-mariadb', appRoot: root, venvFrom })
    const m2 = manage(partial, 'migrate --noinput')
    expect(m2.code).toBe(1)
    expect(m2.stderr).toContain('RuntimeError: bad-migration-mariadb fixture')
    expect(tables(db)).toContain('notes_partial')
    expect(notesMigrations()).toEqual(['0001_initial', '0002_note_body'])
    sql(db, 'drop table notes_partial')

    // bad-static: migrate works, collectstatic fails.
    const badStatic = buildRelease({ repo, tag: 'bad-static', appRoot: root, venvFrom })
    ok(manage(badStatic, 'check'), 'check')
    ok(manage(badStatic, 'migrate --noinput'), 'migrate')
    const cs = manage(badStatic, 'collectstatic --noinput')
    expect(cs.code).toBe(1)
    expect(cs.stderr).toContain("The file 'notes/missing-background.png' could not be found")

    // bad-import: settings import, but check (and migrate) fail on the URLconf's import.
    const badImport = buildRelease({ repo, tag: 'bad-import', appRoot: root, venvFrom })
    ok(manage(badImport, 'diffsettings'), 'diffsettings (settings import)')
    const ch = manage(badImport, 'check')
    expect(ch.code).toBe(1)
    expect(ch.stderr).toContain("ImportError: cannot import name 'no_such_helper' from 'slipway_fixture_dep'")
    expect(manage(badImport, 'migrate --noinput').code).toBe(1)

    // bad-health: everything passes, the server starts, /health answers 500.
    const badHealth = buildRelease({ repo, tag: 'bad-health', appRoot: root, venvFrom })
    prepare(badHealth)
    switchCurrent(root, badHealth)
    const port = await freePort()
    await started(root, port)
    expect(await body(`http://127.0.0.1:${port}/health`)).toBe('500 unhealthy bad-health: this release always fails its health check')
    expect(await body(`http://127.0.0.1:${port}/version`)).toBe('200 bad-health')

    // slow-health: healthy, after SLOW_HEALTH_SECONDS.
    const slow = buildRelease({ repo, tag: 'slow-health', appRoot: root, venvFrom })
    prepare(slow)
    switchCurrent(root, slow)
    ok(await restartApp(root, port), 'restart')
    const t0 = Date.now()
    expect(await body(`http://127.0.0.1:${port}/health`)).toBe('200 ok slow-health')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000)
  })

  it('on MariaDB a failed migration leaves its DDL behind', () => {
    const root = appRoot('fixture-maria')
    const db = database(createMariaDatabase())
    writeLocalSettings(`${root}/shared/local_settings.py`, { db, mediaRoot: `${root}/shared/media` })
    const v2 = buildRelease({ repo, tag: 'v2', appRoot: root })
    prepare(v2)
    const venvFrom = `${v2}/.venv`
    const partial = buildRelease({ repo, tag: 'bad-migration-mariadb', appRoot: root, venvFrom })
    expect(manage(partial, 'migrate --noinput').code).toBe(1)
    expect(tables(db)).toContain('notes_partial')
    // Even the "atomic" bad-migration keeps its column on MariaDB: DDL commits at once.
    const bad = buildRelease({ repo, tag: 'bad-migration', appRoot: root, venvFrom })
    expect(manage(bad, 'migrate --noinput').code).toBe(1)
    expect(sql(db, 'show columns from notes_note').split('\n').map((l) => l.split('\t')[0])).toEqual(['id', 'title', 'body', 'flag'])
    expect(sql(db, "select name from django_migrations where app = 'notes' order by 1").split('\n')).toEqual(['0001_initial', '0002_note_body'])
  })

  it('a release that cannot boot: USR2 keeps the old master serving, HUP halts Gunicorn', async () => {
    const root = appRoot('fixture-boot')
    const db = database(sqliteDatabase(`${root}/shared/db.sqlite3`))
    writeLocalSettings(`${root}/shared/local_settings.py`, { db, mediaRoot: `${root}/shared/media` })
    const good = buildRelease({ repo, tag: 'v2', appRoot: root })
    prepare(good)
    // The same code with an empty virtualenv: settings cannot import slipway_fixture_dep.
    const broken = buildRelease({ repo, tag: 'v2', appRoot: root, id: 'broken', skipInstall: true })
    switchCurrent(root, good)
    const port = await freePort()
    await started(root, port)
    const url = `http://127.0.0.1:${port}/health`

    switchCurrent(root, broken)
    const usr2 = await restartApp(root, port)
    expect(usr2.code).toBe(1)
    expect(usr2.stderr).toContain("No module named 'slipway_fixture_dep'")
    expect(usr2.stderr).toContain('still serves the previous release')
    expect(await body(url)).toBe('200 ok v2')
    expect(appStatus(root)).toContain(`release=${good} `)

    const hup = await restartApp(root, port, { signal: 'hup' })
    expect(hup.code).toBe(1)
    expect(hup.stderr).toContain('gunicorn halted after HUP')
    expect(appStatus(root)).toBe('stopped')
    await expect(httpGet(url)).rejects.toThrow(/ECONNREFUSED/)

    // Starting the broken release from cold fails with the reason, too.
    const cold = await restartApp(root, port)
    expect(cold.code).toBe(1)
    expect(cold.stderr).toContain('the workers could not load the app')
  })

  it('with --project-dir src: the same tags, under Gunicorn behind nginx and under Daphne', async () => {
    const srcRepo = makeAppRepo({ projectDir: 'src' })
    later(() => sh(`rm -rf ${srcRepo.dir}`))
    expect(sh(`git -C ${srcRepo.dir} ls-tree --name-only v1`).split('\n').filter(Boolean)).toEqual(['.gitignore', 'requirements.txt', 'src', 'vendor'])
    expect(Object.keys(srcRepo.shas).sort()).toEqual([...FIXTURE_TAGS].sort())

    const root = appRoot('fixture-src')
    const db = database(createPgDatabase())
    writeLocalSettings(`${root}/shared/local_settings.py`, { db, mediaRoot: `${root}/shared/media` })
    const r1 = buildRelease({ repo: srcRepo, tag: 'v1', appRoot: root })
    prepare(r1, 'src')
    switchCurrent(root, r1)
    const upstream = await freePort()
    const listen = await freePort([upstream])
    await started(root, upstream, { projectDir: 'src' })
    const site = `fixture-src-${upstream}`
    later(await installNginxSite(site, nginxSite(root, site, listen, upstream, 'src'), listen))
    expect(await body(`http://127.0.0.1:${listen}/health`)).toBe('200 ok v1')
    expect(await body(`http://127.0.0.1:${listen}/static/notes/app.css`)).toContain('slipway fixture v1')

    const r2 = buildRelease({ repo: srcRepo, tag: 'v2', appRoot: root, venvFrom: `${r1}/.venv` })
    prepare(r2, 'src')
    switchCurrent(root, r2)
    ok(await restartApp(root, upstream, { projectDir: 'src' }), 'restart')
    expect(await body(`http://127.0.0.1:${listen}/health`)).toBe('200 ok v2')
    expect(await body(`http://127.0.0.1:${listen}/static/notes/app.css`)).toContain('slipway fixture v2')

    // Daphne (the e-learning platform's ASGI server): no graceful reload, stop then start.
    const asgi = await freePort([upstream, listen])
    later(() => stopDaphne(root))
    ok(await restartDaphne(root, asgi, { projectDir: 'src' }), 'restart-daphne')
    expect(await body(`http://127.0.0.1:${asgi}/health`)).toBe('200 ok v2')
    switchCurrent(root, r1)
    ok(await restartDaphne(root, asgi, { projectDir: 'src' }), 'restart-daphne')
    expect(await body(`http://127.0.0.1:${asgi}/health`)).toBe('200 ok v1')
  })
})
