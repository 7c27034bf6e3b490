// What users see while a fault happens: GETs through nginx every ~50 ms, counted.

import { httpGet } from '../../integration/support/fixture'
import { sleep } from './remote'

export interface Served {
  total: number
  /** Answers other than 200, and requests that got no answer. */
  bad: number
  /** Body (first line) → count. */
  bodies: Record<string, number>
  statuses: Record<string, number>
}

export function watch(url: string, everyMs = 50): { stop: () => Served } {
  const s: Served = { total: 0, bad: 0, bodies: {}, statuses: {} }
  let running = true
  const loop = async () => {
    while (running) {
      s.total++
      try {
        const r = await httpGet(url, 5_000)
        s.statuses[r.status] = (s.statuses[r.status] ?? 0) + 1
        const body = r.body.trim().split('\n')[0].slice(0, 60)
        s.bodies[body] = (s.bodies[body] ?? 0) + 1
        if (r.status !== 200) s.bad++
      } catch (e) {
        s.bad++
        const k = `error ${(e as Error).message.slice(0, 40)}`
        s.statuses[k] = (s.statuses[k] ?? 0) + 1
      }
      await sleep(everyMs)
    }
  }
  void loop()
  return {
    stop: () => {
      running = false
      return s
    },
  }
}

/** `200×412 "ok v1"×412` style summary for a fact. */
export function describeServed(s: Served): string {
  const bodies = Object.entries(s.bodies)
    .map(([b, n]) => `"${b}"×${n}`)
    .join(', ')
  return `${s.total} GETs, ${s.bad} not 200 (${bodies})`
}
