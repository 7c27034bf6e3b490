// Work on several hosts at once, at most `parallel` at a time, in the order given.

import type { HostSpec } from '../inputs/connection'

export interface HostOutcome<T> {
  host: HostSpec
  status: 'ok' | 'failed' | 'skipped'
  value?: T
  error?: unknown
  durationMs: number
}

export interface ParallelOptions {
  parallel: number
  /** After a failure, hosts not yet started are skipped; those in flight finish. */
  failFast: boolean
}

export async function forEachHost<T>(hosts: HostSpec[], options: ParallelOptions, work: (host: HostSpec) => Promise<T>): Promise<HostOutcome<T>[]> {
  const outcomes: HostOutcome<T>[] = hosts.map(host => ({ host, status: 'skipped', durationMs: 0 }))
  let next = 0
  let failed = false
  const worker = async () => {
    while (next < hosts.length) {
      if (failed && options.failFast) return
      const i = next++
      const started = Date.now()
      try {
        outcomes[i] = { host: hosts[i], status: 'ok', value: await work(hosts[i]), durationMs: Date.now() - started }
      } catch (error) {
        failed = true
        outcomes[i] = { host: hosts[i], status: 'failed', error, durationMs: Date.now() - started }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel, hosts.length)) }, worker))
  return outcomes
}
