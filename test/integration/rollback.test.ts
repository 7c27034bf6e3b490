// actions/rollback (dist/rollback/index.js) against the real server and the fixture app.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanUpApps, newApp, type App } from './support/app'
import { runAction, type ActionRun } from './support/runner'
import { createMariaDatabase, sql, tables } from './support/fixture'
import { server } from './support/server'

afterAll(cleanUpApps)

describe('rollback', () => {
  let app: App
  let v1: ActionRun
  let v2: ActionRun
  const rollback = (overrides: Record<string, string | undefined> = {}) => {
    const { ref: _ref, shared: _s, 'working-directory': _w, 'system-site-packages': _p, ...common } = app.inputs()
    return runAction('rollback', { ...common, ...overrides })
  }

  beforeAll(async () => {
    app = await newApp('rollback')
    v1 = await app.release('v1')
    v2 = await app.release('v2')
    expect(v1.exitCode, v1.log).toBe(0)
    expect(v2.exitCode, v2.log).toBe(0)
  })

  it('refuses to roll code back over migrations the newer release applied, listing them, and changes nothing', async () => {
    const r = await rollback()
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(`${v1.outputs.release} does not know 1 migration(s) applied since: notes.0002_note_body`)
    expect(r.log).toContain('with-data: true')
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
    expect((await app.get('/health')).body).toContain('ok v2')
  })

  it('dry-run names the target and the migrations in the way', async () => {
    const r = await rollback({ 'dry-run': 'true' })
    expect(r.exitCode, r.log).toBe(0)
    expect(r.log).toContain(`dry run: would switch ${v2.outputs.release} → ${v1.outputs.release}; migrations the target does not know: notes.0002_note_body`)
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
  })

  it('a rollback whose target fails its health check goes back to where it was', async () => {
    const r = await rollback({ force: 'true', 'health-text': 'this text is never served', 'health-timeout': '4s' })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toMatch(/step 'health' failed/)
    expect(r.errors.join('\n')).toContain(`back on ${v2.outputs.release}`)
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
    expect((await app.get('/health')).body).toContain('ok v2')
  })

  it('with force rolls the code back, restarts, reloads and health-checks; the schema stays', async () => {
    const r = await rollback({ force: 'true' })
    expect(r.exitCode, r.log).toBe(0)
    expect(r.outputs.release).toBe(v1.outputs.release)
    expect(r.outputs['rolled-back-from']).toBe(v2.outputs.release)
    expect(r.outputs.migrations).toBe('notes.0002_note_body')
    expect(app.live()).toBe(`releases/${v1.outputs.release}`)
    expect((await app.get('/health')).body).toContain('ok v1')
    expect(tables(app.db)).toContain('notes_note')
    expect(r.summary).toContain(`${v2.outputs.release} → ${v1.outputs.release}`)
    const last = app.log().pop()!
    expect(last).toMatchObject({ id: v1.outputs.release, rollback_from: v2.outputs.release, result: 'ok', kind: 'rollback' })
  })

  it('rolls forward again to a named release with to', async () => {
    const r = await rollback({ to: v2.outputs.release })
    expect(r.exitCode, r.log).toBe(0)
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
    expect((await app.get('/health')).body).toContain('ok v2')
  })

  it('names the releases it can go back to when to is unknown', async () => {
    const r = await rollback({ to: '20200101T000000Z-0000000' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain('release 20200101T000000Z-0000000 is not on the server')
    expect(r.log).toContain(v1.outputs.release)
    const bad = await rollback({ to: '../../etc' })
    expect(bad.log).toContain("Input 'to':")
  })
})

describe('rollback with data', () => {
  it('puts the pre-release snapshot back with the code, so code and schema return together', async () => {
    const app = await newApp('rollback-data')
    const data = {
      databases: `- engine: postgres\n  name: ${app.db.name}\n  host: 127.0.0.1\n  user: app\n  password-env: DB_PASSWORD`,
      env: `DB_PASSWORD=${server.dbPassword}`,
    }
    const v1 = await app.release('v1', data)
    expect(v1.exitCode, v1.log).toBe(0)
    sql(app.db, "insert into notes_note (title) values ('written under v1')")
    const v2 = await app.release('v2', data)
    expect(v2.exitCode, v2.log).toBe(0)
    expect(v2.outputs.snapshot).toMatch(/-pre-release$/)
    sql(app.db, "insert into notes_note (title, body) values ('written under v2', 'b')")
    const { ref: _r, shared: _s, 'working-directory': _w, 'system-site-packages': _p, ...common } = app.inputs()
    const r = await runAction('rollback', { ...common, ...data, 'with-data': 'true' })
    expect(r.exitCode, r.log).toBe(0)
    expect(r.outputs.snapshot).toBe(v2.outputs.snapshot)
    expect(app.live()).toBe(`releases/${v1.outputs.release}`)
    expect((await app.get('/health')).body).toContain('ok v1')
    // The schema and rows are as v2's pre-release snapshot had them.
    expect(sql(app.db, "select column_name from information_schema.columns where table_name='notes_note' order by 1")).not.toContain('body')
    expect(sql(app.db, 'select title from notes_note order by id').trim().split('\n')).toEqual(['written under v1'])
    expect(sql(app.db, "select count(*) from django_migrations where name = '0002_note_body'").trim()).toBe('0')
  })
})

describe('a migration that fails half-way on MariaDB', () => {
  it('is undone from the pre-release snapshot: the table it created is gone and the previous release serves', async () => {
    const app = await newApp('maria-partial', { db: createMariaDatabase() })
    const data = {
      databases: `- engine: mariadb\n  name: ${app.db.name}\n  host: 127.0.0.1\n  user: app\n  password-env: DB_PASSWORD`,
      env: `DB_PASSWORD=${server.dbPassword}`,
    }
    const v2 = await app.release('v2', data)
    expect(v2.exitCode, v2.log).toBe(0)
    sql(app.db, "insert into notes_note (title, body) values ('kept', 'x')")
    const bad = await app.release('bad-migration-mariadb', data)
    expect(bad.exitCode).toBe(1)
    expect(bad.errors.join('\n')).toMatch(/step 'migrate' failed/)
    expect(bad.errors.join('\n')).toMatch(/restored from the pre-release snapshot \d{8}T\d{6}Z-pre-release/)
    expect(tables(app.db)).not.toContain('notes_partial')
    expect(sql(app.db, 'select title from notes_note').trim()).toBe('kept')
    expect(app.live()).toBe(`releases/${v2.outputs.release}`)
    expect((await app.get('/health')).body).toContain('ok v2')
  })
})
