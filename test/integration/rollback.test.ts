// actions/rollback (dist/rollback/index.js) against the real server and the fixture app.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanUpApps, newApp, type App } from './support/app'
import { runAction, type ActionRun } from './support/runner'
import { tables } from './support/fixture'

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
