// A host as the actions see it: its session plus the log, the user's env, the
// command timeout and a record of the steps it ran for the summary.

import type { RemoteScript } from '../commands/script'
import type { HostSpec } from '../inputs/connection'
import { StepError } from '../report/errors'
import type { Reporter } from '../report/reporter'
import type { ExecOptions, ExecResult, Session } from '../ssh/session'

export interface StepRecord {
  step: string
  durationMs: number
  ok: boolean
}

export interface StepOptions {
  /** Keep up to this many bytes of stdout in the result. */
  captureBytes?: number
  /** Do not print stdout lines (their content is parsed by the caller). */
  quietStdout?: boolean
  /** Data that follows the script on stdin. */
  input?: ExecOptions['input']
  timeoutMs?: number
  /** Return the result instead of throwing when the script exits non-zero. */
  allowFailure?: boolean
  /** Also see each stdout line (to pick facts out of the output as it streams). */
  onLine?: (line: string) => void
}

export class Host {
  readonly steps: StepRecord[] = []
  /** Set while this run holds the app lock: steps register as work under it. */
  lockDir?: string

  constructor(
    readonly spec: HostSpec,
    readonly session: Session,
    private readonly reporter: Reporter,
    private readonly defaults: { env: Record<string, string>; timeoutMs: number; prefixLines: boolean },
  ) {}

  get label(): string {
    return this.spec.label
  }

  /** Print a line in this host's log (prefixed when hosts run in parallel). */
  log(message: string): void {
    this.reporter.info(`${this.defaults.prefixLines ? `[${this.label}] ` : ''}${message}`)
  }

  /** The env every script gets, for showing scripts in a dry run (values are redacted there). */
  envForDisplay(): Record<string, string> {
    return this.defaults.env
  }

  warn(message: string): void {
    this.reporter.warning(`${this.label}: ${message}`)
  }

  /** Run one remote step, streaming its output line by line into the log. */
  async step(script: RemoteScript, options: StepOptions = {}): Promise<ExecResult> {
    const prefix = this.defaults.prefixLines ? `[${this.label}] ` : ''
    const full: RemoteScript = { lockDir: this.lockDir, ...script, env: { ...this.defaults.env, ...script.env } }
    // A script may run several steps (markers); each gets its own record.
    let current = script.step
    let currentStart = Date.now()
    const record = (ok: boolean) => this.steps.push({ step: current, durationMs: Date.now() - currentStart, ok })
    return this.reporter.group(`${this.label} · ${script.step}`, async () => {
      const exec: ExecOptions = {
        timeoutMs: options.timeoutMs ?? this.defaults.timeoutMs,
        captureBytes: options.captureBytes,
        input: options.input,
        onStdout: line => {
          options.onLine?.(line)
          if (!options.quietStdout) this.reporter.info(`${prefix}${line}`)
        },
        onStderr: line => this.reporter.info(`${prefix}${line}`),
        onStep: step => {
          if (current !== script.step || Date.now() - currentStart >= 50) record(true)
          current = step
          currentStart = Date.now()
          this.reporter.info(`${prefix}── ${step}`)
        },
      }
      try {
        const r = options.allowFailure ? await this.session.exec(full, exec) : await this.session.run(full, exec)
        record(r.code === 0)
        return r
      } catch (err) {
        record(false)
        if (err instanceof StepError) this.reporter.debug(err.message)
        throw err
      }
    })
  }
}
