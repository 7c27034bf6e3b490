// The hosts of one action run: one session each (opened on first use, closed at the
// end), worked on in parallel, with one summary row per host.

import type { ConnectionSettings, HostSpec } from '../inputs/connection'
import { describeError } from '../report/errors'
import { formatDuration, markdownTable, type Reporter } from '../report/reporter'
import { Connector } from '../ssh/connector'
import { Host } from './host'
import { forEachHost, type HostOutcome, type ParallelOptions } from './parallel'

export class Fleet {
  private readonly connector: Connector
  private readonly hosts = new Map<string, Host>()

  constructor(
    readonly settings: ConnectionSettings,
    private readonly reporter: Reporter,
  ) {
    this.connector = new Connector(settings, message => reporter.warning(message))
  }

  /** The Host for a spec, connecting on first use. */
  async host(spec: HostSpec): Promise<Host> {
    const existing = this.hosts.get(spec.label)
    if (existing) return existing
    const session = await this.connector.connect(spec)
    const host = new Host(spec, session, this.reporter, {
      env: this.settings.env,
      timeoutMs: this.settings.commandTimeoutMs,
      prefixLines: this.settings.hosts.length > 1 && this.settings.parallel > 1,
    })
    this.hosts.set(spec.label, host)
    return host
  }

  /** Run `work` on every host (or `only` these), honouring parallel and fail-fast. */
  run<T>(work: (host: Host) => Promise<T>, options: Partial<ParallelOptions> & { only?: HostSpec[] } = {}): Promise<HostOutcome<T>[]> {
    return forEachHost(
      options.only ?? this.settings.hosts,
      { parallel: options.parallel ?? this.settings.parallel, failFast: options.failFast ?? this.settings.failFast },
      async spec => work(await this.host(spec)),
    )
  }

  /** Sessions opened, for stats. */
  sessions() {
    return this.connector.opened()
  }

  close(): Promise<void> {
    return this.connector.closeAll()
  }
}

/** Markdown: one row per host with its result and, for failures, why. */
export function hostTable<T>(outcomes: HostOutcome<T>[], detail: (o: HostOutcome<T>) => string = () => ''): string {
  const icon = { ok: '✅ ok', failed: '❌ failed', skipped: '⏭️ skipped' }
  return markdownTable(
    ['Host', 'Result', 'Time', 'Details'],
    outcomes.map(o => [
      o.host.label,
      icon[o.status],
      o.status === 'skipped' ? '' : formatDuration(o.durationMs),
      o.status === 'failed' ? describeError(o.error).split('\n')[0] : o.status === 'skipped' ? 'not started: an earlier host failed' : detail(o),
    ]),
  )
}

/** Fail the step when any host failed, after all hosts in flight have finished. */
export function failedHosts<T>(outcomes: HostOutcome<T>[]): HostOutcome<T>[] {
  return outcomes.filter(o => o.status === 'failed')
}
