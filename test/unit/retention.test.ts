// Retention: restic's forget semantics on restic's own vectors, then our own rules
// (newest never removed, release-pinned snapshots stay while their release exists).

import { existsSync, readFileSync } from 'fs'
import { resolve } from 'path'
import { describe, expect, it } from 'vitest'
import { applyRetention, describeKeep, isoWeek, parseKeep, type KeepPolicy } from '../../src/snapshot/retention'

// A copy of ../shared/conformance (see test/conformance/README.md), so any clone can run it.
const VECTORS = resolve(__dirname, '../conformance/retention-restic.json')
const SHARED = resolve(__dirname, '../../../shared/conformance/retention-restic.json')

interface Vectors {
  snapshots: { time: string }[]
  cases: { case: number; policy: KeepPolicy; keep: string[]; matches: string[][] }[]
}

describe('retention: restic conformance', () => {
  const vectors = JSON.parse(readFileSync(VECTORS, 'utf8')) as Vectors
  const snapshots = vectors.snapshots.map((s, i) => ({ id: `s${i}`, time: new Date(s.time), raw: s.time }))

  it('has all 21 cases', () => {
    expect(vectors.cases).toHaveLength(21)
  })

  it.runIf(existsSync(SHARED))('the copy equals the shared original', () => {
    expect(readFileSync(VECTORS, 'utf8')).toBe(readFileSync(SHARED, 'utf8'))
  })

  for (const c of vectors.cases) {
    it(`case ${c.case}: ${JSON.stringify(c.policy)} keeps ${c.keep.length}`, () => {
      const { keep, remove } = applyRetention(snapshots, c.policy)
      expect(keep.map(k => k.snapshot.time.getTime())).toEqual(c.keep.map(t => new Date(t).getTime()))
      expect(keep.map(k => k.reasons)).toEqual(c.matches)
      expect(keep.length + remove.length).toBe(snapshots.length)
    })
  }
})

describe('retention: our rules', () => {
  // A fixed clock: every time is an offset from it, so the table reads as "hours ago".
  const NOW = Date.parse('2026-03-15T12:00:00Z')
  const HOUR = 3_600_000
  const snap = (id: string, hoursAgo: number, release?: string) => ({ id, time: new Date(NOW - hoursAgo * HOUR), release })

  const table: { name: string; policy: KeepPolicy; snapshots: ReturnType<typeof snap>[]; releases: string[]; keep: string[] }[] = [
    {
      name: 'last=2 keeps the two newest',
      policy: { last: 2 },
      snapshots: [snap('a', 0), snap('b', 1), snap('c', 2), snap('d', 3)],
      releases: [],
      keep: ['a', 'b'],
    },
    {
      name: 'a snapshot of a release that still exists survives',
      policy: { last: 1 },
      snapshots: [snap('a', 0, 'r3'), snap('b', 1, 'r2'), snap('c', 2, 'r1'), snap('d', 3)],
      releases: ['r3', 'r2'],
      keep: ['a', 'b'],
    },
    {
      name: 'once its release is gone, the pin is gone',
      policy: { last: 1 },
      snapshots: [snap('a', 0), snap('b', 1, 'r1')],
      releases: ['r2'],
      keep: ['a'],
    },
    {
      name: 'the newest survives a policy that keeps nothing',
      policy: { daily: 0 },
      snapshots: [snap('a', 0), snap('b', 30)],
      releases: [],
      keep: ['a'],
    },
    {
      name: 'no rule at all removes nothing',
      policy: {},
      snapshots: [snap('a', 0), snap('b', 30), snap('c', 60)],
      releases: [],
      keep: ['a', 'b', 'c'],
    },
    {
      name: 'daily keeps the newest of each day, and the oldest while count is left',
      policy: { daily: 3 },
      // 12:00 today, 11:00 today, 12:00 yesterday, 11:00 yesterday
      snapshots: [snap('a', 0), snap('b', 1), snap('c', 24), snap('d', 25)],
      releases: [],
      keep: ['a', 'c', 'd'],
    },
    {
      name: 'input order does not matter, ties keep input order',
      policy: { last: 2 },
      snapshots: [snap('old', 5), snap('x', 0), snap('y', 0)],
      releases: [],
      keep: ['x', 'y'],
    },
  ]
  for (const t of table) {
    it(t.name, () => {
      const d = applyRetention(t.snapshots, t.policy, new Set(t.releases))
      expect(d.keep.map(k => k.snapshot.id)).toEqual(t.keep)
      expect(d.remove.map(s => s.id).sort()).toEqual(t.snapshots.map(s => s.id).filter(id => !t.keep.includes(id)).sort())
    })
  }

  it('says why a pinned snapshot is kept', () => {
    const d = applyRetention([snap('a', 0), snap('b', 1, 'r1')], { last: 1 }, new Set(['r1']))
    expect(d.keep[1].reasons).toEqual(['release r1 still exists'])
  })
})

describe('keep input', () => {
  it('parses restic-style rules', () => {
    expect(parseKeep('last=7,daily=14,weekly=8,monthly=12', 'keep')).toEqual({ last: 7, daily: 14, weekly: 8, monthly: 12 })
    expect(parseKeep('hourly=24\nyearly=all', 'keep')).toEqual({ hourly: 24, yearly: -1 })
    expect(describeKeep({ yearly: -1, last: 3 })).toBe('last=3,yearly=all')
  })
  it('names what is wrong', () => {
    expect(() => parseKeep('last=7,fortnightly=2', 'keep')).toThrow("Input 'keep': 'fortnightly' is not one of last, hourly, daily, weekly, monthly, yearly")
    expect(() => parseKeep('last', 'keep')).toThrow("Input 'keep': 'last' is not rule=count")
    expect(() => parseKeep('last=1,last=2', 'keep')).toThrow('last is given twice')
  })
  it('computes ISO weeks across year boundaries', () => {
    expect(isoWeek(new Date('2021-01-03T12:00:00Z'))).toEqual({ year: 2020, week: 53 })
    expect(isoWeek(new Date('2024-12-30T00:00:00Z'))).toEqual({ year: 2025, week: 1 })
    expect(isoWeek(new Date('2026-03-15T12:00:00Z'))).toEqual({ year: 2026, week: 11 })
  })
})
