// The release action (dist/release/index.js) against the real server: the fixture
// Django app on PostgreSQL, Gunicorn behind nginx, driven as the GitHub runner drives it.

import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanUpApps, fixtureRepo, newApp, releaseLog, type App } from './support/app'
import { runAction, type ActionRun } from './support/runner'
import { connection, server, sh } from './support/server'
import { asDeploy, createPgDatabase, freePort, httpGet, makeAppRoot, restartCommand, stopApp, tables, writeLocalSettings, type AppRepo } from './support/fixture'

let repo: AppRepo

beforeAll(() => {
  repo = fixtureRepo()
})
afterAll(cleanUpApps)

const log = releaseLog

describe('release', () => {
  let app: App
  let v1: ActionRun
  let v2: ActionRun

  it('releases v1, then v2: nginx serves v2, v1 is kept, outputs and summary are set', async () => {
    app = await newApp('rel')
    v1 = await app.release('v1')
    expect(v1.exitCode, v1.log).toBe(0)
    expect((await app.get('/health')).body).toContain('ok v1')
    expect(v1.outputs.revision).toBe(repo.shas.v1)
    expect(v1.outputs.migrations).toContain('notes.0001_initial')

    v2 = await app.release('v2')
    expect(v2.exitCode, v2.log).toBe(0)
    expect((await app.get('/health')).body).toContain('ok v2')
    expect((await app.get('/static/notes/app.css')).body).toContain('v2')
    expect(v2.outputs.release).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{7}$/)
    expect(v2.outputs['previous-release']).toBe(v1.outputs.release)
    expect(v2.outputs.revision).toBe(repo.shas.v2)
    expect(v2.outputs.changed).toBe('true')
    expect(v2.outputs.migrations).toBe('notes.0002_note_body')
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
    expect(readdirSync(`${app.root}/releases`)).toEqual(expect.arrayContaining([v1.outputs.release, v2.outputs.release]))
    // The summary: a row per host, the migrations, the steps with times.
    expect(v2.summary).toContain(`${v1.outputs.release} → ${v2.outputs.release}`)
    expect(v2.summary).toContain('`notes.0002_note_body`')
    expect(v2.summary).toMatch(/\| deploy@127\.0\.0\.1:2222 \| health \| [\d.]+ (ms|s) \| ok \|/)
    // Unchanged requirements: the virtualenv of v1 is reused.
    expect(readlinkSync(`${app.root}/releases/${v2.outputs.release}/.venv`)).toBe(readlinkSync(`${app.root}/releases/${v1.outputs.release}/.venv`))
    expect(v2.log).toContain('reusing virtualenv')
    // The release log: one JSON line per release with its result.
    expect(log(app.root).map(r => [r.id, r.result])).toEqual([
      [v1.outputs.release, 'ok'],
      [v2.outputs.release, 'ok'],
    ])
    expect(log(app.root)[1]).toMatchObject({ sha: repo.shas.v2, ref: 'v2', actor: 'octocat', previous: v1.outputs.release, migrations: ['notes.0002_note_body'] })
  })

  it('re-releasing the live commit is a no-op', async () => {
    const again = await app.release('v2')
    expect(again.exitCode, again.log).toBe(0)
    expect(again.outputs.changed).toBe('false')
    expect(again.outputs.release).toBe(v2.outputs.release)
    expect(again.log).toMatch(/is already live/)
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
  })

  it('ships only what the server lacks: a second release sends a small delta', async () => {
    expect(v1.log).toMatch(/shipped [0-9a-f]{12}: [\d.]+ (KiB|B|MiB) \(full/)
    expect(v2.log).toMatch(/shipped [0-9a-f]{12}: [\d.]+ (KiB|B) \(delta against/)
  })

  const failures: [string, string, RegExp][] = [
    ['bad-migration', 'migrate', /step 'release' failed|migrate/],
    ['bad-static', 'collectstatic', /collectstatic/],
    ['bad-health', 'health', /health check failed: .* answered 500/],
  ]
  for (const [tag, step, reason] of failures) {
    it(`a failing ${step} leaves the previous release serving and says why`, async () => {
      const before = app.live()
      const r = await app.release(tag)
      expect(r.exitCode).toBe(1)
      expect(app.live()).toBe(before)
      expect((await app.get('/health')).body).toContain('ok v2')
      expect(r.errors.join('\n')).toMatch(reason)
      expect(r.errors.join('\n')).toContain(`step '${step}'`)
      expect(r.summary).toContain('Why it failed')
      expect(r.summary).toContain(`step '${step}'`)
      const last = log(app.root).pop()!
      expect(last).toMatchObject({ ref: tag, result: 'failed' })
      // The failed release directory is gone.
      expect(existsSync(`${app.root}/releases/${last.id}`)).toBe(false)
      if (step === 'health') expect(r.errors.join('\n')).toMatch(/rolled back: current is .* again/)
    })
  }

  it('a bad-migration leaves no partial schema behind on PostgreSQL', () => {
    expect(tables(app.db)).not.toContain('notes_partial')
  })

  it('a broken nginx configuration stops the release before the switch', async () => {
    const broken = `${server.state}/nginx/sites/zz-broken-${process.pid}.conf`
    writeFileSync(broken, 'server { listen 127.0.0.1:1; this is not nginx }\n')
    try {
      const before = app.live()
      const r = await app.release('v3-requirements')
      expect(r.exitCode).toBe(1)
      expect(r.errors.join('\n')).toMatch(/step 'proxy test'/)
      expect(r.log).toContain('configuration test failed; nothing was changed')
      expect(app.live()).toBe(before)
      expect((await app.get('/health')).body).toContain('ok v2')
    } finally {
      sh(`rm -f ${broken}`)
    }
  })

  it('a shared entry missing on the server fails before anything changes, naming the path', async () => {
    const before = readdirSync(`${app.root}/releases`).sort()
    const r = await app.release('v3-requirements', { shared: 'fixture/local_settings.py\n.env' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(`shared entries missing on the server: ${app.root}/shared/.env`)
    expect(readdirSync(`${app.root}/releases`).sort()).toEqual(before)
  })

  it('new requirements build a new virtualenv; old releases are pruned to keep-releases', async () => {
    const r = await app.release('v3-requirements', { 'keep-releases': '2' })
    expect(r.exitCode, r.log).toBe(0)
    expect((await app.get('/dep-version')).body).toContain('1.1')
    expect(readlinkSync(`${app.root}/releases/${r.outputs.release}/.venv`)).not.toBe(readlinkSync(`${app.root}/releases/${v2.outputs.release}/.venv`))
    expect(readdirSync(`${app.root}/releases`).sort()).toEqual([v2.outputs.release, r.outputs.release].sort())
  })

  it('refuses a ref with shell metacharacters before connecting; nothing runs from it', async () => {
    const marker = `/tmp/slipway-ref-${process.pid}`
    for (const ref of [`v1;touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, 'v1\ntouch x', '--upload-pack=touch']) {
      const r = await app.release(ref)
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain("Input 'ref':")
    }
    expect(existsSync(marker)).toBe(false)
  })

  it('dry-run prints the plan and scripts and changes nothing', async () => {
    const before = readdirSync(`${app.root}/releases`).sort()
    const r = await app.release('v1', { 'dry-run': 'true', env: 'SECRET_TOKEN=dry-run-secret-value' })
    expect(r.exitCode, r.log).toBe(0)
    expect(r.log).toContain('dry run: live')
    expect(r.log).toContain('call_command("migrate", interactive=False)')
    expect(r.log).not.toContain('dry-run-secret-value')
    expect(readdirSync(`${app.root}/releases`).sort()).toEqual(before)
  })
})

describe('after a crash mid-release', () => {
  it('a live release that never finished is released again, and the last finished one is the one to go back to', async () => {
    const app = await newApp('crashed')
    const v1 = await app.release('v1')
    const v2 = await app.release('v2')
    expect(v2.exitCode, v2.log).toBe(0)
    // As if the server died after the switch, before the release finished.
    sh(`rm ${app.root}/.slipway/releases/${v2.outputs.release}/complete`)
    const again = await app.release('v2')
    expect(again.exitCode, again.log).toBe(0)
    expect(again.log).toContain(`the live release ${v2.outputs.release} never finished`)
    expect(again.outputs.changed).toBe('true')
    expect(again.outputs['previous-release']).toBe(v2.outputs.release)
    expect(app.live()).toBe(`releases/${again.outputs.release}`)
    // The release log names the finished one as previous, not the unfinished one.
    expect(app.log().pop()).toMatchObject({ id: again.outputs.release, previous: v1.outputs.release, result: 'ok' })
  })
})

describe('source: pull', () => {
  it('lets the server fetch the commit itself from repository, with no pack from the runner', async () => {
    const app = await newApp('pull')
    // The server's own clone source, as a deploy key on GitHub would give it.
    const origin = `/srv/slipway/pull-origin-${process.pid}.git`
    sh(`rm -rf ${origin} && git clone -q --bare ${repo.dir} ${origin} && git -C ${origin} config uploadpack.allowReachableSHA1InWant true && chown -R deploy:deploy ${origin}`)
    try {
      const r = await app.release(repo.shas.v2, { source: 'pull', repository: `file://${origin}`, 'working-directory': '/nonexistent' })
      expect(r.exitCode, r.log).toBe(0)
      expect(r.log).not.toMatch(/shipped [0-9a-f]{12}/)
      expect(r.outputs.revision).toBe(repo.shas.v2)
      expect((await app.get('/health')).body).toContain('ok v2')
      // A branch name cannot pin every host to one commit; pull wants the sha.
      const named = await app.release('master', { source: 'pull', repository: `file://${origin}` })
      expect(named.exitCode).toBe(1)
      expect(named.log).toContain("Input 'ref': 'master' must be a full commit sha with source: pull")
    } finally {
      sh(`rm -rf ${origin}`)
    }
  })
})

describe('two releases at once', () => {
  it('serialises them on the app lock; the second waits, names the holder, and both end cleanly', async () => {
    const app = await newApp('race')
    const [a, b] = await Promise.all([app.release('v1'), new Promise(r => setTimeout(r, 300)).then(() => app.release('v2'))])
    expect(a.exitCode, a.log).toBe(0)
    expect(b.exitCode, b.log).toBe(0)
    expect(b.log).toMatch(/waiting for the app lock, held by release by octocat/)
    expect((await app.get('/health')).body).toContain('ok v2')
    expect(log(app.root).map(r => r.result)).toEqual(['ok', 'ok'])
  })

  it('with a short lock-timeout the second fails naming the holder and changes nothing', async () => {
    const app = await newApp('race2')
    const slow = app.release('v1', { 'before-switch': 'sleep 6' })
    await new Promise(r => setTimeout(r, 1500))
    const quick = await app.release('v2', { 'lock-timeout': '2s' })
    expect(quick.exitCode).toBe(1)
    expect(quick.log).toMatch(/app lock .* is held by release by octocat .*gave up after lock-timeout/)
    expect((await slow).exitCode).toBe(0)
    expect((await app.get('/health')).body).toContain('ok v1')
  })
})

describe('in-place strategy', () => {
  const inPlaceCleanups: (() => void)[] = []
  afterAll(() => inPlaceCleanups.forEach(c => c()))

  it('updates a git working tree of master in place and rolls back to the recorded commit on failure', async () => {
    const root = makeAppRoot('inplace')
    const db = createPgDatabase()
    const port = await freePort()
    inPlaceCleanups.push(() => db.drop(), () => stopApp(`${root}/app`))
    // The server's own clone, on master at v1 (as the exercise platform runs it).
    sh(`git clone -q ${repo.dir} ${root}/app && git -C ${root}/app checkout -q -B master ${repo.shas.v1} && chown -R deploy:deploy ${root}/app`)
    asDeploy(`mkdir -p ${root}/app/shared/run ${root}/app/shared/log`)
    writeLocalSettings(`${root}/app/fixture/local_settings.py`, { db, mediaRoot: `${root}/media` })
    const inputs = (ref: string, extra: Record<string, string> = {}) => ({
      ...connection(),
      path: `${root}/app`,
      strategy: 'in-place',
      ref,
      'working-directory': repo.dir,
      python: '/usr/bin/python3',
      'system-site-packages': 'true',
      restart: restartCommand(`${root}/app`, port),
      'health-url': `http://127.0.0.1:${port}/health`,
      'health-timeout': '15s',
      ...extra,
    })
    // app-server.sh expects <root>/current; in place the tree itself is live.
    asDeploy(`ln -sfn . ${root}/app/current`)
    sh(`echo /current >> ${root}/app/.git/info/exclude`)
    const first = await runAction('release', inputs('v2'))
    expect(first.exitCode, first.log).toBe(0)
    expect(sh(`git -c safe.directory='*' -C ${root}/app rev-parse HEAD`).trim()).toBe(repo.shas.v2)
    expect(sh(`git -c safe.directory='*' -C ${root}/app symbolic-ref --short HEAD`).trim()).toBe('master')
    expect((await httpGet(`http://127.0.0.1:${port}/health`)).body).toContain('ok v2')
    const bad = await runAction('release', inputs('bad-health'))
    expect(bad.exitCode).toBe(1)
    expect(bad.errors.join('\n')).toMatch(/rolled back: the working tree is at/)
    expect(sh(`git -c safe.directory='*' -C ${root}/app rev-parse HEAD`).trim()).toBe(repo.shas.v2)
    expect((await httpGet(`http://127.0.0.1:${port}/health`)).body).toContain('ok v2')
    // Local changes to tracked files are never overwritten.
    sh(`echo '# local hack' >> ${root}/app/manage.py`)
    const dirty = await runAction('release', inputs('v3-requirements'))
    expect(dirty.exitCode).toBe(1)
    expect(dirty.log).toContain('uncommitted changes to tracked files')
    expect(sh(`tail -1 ${root}/app/manage.py`).trim()).toBe('# local hack')
  })
})
