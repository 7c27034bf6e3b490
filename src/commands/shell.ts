// Quoting and combinators for the bash that slipway sends to servers.
//
// Every value that reaches a remote script passes through `quote` (or is exported
// by `exportVar`), so no input can ever become code. Builders compose commands from
// these pieces instead of concatenating strings by hand.

/** A piece of bash, already safe to paste into a script. */
export type Shell = string

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * Quote a value for bash. Plain words stay readable in logs and dry runs
 * (`releases/20260101-abc`), everything else is single-quoted; a NUL byte cannot be
 * represented in a shell word, so it is refused rather than silently truncated.
 */
export function quote(value: string | number): Shell {
  const s = String(value)
  if (s.includes('\0')) throw new Error('a NUL byte cannot be passed to a remote command')
  if (s !== '' && SAFE.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** A command from a program and its arguments, each quoted. */
export function cmd(...words: (string | number)[]): Shell {
  return words.map(quote).join(' ')
}

/** `a && b && c`: stop at the first failure. */
export function combine(...parts: Shell[]): Shell {
  return parts.filter(Boolean).join(' && ')
}

/** Lines of a script; under `set -e` any failing line ends it. */
export function lines(...parts: (Shell | Shell[] | false | undefined)[]): Shell {
  return parts
    .flat()
    .filter((p): p is string => typeof p === 'string' && p !== '')
    .join('\n')
}

/** `a | b`. */
export function pipe(...parts: Shell[]): Shell {
  return parts.filter(Boolean).join(' | ')
}

/** A valid environment variable name (what `export` accepts). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * `export NAME=value` as one script line. The value lives only inside the script
 * stream (stdin of the remote bash), never in a command line that `ps` would show.
 */
export function exportVar(name: string, value: string): Shell {
  if (!ENV_NAME.test(name)) throw new Error(`'${name}' is not a valid environment variable name`)
  return `export ${name}=${quoteAlways(value)}`
}

/** Single-quote even plain words (for values that must never be re-split). */
export function quoteAlways(value: string): Shell {
  if (value.includes('\0')) throw new Error('a NUL byte cannot be passed to a remote command')
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/** `if test; then body; fi` on one line. */
export function ifThen(test: Shell, body: Shell, otherwise?: Shell): Shell {
  return otherwise ? `if ${test}; then ${body}; else ${otherwise}; fi` : `if ${test}; then ${body}; fi`
}

/** A here-document whose content is taken literally (no expansion). */
export function heredoc(command: Shell, content: string, tag = 'SLIPWAY_EOF'): Shell {
  let t = tag
  while (content.split('\n').includes(t)) t += '_'
  return `${command} <<'${t}'\n${content}\n${t}`
}

/** Paths joined with single slashes; a path segment never contains a NUL. */
export function joinPath(...parts: string[]): string {
  return parts
    .filter(p => p !== '')
    .join('/')
    .replace(/\/{2,}/g, '/')
}
