// Pure parsers for input values. Each takes the input's name so that its error says
// which input is wrong and what was expected.

import { ENV_NAME } from '../commands/shell'
import { InputError } from '../report/errors'

/** YAML 1.2 core-schema booleans, as @actions/core's getBooleanInput accepts them. */
export function parseBoolean(value: string | undefined, input: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  const v = value.trim()
  if (['true', 'True', 'TRUE'].includes(v)) return true
  if (['false', 'False', 'FALSE'].includes(v)) return false
  throw new InputError(input, `'${printable(v)}' is not a boolean`, 'Use true or false.')
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `90`, `90s`, `5m`, `1h30m`, `250ms`; a bare number means seconds. Returns milliseconds. */
export function parseDuration(value: string | undefined, input: string, fallbackMs: number): number {
  if (value === undefined) return fallbackMs
  const v = value.trim()
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000)
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map(p => p[0]).join('') !== v) {
    throw new InputError(input, `'${printable(v)}' is not a duration`, 'Use seconds (90) or units: 90s, 5m, 1h30m.')
  }
  return Math.round(parts.reduce((ms, [, n, unit]) => ms + Number(n) * UNITS[unit], 0))
}

export function parseInteger(value: string | undefined, input: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  const v = value.trim()
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new InputError(input, `'${printable(v)}' is not a whole number from ${min} to ${max}`)
  }
  return Number(v)
}

/** One of a fixed set of words. */
export function parseChoice<T extends string>(value: string | undefined, input: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  const v = value.trim()
  if ((choices as readonly string[]).includes(v)) return v as T
  throw new InputError(input, `'${printable(v)}' is not one of: ${choices.join(', ')}`)
}

/** Items separated by commas or newlines, trimmed, blanks and `#` comment lines dropped. */
export function splitList(value: string | undefined): string[] {
  if (value === undefined) return []
  return value
    .split(/\r?\n/)
    .filter(l => !l.trim().startsWith('#'))
    .flatMap(l => l.split(','))
    .map(s => s.trim())
    .filter(Boolean)
}

/** Non-empty lines, trimmed, `#` comments dropped (for inputs where a comma is data). */
export function splitLines(value: string | undefined): string[] {
  if (value === undefined) return []
  return value
    .split(/\r?\n/)
    .map(s => s.trim())
    .filter(s => s !== '' && !s.startsWith('#'))
}

/**
 * `KEY=value` lines. The value is everything after the first `=`; one pair of matching
 * surrounding quotes is removed as dotenv does. Blank lines and `#` comments are skipped.
 */
export function parseEnvLines(value: string | undefined, input: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [i, raw] of (value ?? '').split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    const name = eq < 0 ? line : line.slice(0, eq).trim().replace(/^export\s+/, '')
    if (eq < 0 || !ENV_NAME.test(name)) {
      throw new InputError(input, `line ${i + 1} is not KEY=value (names are letters, digits and _)`)
    }
    let v = raw.slice(raw.indexOf('=') + 1).trim()
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1)
    if (v.includes('\0')) throw new InputError(input, `the value of ${name} contains a NUL byte`)
    env[name] = v
  }
  return env
}

/** An absolute remote path without traversal or characters that make logs lie. */
export function parseRemotePath(value: string | undefined, input: string): string | undefined {
  if (value === undefined) return undefined
  const v = value.trim().replace(/\/+$/, '') || '/'
  if (!v.startsWith('/')) throw new InputError(input, `'${printable(v)}' must be an absolute path`)
  if (v.split('/').includes('..')) throw new InputError(input, `'${printable(v)}' must not contain '..'`)
  // eslint-disable-next-line no-control-regex
  if (/[\0-\x1f\x7f]/.test(v)) throw new InputError(input, 'contains control characters')
  return v
}

/** A value as it can be shown in an error: control characters escaped, long values cut. */
export function printable(value: string): string {
  // eslint-disable-next-line no-control-regex
  const s = value.replace(/[\0-\x1f\x7f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

/**
 * Split a command line into words the way a shell would, but without expansion:
 * quotes group, backslash escapes, `$` and backticks stay literal. Used for `manage`.
 */
export function splitWords(value: string, input: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && (value[i + 1] === '"' || value[i + 1] === '\\')) word += value[++i]
      else word += c
    } else if (c === '"' || c === "'") {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < value.length) {
      word += value[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (quote) throw new InputError(input, `has an unclosed ${quote} quote`)
  if (inWord) words.push(word)
  if (words.some(w => w.includes('\0'))) throw new InputError(input, 'contains a NUL byte')
  return words
}
