// Shape 2, the e-learning platform (openbook-like), end to end with the inputs of
// examples/e-learning/*.yml: Django under Daphne (ASGI), manage.py in src/,
// local_settings.py untracked and kept in shared/, uploads in _media/ and collected
// static files in _static/; PostgreSQL behind Caddy, and a MariaDB variant behind
// Apache. Caddy and Apache run here as root with their configuration in a temporary
// directory on a loopback port; the release tests and reloads them through the deploy
// user's sudo rules, as on a real server.

import { mkdtempSync, readFileSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_SERVER, asDeploy, createMariaDatabase, createPgDatabase, makeAppRepo, makeAppRoot, sql, suffix, tables, tryAsDeploy, type AppRepo, type Database } from '../integration/support/fixture'
import { runAction, type ActionRun } from '../integration/support/runner'
import { connection, server, sh } from '../integration/support/server'
import { Cleanup, e2ePort, expectExampleInputs, get, q, startDaemon, stopDaemon, until } from './support/e2e'

const cleanup = new Cleanup()
afterAll(() => cleanup.run())

let repo: AppRepo

beforeAll(() => {
  repo = makeAppRepo({ projectDir: 'src' })
  cleanup.add('fixture repository', () => sh(`rm -rf ${q(repo.dir)}`))
})

/** Inputs only the local server needs: Debian's Django instead of PyPI, the fixture checkout, shorter waits. */
const TEST_ONLY = ['user', 'ref', 'working-directory', 'python', 'system-site-packages', 'health-timeout']

/** An app root with openbook's untracked files in shared/: local_settings.py and the uploads. */
function appRoot(name: string, db: Database): string {
  const root = makeAppRoot(name)
  cleanup.add(`app root ${name}`, () => sh(`rm -rf ${q(root)}`))
  const database =
    db.engine === 'postgresql'
      ? `{'ENGINE': 'django.db.backends.postgresql', 'NAME': '${db.name}', 'USER': 'app', 'PASSWORD': '${server.dbPassword}', 'HOST': '127.0.0.1', 'PORT': '5432'}`
      : `{'ENGINE': 'django.db.backends.mysql', 'NAME': '${db.name}', 'USER': 'app', 'PASSWORD': '${server.dbPassword}', 'HOST': '127.0.0.1', 'PORT': '3306', 'OPTIONS': {'charset': 'utf8mb4'}}`
  // No MEDIA_ROOT: the project's default, src/_media, which is linked to shared/.
  asDeploy(
    `mkdir -p ${root}/shared/src/fixture ${root}/shared/src/_media && cat > ${root}/shared/src/fixture/local_settings.py <<'EOF'
SECRET_KEY = 'e2e-learning-${suffix()}'
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
DATABASES = {'default': ${database}}
EOF`,
  )
  cleanup.add(`daphne ${name}`, () => tryAsDeploy(`${APP_SERVER} stop-daphne ${root}`))
  // The virtualenv an administrator made by hand (see WORKAROUND_SHARED).
  const wheel = `${root}/shared/slipway_fixture_dep-1.0-py3-none-any.whl`
  sh(`git -c safe.directory='*' -C ${q(repo.dir)} show v1:vendor/slipway_fixture_dep-1.0-py3-none-any.whl > ${q(wheel)} && chmod 644 ${q(wheel)}`)
  asDeploy(`/usr/bin/python3 -m venv --system-site-packages ${root}/shared/.venv && ${root}/shared/.venv/bin/pip install -q --disable-pip-version-check ${wheel}`)
  return root
}

/*
 * openbook keeps manage.py in a subfolder and its requirements at the repository root,
 * like the fixture with --project-dir src. slipway looks for requirements.txt only in
 * project-dir and cannot be pointed above it ('..' is refused), so it builds no
 * virtualenv and `manage.py check` fails (see the last test of the first describe).
 * What works today: a virtualenv made by hand, kept in shared/ and linked into every
 * release as .venv, which slipway and the app server then use. Every tag used here
 * needs wheel 1.0, which that virtualenv has.
 */
const WORKAROUND_SHARED = '\n.venv'

function releaseInputs(root: string, appPort: number, web: number, over: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    ...connection(),
    path: root,
    'working-directory': repo.dir,
    'project-dir': 'src',
    shared: `src/fixture/local_settings.py\nsrc/_media${WORKAROUND_SHARED}`,
    restart: `${APP_SERVER} restart-daphne ${root} ${appPort} --project-dir src`,
    'health-url': `http://127.0.0.1:${web}/health`,
    'health-timeout': '30s',
    databases: '- engine: django',
    volumes: `- ${root}/shared/src/_media`,
    keep: 'last=10,daily=14',
    python: '/usr/bin/python3',
    'system-site-packages': 'true',
    ...over,
  }
}

