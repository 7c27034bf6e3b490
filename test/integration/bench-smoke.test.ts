// The benchmark harness (bench/run.mjs) in --quick mode: tiny sizes, one iteration. This
// checks that every scenario of issue 6 runs end to end and reports numbers, not that
// they meet their targets (that is `npm run bench`, run by hand on a quiet machine).

import { execFileSync } from 'child_process'
import { mkdtempSync, readFileSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { afterAll, describe, expect, it } from 'vitest'

const out = mkdtempSync(join(tmpdir(), 'slipway-bench-smoke-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

const isNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v)
const median = (o: { median?: unknown } | undefined): unknown => o?.median

describe('bench/run.mjs --quick', () => {
  it('runs every scenario and writes results.json and RESULTS.md with numbers', () => {
    execFileSync(process.execPath, ['bench/run.mjs', '--quick', '--out', out], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 })
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    expect(r.errors).toEqual({})
    expect(r.meta).toMatchObject({ quick: true, runs: 1 })
    for (const k of ['cpu', 'cores', 'memoryGiB', 'date', 'command']) expect(r.meta[k], k).toBeTruthy()
    for (const k of ['node', 'ssh', 'ansible', 'postgres', 'git']) expect(r.meta.versions[k], k).toBeTruthy()

    const s = r.scenarios
    expect(Object.keys(s).sort()).toEqual(['download', 'downtime', 'release', 'snapshot', 'startup', 'transfer'])
    for (const mode of ['loopback', 'rtt50']) {
      for (const tool of ['slipway', 'ansible', 'floor']) expect(isNumber(median(s.release.modes[mode][tool].ms)), `${mode} ${tool}`).toBe(true)
      expect(isNumber(s.release.modes[mode].ratios.slipwayOverFloor)).toBe(true)
      expect(isNumber(s.release.modes[mode].ratios.ansibleOverSlipway)).toBe(true)
    }
    for (const tool of ['slipway', 'ansible', 'floor']) {
      expect(s.release.modes.rtt50[tool].connections, tool).toBeGreaterThanOrEqual(1)
      expect(s.release.modes.rtt50[tool].roundTrips, tool).toBeGreaterThan(0)
    }
    expect(median(s.transfer.full.shippedBytes)).toBeGreaterThan(median(s.transfer.oneLine.shippedBytes) as number)
    expect(isNumber(s.transfer.ratios.shippedOneLineOverFull)).toBe(true)
    expect(isNumber(s.snapshot.ratios.slipwayOverPgDump)).toBe(true)
    expect(isNumber(s.snapshot.ratios.volumeGzipOverZstdSize)).toBe(true)
    for (const tool of ['slipway', 'scp', 'sftp']) expect(isNumber(median(s.download.variants[tool].mbPerS)), tool).toBe(true)
    expect(isNumber(median(s.download.variants.slipway.maxRssMiB))).toBe(true)
    for (const v of ['usr2', 'hup']) {
      expect(s.downtime.variants[v].requests, v).toBeGreaterThan(0)
      expect(isNumber(s.downtime.variants[v].non2xx)).toBe(true)
      expect(isNumber(s.downtime.variants[v].failedConnections)).toBe(true)
    }
    for (const v of Object.values(s.startup.variants) as { toFirstByteMs: { median?: unknown } }[]) expect(isNumber(median(v.toFirstByteMs))).toBe(true)

    const md = readFileSync(join(out, 'RESULTS.md'), 'utf8')
    for (const h of ['## Targets', '## 1. Release', '## 2. Code transfer', '## 3. Snapshot', '## 4. Download', '## 5. Zero downtime', '## 6. Start-up']) expect(md).toContain(h)
  }, 900_000)
})
