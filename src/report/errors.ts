// The failures slipway reports. Each names what happened, where (input, host, step)
// and, when there is one, what the user can do next.

export class SlipwayError extends Error {
  constructor(
    message: string,
    /** A concrete next step for the user, printed after the message. */
    readonly hint?: string,
  ) {
    super(message)
    this.name = new.target.name
  }

  /** Message and hint, as printed in the log and the summary. */
  describe(): string {
    return this.hint ? `${this.message}\n  → ${this.hint}` : this.message
  }
}

/** An input (or config key) that cannot be used as given. Raised before any connection. */
export class InputError extends SlipwayError {
  constructor(
    readonly input: string,
    problem: string,
    hint?: string,
  ) {
    // A source may already describe the input with quotes and a location:
    // `'path' (slipway.yml line 4)`.
    super(`Input ${input.startsWith("'") ? input : `'${input}'`}: ${problem}`, hint)
  }
}

export type SshFailure =
  | 'resolve'
  | 'refused'
  | 'timeout'
  | 'unreachable'
  | 'host-key'
  | 'auth'
  | 'key'
  | 'connection-lost'
  | 'protocol'

/** Anything that went wrong between the runner and a server before or around a command. */
export class SshError extends SlipwayError {
  constructor(
    readonly host: string,
    readonly failure: SshFailure,
    message: string,
    hint?: string,
  ) {
    super(`${host}: ${message}`, hint)
  }
}

/** A remote step that ran and failed. */
export class StepError extends SlipwayError {
  constructor(
    readonly host: string,
    readonly step: string,
    message: string,
    /** Last lines of stderr (already redacted), to show under the message. */
    readonly stderrTail: string[] = [],
    hint?: string,
  ) {
    super(`${host}: step '${step}' ${message}`, hint)
  }

  override describe(): string {
    const tail = this.stderrTail.length ? `\n  last lines of stderr:\n${this.stderrTail.map(l => `    ${l}`).join('\n')}` : ''
    return `${super.describe()}${tail}`
  }
}

/** Best short description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof SlipwayError) return err.describe()
  if (err instanceof Error) return err.message
  return String(err)
}