const daphneRelease = (root: string) => tryAsDeploy(`${APP_SERVER} status-daphne ${root}`).stdout

describe('e-learning on PostgreSQL: Daphne behind Caddy', () => {
  let db: Database
  let root: string
  let appPort: number
  let web: number
  let caddyfile: string
  let v1: ActionRun
  let v2: ActionRun
  const inputs = (ref: string, over: Record<string, string | undefined> = {}) =>
    releaseInputs(root, appPort, web, { ref, proxy: 'caddy', 'proxy-config': caddyfile, ...over })
  const page = (path: string) => get(`http://127.0.0.1:${web}${path}`)

  /** Caddy's site for the app; `marker` is sent as a header, to see which configuration Caddy runs. */
  function writeCaddyfile(dir: string, admin: number, marker: string): void {
    writeFileSync(
      caddyfile,
      `{
	admin 127.0.0.1:${admin}
	auto_https off
	storage file_system ${dir}/data
}
http://127.0.0.1:${web} {
	header X-Slipway-Config ${marker}
	handle_path /static/* {
		root * ${root}/current/src/_static
		file_server
	}
	handle_path /media/* {
		root * ${root}/shared/src/_media
		file_server
	}
	handle {
		reverse_proxy 127.0.0.1:${appPort}
	}
}
`,
    )
  }

  beforeAll(async () => {
    db = createPgDatabase()
    cleanup.add('database', () => db.drop())
    root = appRoot('e2e-learn-pg', db)
    ;[appPort, web] = [await e2ePort(), await e2ePort()]
    const admin = await e2ePort()
    const dir = mkdtempSync(join(tmpdir(), 'slw-e2e-caddy-'))
    sh(`chmod 755 ${q(dir)}`)
    cleanup.add('caddy dir', () => sh(`rm -rf ${q(dir)}`))
    // Named Caddyfile, so `caddy validate|reload --config` pick the Caddyfile adapter.
    caddyfile = `${dir}/Caddyfile`
    writeCaddyfile(dir, admin, 'one')
    const pid = startDaemon(['caddy', 'run', '--config', caddyfile], `${dir}/caddy.log`, { XDG_CONFIG_HOME: `${dir}/config`, XDG_DATA_HOME: `${dir}/data`, HOME: dir })
    cleanup.add('caddy', () => stopDaemon(pid))
    await until('Caddy', async () => (await page('/health')).status > 0)
    // The next release must make Caddy load this file (after testing it).
    writeCaddyfile(dir, admin, 'two')
  })

  it('runs the inputs of examples/e-learning/release.yml and rollback.yml', () => {
    expectExampleInputs('examples/e-learning/release.yml', inputs('v1'), { testOnly: TEST_ONLY, same: ['project-dir', 'proxy', 'databases', 'keep'] })
    expectExampleInputs('examples/e-learning/rollback.yml', rollbackInputs({ to: 'x', 'with-data': 'true' }), { testOnly: ['user', 'python', 'health-timeout'], action: 'rollback', same: ['project-dir', 'proxy', 'databases'] })
  })

  it('first release: Daphne serves v1 through Caddy, which was tested and reloaded with the new configuration', async () => {
    v1 = await runAction('release', inputs('v1'))
    expect(v1.exitCode, v1.log).toBe(0)
    expect((await page('/health')).body).toContain('ok v1')
    expect(v1.log).toMatch(/caddy.*valid|Valid configuration/i)
    expect(daphneRelease(root)).toContain(`release=${root}/releases/${v1.outputs.release}/src`)
    expect((await page('/static/notes/app.css')).body).toContain('slipway fixture v1')
    // An upload lands in shared/src/_media through the release's link, and Caddy serves it.
    const posted = await get(`http://127.0.0.1:${web}/notes`, { form: { title: 'chapter 1 notes' } })
    expect(posted.status, posted.body).toBe(201)
    expect(readFileSync(`${root}/shared/src/_media/notes/${posted.body.trim()}.txt`, 'utf8')).toBe('chapter 1 notes\n')
    expect((await page(`/media/notes/${posted.body.trim()}.txt`)).body).toBe('chapter 1 notes\n')
  })

  it('the reload made Caddy run the configuration file it was given', async () => {
    expect((await page('/version')).headers['x-slipway-config']).toBe('two')
  })

  it('second release: v2 migrated and live; the upload and local_settings.py survive; the data was snapshotted first', async () => {
    v2 = await runAction('release', inputs('v2'))
    expect(v2.exitCode, v2.log).toBe(0)
    expect((await page('/health')).body).toContain('ok v2')
    expect((await page('/static/notes/app.css')).body).toContain('slipway fixture v2')
    expect((await page('/media/notes/1.txt')).body).toBe('chapter 1 notes\n')
    expect(daphneRelease(root)).toContain(`/releases/${v2.outputs.release}/src`)
    const m = JSON.parse(readFileSync(`${root}/snapshots/${v2.outputs.snapshot}/manifest.json`, 'utf8')) as { items: { engine: string; name: string }[] }
    expect(m.items.map(i => [i.engine, i.name])).toEqual([
      ['postgres', db.name],
      ['directory', `${root}/shared/src/_media`],
    ])
  })

  it('a release that fails its health check is rolled back: Daphne runs v2 again behind Caddy', async () => {
    const r = await runAction('release', inputs('bad-health', { 'health-timeout': '6s' }))
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(`rolled back: current is ${v2.outputs.release} again`)
    expect((await page('/health')).body).toContain('ok v2')
    expect(daphneRelease(root)).toContain(`/releases/${v2.outputs.release}/src`)
  })

  function rollbackInputs(over: Record<string, string | undefined>): Record<string, string | undefined> {
    return {
      ...connection(),
      path: root,
      'project-dir': 'src',
      restart: `${APP_SERVER} restart-daphne ${root} ${appPort} --project-dir src`,
      proxy: 'caddy',
      'proxy-config': caddyfile,
      'health-url': `http://127.0.0.1:${web}/health`,
      'health-timeout': '30s',
      databases: '- engine: django',
      volumes: `- ${root}/shared/src/_media`,
      python: '/usr/bin/python3',
      ...over,
    }
  }

  it('manual rollback with data (rollback.yml): v1 code with the data as it was before v2 migrated', async () => {
    const later = await get(`http://127.0.0.1:${web}/notes`, { form: { title: 'written on v2' } })
    expect(later.status).toBe(201)
    const r = await runAction('rollback', rollbackInputs({ to: v1.outputs.release, 'with-data': 'true' }))
    expect(r.exitCode, r.log).toBe(0)
    expect(r.outputs.release).toBe(v1.outputs.release)
    expect(r.outputs.snapshot).toBe(v2.outputs.snapshot)
    expect((await page('/health')).body).toContain('ok v1')
    expect(sql(db, "select name from django_migrations where app = 'notes' order by name")).toBe('0001_initial')
    expect(sql(db, 'select title from notes_note order by id')).toBe('chapter 1 notes')
    // The uploads directory is back as it was too: the later upload is gone.
    expect(sh(`ls ${q(`${root}/shared/src/_media/notes`)}`).trim().split('\n')).toEqual(['1.txt'])
  })

  it('with manage.py in src/, the requirements.txt at the repository root gets its virtualenv (fails today, see the report)', async () => {
    const r = await runAction('release', inputs('v2', { force: 'true', shared: 'src/fixture/local_settings.py\nsrc/_media' }))
    expect(r.exitCode, r.log).toBe(0)
    expect(r.log).not.toContain('no requirements file')
    expect(sh(`readlink ${q(`${root}/current/.venv`)}`).trim()).toMatch(new RegExp(`^${root}/venvs/`))
    expect((await page('/health')).body).toContain('ok v2')
  })
})

