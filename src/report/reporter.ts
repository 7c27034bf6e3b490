// Everything slipway tells the user goes through a Reporter: the step log, outputs and
// the job summary. The GitHub implementation uses @actions/core; the CLI prints to the
// terminal. Both redact registered secrets themselves, so a secret stays hidden even
// where no runner masks it (a terminal, a log file, a self-hosted runner's debug dump).

import * as core from '@actions/core'
import { randomBytes } from 'crypto'

export class Redactor {
  private readonly values = new Set<string>()

  add(value: string): void {
    // A multi-line secret (a private key) may be printed a line at a time.
    for (const v of [value, ...value.split(/\r?\n/)]) {
      const t = v.trim()
      // Masking one- or two-character values would garble every line of the log;
      // such values are not secrets anyone relies on.
      if (t.length >= 3) this.values.add(t)
    }
  }

  redact(text: string): string {
    if (this.values.size === 0) return text
    let out = text
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(v).join('***')
    return out
  }

  /** Redact every string in a value that will be serialised (outputs, summaries, logs). */
  redactDeep<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value))) as T
  }
}

export type Cell = string | { data: string; header?: boolean }

export interface Reporter {
  readonly redactor: Redactor
  /** Register a secret value: masked from here on, by the runner and by us. */
  secret(value: string): void
  info(message: string): void
  warning(message: string): void
  error(message: string): void
  debug(message: string): void
  /** A collapsible section in the log; nested groups are flattened. */
  group<T>(title: string, fn: () => Promise<T>): Promise<T>
  output(name: string, value: string): void
  /** Appended to the job summary (markdown). */
  summary(markdown: string): void
  /** Write the summary accumulated so far. */
  flush(): Promise<void>
  fail(message: string): void
}

abstract class BaseReporter implements Reporter {
  readonly redactor = new Redactor()
  protected readonly summaryParts: string[] = []
  private depth = 0

  secret(value: string): void {
    this.redactor.add(value)
  }

  abstract info(message: string): void
  abstract warning(message: string): void
  abstract error(message: string): void
  abstract debug(message: string): void
  abstract output(name: string, value: string): void
  abstract fail(message: string): void
  protected abstract startGroup(title: string): void
  protected abstract endGroup(): void
  abstract flush(): Promise<void>

  async group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) {
      this.info(`── ${title}`)
      return fn()
    }
    this.depth++
    this.startGroup(this.redactor.redact(title))
    try {
      return await fn()
    } finally {
      this.endGroup()
      this.depth--
    }
  }

  summary(markdown: string): void {
    this.summaryParts.push(this.redactor.redact(markdown))
  }
}

/** Inside a GitHub Actions runner. */
export class ActionReporter extends BaseReporter {
  override secret(value: string): void {
    super.secret(value)
    if (value.trim() !== '') core.setSecret(value)
  }
  info(m: string): void {
    core.info(this.redactor.redact(m))
  }
  warning(m: string): void {
    core.warning(this.redactor.redact(m))
  }
  error(m: string): void {
    core.error(this.redactor.redact(m))
  }
  debug(m: string): void {
    core.debug(this.redactor.redact(m))
  }
  output(name: string, value: string): void {
    core.setOutput(name, this.redactor.redact(value))
  }
  fail(m: string): void {
    core.setFailed(this.redactor.redact(m))
  }
  protected startGroup(t: string): void {
    core.startGroup(t)
  }
  protected endGroup(): void {
    core.endGroup()
  }
  async flush(): Promise<void> {
    if (!process.env.GITHUB_STEP_SUMMARY || this.summaryParts.length === 0) return
    await core.summary.addRaw(this.summaryParts.join('\n\n'), true).write()
    this.summaryParts.length = 0
  }
}

/** In a terminal (the CLI): plain lines on stderr, outputs as `name=value` on stdout. */
export class ConsoleReporter extends BaseReporter {
  constructor(private readonly verbose = false) {
    super()
  }
  info(m: string): void {
    process.stderr.write(`${this.redactor.redact(m)}\n`)
  }
  warning(m: string): void {
    process.stderr.write(`warning: ${this.redactor.redact(m)}\n`)
  }
  error(m: string): void {
    process.stderr.write(`error: ${this.redactor.redact(m)}\n`)
  }
  debug(m: string): void {
    if (this.verbose) process.stderr.write(`debug: ${this.redactor.redact(m)}\n`)
  }
  output(name: string, value: string): void {
    const v = this.redactor.redact(value)
    // A random delimiter, as GitHub's own output files use: a value cannot end it early.
    const delimiter = `slipway_${randomBytes(8).toString('hex')}`
    process.stdout.write(v.includes('\n') ? `${name}<<${delimiter}\n${v}\n${delimiter}\n` : `${name}=${v}\n`)
  }
  fail(m: string): void {
    this.error(m)
    process.exitCode = 1
  }
  protected startGroup(t: string): void {
    process.stderr.write(`▶ ${t}\n`)
  }
  protected endGroup(): void {}
  async flush(): Promise<void> {
    this.summaryParts.length = 0
  }
}

/** A markdown table; cells are escaped so output from a server cannot break the layout. */
export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>')
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map(r => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n')
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`
}
