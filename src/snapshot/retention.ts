// Which snapshots to keep: restic's `forget` policy, so users get the answers they know
// from restic and borg, plus two rules of our own: the newest snapshot is never
// removed, and a snapshot taken for a release that still exists on the server stays as
// long as that release does (rolling back to it needs its data).

import { InputError } from '../report/errors'
import { printable } from '../inputs/parse'

export const KEEP_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const
export type KeepRule = (typeof KEEP_RULES)[number]

/** How many to keep per rule; -1 keeps every one in that bucket. Absent rules keep none. */
export type KeepPolicy = Partial<Record<KeepRule, number>>

/** `last=7,daily=14,weekly=8,monthly=12`; `all` (or -1) keeps every one in that bucket. */
export function parseKeep(text: string, input: string): KeepPolicy {
  const policy: KeepPolicy = {}
  const parts = text
    .split(/[\s,]+/)
    .map(p => p.trim())
    .filter(Boolean)
  for (const part of parts) {
    const m = /^([a-z]+)\s*=\s*(-1|\d+|all)$/.exec(part)
    if (!m) throw new InputError(input, `'${printable(part)}' is not rule=count`, `Use e.g. last=7,daily=14,weekly=8,monthly=12 (rules: ${KEEP_RULES.join(', ')}).`)
    const [, rule, count] = m
    if (!(KEEP_RULES as readonly string[]).includes(rule)) throw new InputError(input, `'${rule}' is not one of ${KEEP_RULES.join(', ')}`)
    if (rule in policy) throw new InputError(input, `${rule} is given twice`)
    policy[rule as KeepRule] = count === 'all' ? -1 : Number(count)
  }
  return policy
}

export function describeKeep(policy: KeepPolicy): string {
  return KEEP_RULES.filter(r => policy[r] !== undefined)
    .map(r => `${r}=${policy[r] === -1 ? 'all' : policy[r]}`)
    .join(',')
}

export interface RetentionCandidate {
  id: string
  time: Date
  /** The release this snapshot was taken for, if any. */
  release?: string
}

export interface RetentionDecision<T extends RetentionCandidate> {
  /** Newest first, with why each is kept. */
  keep: { snapshot: T; reasons: string[] }[]
  /** Newest first. */
  remove: T[]
}

type Bucketer = (t: Date, index: number) => number

const BUCKETS: Record<KeepRule, Bucketer> = {
  // Every snapshot is its own bucket.
  last: (_t, i) => i,
  hourly: t => ((t.getUTCFullYear() * 100 + t.getUTCMonth() + 1) * 100 + t.getUTCDate()) * 100 + t.getUTCHours(),
  daily: t => (t.getUTCFullYear() * 100 + t.getUTCMonth() + 1) * 100 + t.getUTCDate(),
  weekly: t => {
    const { year, week } = isoWeek(t)
    return year * 100 + week
  },
  monthly: t => t.getUTCFullYear() * 100 + t.getUTCMonth() + 1,
  yearly: t => t.getUTCFullYear(),
}

/**
 * restic's ApplyPolicy: walk the snapshots newest first; a rule keeps a snapshot when
 * it opens a new bucket (hour, day, ISO week, ...) and the rule has count left. The
 * oldest snapshot is kept by every rule that still has count left, which stretches the
 * history as far back as the counts allow. A snapshot survives if any rule keeps it.
 * An empty policy keeps everything (restic refuses it; we treat it as "no pruning").
 */
export function applyRetention<T extends RetentionCandidate>(snapshots: T[], policy: KeepPolicy, liveReleases: ReadonlySet<string> = new Set()): RetentionDecision<T> {
  // Stable sort, newest first, as restic does (sort.Stable on time descending).
  const list = snapshots.map((s, i) => ({ s, i })).sort((a, b) => b.s.time.getTime() - a.s.time.getTime() || a.i - b.i).map(x => x.s)
  const rules = KEEP_RULES.filter(r => policy[r] !== undefined && policy[r] !== 0)
  const empty = KEEP_RULES.every(r => policy[r] === undefined)
  const count: Partial<Record<KeepRule, number>> = Object.fromEntries(rules.map(r => [r, policy[r]!]))
  const last: Partial<Record<KeepRule, number>> = {}
  const keep: RetentionDecision<T>['keep'] = []
  const remove: T[] = []
  list.forEach((snapshot, nr) => {
    const reasons: string[] = []
    if (empty) reasons.push('no keep rule')
    for (const rule of rules) {
      const left = count[rule]!
      if (left === 0) continue
      const val = BUCKETS[rule](snapshot.time, nr)
      const oldest = nr === list.length - 1
      if (val !== last[rule] || oldest) {
        reasons.push(val !== last[rule] ? `${rule} snapshot` : `oldest ${rule} snapshot`)
        last[rule] = val
        if (left > 0) count[rule] = left - 1
      }
    }
    if (nr === 0 && reasons.length === 0) reasons.push('newest snapshot')
    if (snapshot.release !== undefined && liveReleases.has(snapshot.release)) reasons.push(`release ${snapshot.release} still exists`)
    if (reasons.length) keep.push({ snapshot, reasons })
    else remove.push(snapshot)
  })
  return { keep, remove }
}

/** ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday), in UTC. */
export function isoWeek(t: Date): { year: number; week: number } {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()))
  const day = d.getUTCDay() || 7
  d.setUTCDate(d.getUTCDate() + 4 - day)
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1)
  return { year: d.getUTCFullYear(), week: Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7) }
}