describe('e-learning on MariaDB: Daphne behind Apache', () => {
  let db: Database
  let root: string
  let appPort: number
  let web: number
  let conf: string
  let v2: ActionRun
  const page = (path: string) => get(`http://127.0.0.1:${web}${path}`)
  /*
   * `proxy: apache` with `proxy-config` runs `apachectl -f CONF configtest` and
   * `apachectl -f CONF graceful`, which Debian's apachectl refuses (see the last test).
   * These overrides are what a user has to write today; the example workflow uses the
   * system configuration, where the defaults work.
   */
  const inputs = (ref: string, over: Record<string, string | undefined> = {}) =>
    releaseInputs(root, appPort, web, {
      ref,
      proxy: 'apache',
      'proxy-config': conf,
      'proxy-test': `sudo -n apachectl -f ${conf} -t`,
      'proxy-reload': `sudo -n apachectl -f ${conf} -k graceful`,
      ...over,
    })

  beforeAll(async () => {
    db = createMariaDatabase()
    cleanup.add('mariadb database', () => db.drop())
    root = appRoot('e2e-learn-maria', db)
    ;[appPort, web] = [await e2ePort(), await e2ePort()]
    const dir = mkdtempSync(join(tmpdir(), 'slw-e2e-apache-'))
    sh(`chmod 755 ${q(dir)}`)
    cleanup.add('apache dir', () => sh(`rm -rf ${q(dir)}`))
    conf = `${dir}/httpd.conf`
    const mod = (m: string) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`
    writeFileSync(
      conf,
      [
        'ServerRoot /etc/apache2',
        ...['mpm_event', 'authz_core', 'alias', 'mime', 'proxy', 'proxy_http'].map(mod),
        'TypesConfig /etc/mime.types',
        'User www-data',
        'Group www-data',
        `PidFile ${dir}/httpd.pid`,
        `DefaultRuntimeDir ${dir}`,
        `ErrorLog ${dir}/error.log`,
        `Listen 127.0.0.1:${web}`,
        'ServerName localhost',
        `Alias /static/ ${root}/current/src/_static/`,
        `Alias /media/ ${root}/shared/src/_media/`,
        `<Directory ${root}>`,
        '  Require all granted',
        '</Directory>',
        'ProxyPass /static/ !',
        'ProxyPass /media/ !',
        `ProxyPass / http://127.0.0.1:${appPort}/`,
        'ProxyPreserveHost On',
        '',
      ].join('\n'),
    )
    sh(`apache2 -f ${q(conf)} -k start`)
    cleanup.add('apache', () => {
      const pid = Number(sh(`cat ${q(`${dir}/httpd.pid`)} 2>/dev/null || echo 0`).trim())
      if (pid > 0) stopDaemon(pid)
    })
    await until('Apache', async () => (await page('/health')).status > 0)
  })

  it('runs the inputs of examples/e-learning/release-mariadb-apache.yml', () => {
    expectExampleInputs('examples/e-learning/release-mariadb-apache.yml', inputs('v1'), {
      testOnly: [...TEST_ONLY, 'proxy-config', 'proxy-test', 'proxy-reload'],
      same: ['project-dir', 'proxy', 'databases', 'keep'],
    })
  })

  it('first and second release on MariaDB: Apache serves v2 and its static files; the MariaDB database was dumped before migrating', async () => {
    const v1 = await runAction('release', inputs('v1'))
    expect(v1.exitCode, v1.log).toBe(0)
    expect((await page('/health')).body).toContain('ok v1')
    expect((await get(`http://127.0.0.1:${web}/notes`, { form: { title: 'quiz 1' } })).status).toBe(201)
    v2 = await runAction('release', inputs('v2'))
    expect(v2.exitCode, v2.log).toBe(0)
    expect((await page('/health')).body).toContain('ok v2')
    expect((await page('/static/notes/app.css')).body).toContain('slipway fixture v2')
    expect((await page('/media/notes/1.txt')).body).toBe('quiz 1\n')
    const m = JSON.parse(readFileSync(`${root}/snapshots/${v2.outputs.snapshot}/manifest.json`, 'utf8')) as { items: { engine: string; name: string }[] }
    expect(m.items.map(i => [i.engine, i.name])).toEqual([
      ['mariadb', db.name],
      ['directory', `${root}/shared/src/_media`],
    ])
  })

  let partial: ActionRun
  it('a migration that fails halfway on MariaDB (DDL commits) fails the release; v2 keeps serving', async () => {
    partial = await runAction('release', inputs('bad-migration-mariadb'))
    expect(partial.exitCode).toBe(1)
    expect(partial.errors.join('\n')).toContain("step 'migrate'")
    expect((await page('/health')).body).toContain('ok v2')
  })

  it('… and the automatic rollback restored the pre-release snapshot of the database: no half-made table is left (issue 5)', () => {
    expect(partial.errors.join('\n')).toContain("step 'migrate'")
    expect(tables(db)).not.toContain('notes_partial')
    expect(sql(db, 'select title from notes_note')).toBe('quiz 1')
  })

  it('proxy: apache with proxy-config alone tests and reloads that configuration (fails today, see the report)', async () => {
    const r = await runAction('release', inputs('v2', { force: 'true', 'proxy-test': undefined, 'proxy-reload': undefined }))
    expect(r.exitCode, r.log).toBe(0)
    expect((await page('/health')).body).toContain('ok v2')
  })
})
