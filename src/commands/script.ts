// What a remote script looks like on the wire.
//
// The server runs `bash -se` and reads the whole script from stdin, so nothing but
// `bash -se` ever appears on a remote command line. The body is wrapped in one
// `{ ... }` group: bash parses the group completely before running any of it, so a
// script cut off in transit or with a syntax error runs nothing at all, and a command
// inside that reads stdin cannot swallow the rest of the script.

import { registerWork } from './lock'
import { exportVar, lines, quote, quoteAlways, type Shell } from './shell'

/** The program the SSH layer asks the server to run; the script arrives on its stdin. */
export const REMOTE_SHELL = 'bash -se'

/** Marker prefix: ASCII record separator, never printed by ordinary tools. */
export const MARK = '\x1eslipway'

export interface RemoteScript {
  /** The step this script performs, for the log, the summary and error messages. */
  step: string
  /** Bash. Builders in src/commands produce it; users' `run` input is pasted verbatim. */
  body: Shell
  /** Exported inside the script stream. Values are treated as secrets. */
  env?: Record<string, string>
  /** Plain (non-secret) variables the body refers to, exported before `env`. */
  vars?: Record<string, string>
  /** Directory to change to first; a missing directory fails the step. */
  cwd?: string
  /** Data follows the script on stdin and the body reads it (a git pack, an upload). */
  input?: boolean
  /** Our own builders run with `set -u` too; users' scripts only with `-e -o pipefail`. */
  strict?: boolean
  /** Register as work under this app lock, so a guardian whose runner vanished can end it. */
  lockDir?: string
}

export interface RenderOptions {
  /** Per-run random token, so output from user commands cannot forge our markers. */
  nonce: string
  /** Replace every env value with *** (dry runs and debug output). */
  redact?: boolean
}

/**
 * The exact bytes sent to `bash -se`. Markers (on stderr, prefixed with MARK and the
 * nonce) tell the SSH layer the process group to kill on timeout and which line failed.
 */
export function renderScript(script: RemoteScript, opts: RenderOptions): string {
  const mark = `${MARK}:${opts.nonce}`
  const flags = script.strict === false ? 'set -eE -o pipefail' : 'set -eEu -o pipefail'
  const env = Object.entries(script.env ?? {}).map(([k, v]) => exportVar(k, opts.redact ? '***' : v))
  const vars = Object.entries(script.vars ?? {}).map(([k, v]) => exportVar(k, v))
  const preamble = lines(
    flags,
    '{',
    script.input ? '' : 'exec </dev/null',
    // sshd makes every session its own process group, so this id lets a timeout end
    // the whole tree of commands, not just bash.
    `read -r _ _ _ _ __slipway_pgid _ </proc/$$/stat && printf '${mark}:pgid:%s\\n' "$__slipway_pgid" >&2`,
    // The first failing command, its line in the body and its status, for the error message.
    `__slipway_fail() { local c=\${3//$'\\n'/ }; printf '${mark}:fail:%s:%s:%s\\n' "$1" "$(($2 - __slipway_base))" "\${c:0:200}" >&2; }`,
    `trap '__slipway_fail "$?" "$LINENO" "$BASH_COMMAND"' ERR`,
    `__slipway_step() { printf '${mark}:step:%s\\n' "$1" >&2; }`,
    // Builders register cleanups with atExit() instead of owning the one EXIT trap.
    '__slipway_exit=()',
    '__slipway_at_exit() { __slipway_exit=("$1" "${__slipway_exit[@]}"); }',
    `__slipway_on_exit() { local c; for c in "\${__slipway_exit[@]}"; do eval "$c" || true; done; }`,
    'trap __slipway_on_exit EXIT',
    script.lockDir ? registerWork(script.lockDir) : '',
    vars,
    env,
    script.cwd ? `cd -- ${quote(script.cwd)}` : '',
  )
  // LINENO counts from the first line of the stream; report lines of the body instead.
  const base = preamble.split('\n').length + 1
  return `${lines(preamble, `__slipway_base=${base}`, script.body)}\n} ; exit\n`
}

/**
 * A step boundary inside a script that runs several steps in one round trip. The
 * preamble defines the function, so builders need not know the per-run nonce.
 */
export function stepMarker(step: string): Shell {
  return `__slipway_step ${quote(step)}`
}

/** Run `command` when the script exits, however it exits (cleanups stack, last first). */
export function atExit(command: Shell): Shell {
  return `__slipway_at_exit ${quoteAlways(command)}`
}

/** Steps run in order by one script; the log and summary still see each step. */
export function steps(...parts: { step: string; body: Shell }[]): Shell {
  return lines(...parts.filter(p => p.body !== '').map(p => lines(stepMarker(p.step), p.body)))
}

/** What the SSH layer learns from markers on stderr. */
export type Marker =
  | { kind: 'pgid'; pgid: number }
  | { kind: 'fail'; code: number; line: number; command: string }
  | { kind: 'step'; step: string }

/** Parse one stderr line; undefined when it is ordinary output. */
export function parseMarker(line: string, nonce: string): Marker | undefined {
  const prefix = `${MARK}:${nonce}:`
  const at = line.indexOf(prefix)
  if (at < 0) return undefined
  const rest = line.slice(at + prefix.length)
  const [kind, ...fields] = rest.split(':')
  if (kind === 'pgid' && /^\d+$/.test(fields[0] ?? '')) return { kind, pgid: Number(fields[0]) }
  if (kind === 'step') return { kind, step: fields.join(':') }
  if (kind === 'fail') {
    const [code, line, ...command] = fields
    return { kind, code: Number(code), line: Number(line), command: command.join(':') }
  }
  return undefined
}

/** Kill a remote process group: TERM first, KILL for what ignores it. */
export function killGroup(pgid: number): Shell {
  return `kill -TERM -- -${pgid} 2>/dev/null; sleep 2; kill -KILL -- -${pgid} 2>/dev/null; true`
}
