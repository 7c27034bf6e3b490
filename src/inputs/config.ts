// slipway.yml: the settings that rarely change (hosts, path, databases, restart, ...),
// kept in the repository beside the workflows. Keys are the action input names; inputs
// and CLI flags override them. Every value reaches the action as the text an input
// would hold, so each action keeps a single parser and its errors name the file and line.
//
// The file is committed with the code, so it must never hold a secret. Secret keys are
// refused outright, with the place they belong. `${VAR}` references are deliberately
// NOT expanded, not even for secrets: values such as `run` scripts hold `${...}` that
// bash on the server must see as written; expanding them here would let anyone who can
// edit this file copy any variable of the runner (ACTIONS_RUNTIME_TOKEN, a step's
// secrets) into `env` or `host` and on to a server of their choosing; and every secret
// already has a safe route: an input from `secrets.*`, `password-env` for databases, and
// --<name>-file or SLIPWAY_<NAME> for the CLI.

import { readFileSync } from 'fs'
import { resolve } from 'path'
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Document } from 'yaml'
import { ENV_NAME } from '../commands/shell'
import { InputError, SlipwayError } from '../report/errors'
import { Input } from './names'
import { parseBoolean, parseDuration, parseEnvLines } from './parse'
import { settingFor, SETTINGS, type Setting } from './schema'
import { actionInputs, layered, type InputSource } from './source'
import { closest } from './suggest'

export const DEFAULT_CONFIG_FILE = 'slipway.yml'

/** A problem in slipway.yml, reported as `file:line: problem`. */
export class ConfigError extends SlipwayError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    problem: string,
    hint?: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${problem}`, hint)
  }
}

export interface ConfigSource extends InputSource {
  /** The file as the user named it; undefined when no file was read. */
  readonly file?: string
  /** The settings the file gives, in file order. */
  readonly keys: readonly string[]
}

export interface LoadOptions {
  /** A file the user named must exist; the default one is optional. */
  required: boolean
  /** Where a relative path starts: GITHUB_WORKSPACE in an action, the CLI's cwd. */
  dir?: string
  /** How errors name the option that gave the path (`config`, `--config`). */
  input?: string
  /** What to suggest when a named file is missing. */
  missingHint?: string
}

export function loadConfig(path: string, options: LoadOptions): ConfigSource {
  const dir = options.dir ?? process.cwd()
  let text: string
  try {
    text = readFileSync(resolve(dir, path), 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const input = options.input ?? Input.Config
    if (code === 'ENOENT' && !options.required) return emptyConfig()
    if (code === 'ENOENT') {
      throw new InputError(input, `${path} does not exist (looked in ${dir})`, options.missingHint)
    }
    if (code === 'EISDIR') throw new InputError(input, `${path} is a directory, not a file`)
    throw new InputError(input, `cannot read ${path}: ${(err as Error).message}`)
  }
  return parseConfig(text, path)
}

/** The file named by the `config` setting in `upper`, or slipway.yml in `dir` when there is one. */
export function openConfig(upper: InputSource, dir: string, missingHint?: string): ConfigSource {
  const named = upper.get(Input.Config)?.trim()
  return named === undefined
    ? loadConfig(DEFAULT_CONFIG_FILE, { required: false, dir })
    : loadConfig(named, { required: true, dir, input: upper.describe(Input.Config), missingHint })
}

/**
 * The settings of an action step: its inputs over the config file. A default
 * slipway.yml is picked up silently by design, so `log` says which settings came from it.
 */
export function actionSource(env: NodeJS.ProcessEnv = process.env, log?: (message: string) => void): InputSource {
  const inputs = actionInputs(env)
  const config = openConfig(inputs, env.GITHUB_WORKSPACE || process.cwd(), 'Check the path, and that the job checks out the repository (actions/checkout) before this step.')
  if (config.file && log) log(`Settings from ${config.file}: ${config.keys.join(', ') || 'none'} (inputs override them)`)
  return layeredSettings(inputs, config)
}

/**
 * `layered`, except that `env` lines are merged rather than replaced: slipway.yml
 * typically sets DJANGO_SETTINGS_MODULE and the workflow adds a secret, and dropping
 * the first because the second was given would be a silent surprise. Each layer is
 * parsed on its own, so an error still names the layer and line it came from.
 */
export function layeredSettings(...sources: InputSource[]): InputSource {
  const base = layered(...sources)
  return {
    get(name) {
      if (settingFor(name)?.kind !== 'env') return base.get(name)
      const given = sources.filter(s => s.get(name) !== undefined)
      if (given.length <= 1) return given[0]?.get(name)
      const merged: Record<string, string> = {}
      for (const s of [...given].reverse()) Object.assign(merged, parseEnvLines(s.get(name), s.describe(name)))
      // Quoted, because parseEnvLines strips one pair of quotes and trims.
      return Object.entries(merged)
        .map(([k, v]) => `${k}="${v}"`)
        .join('\n')
    },
    describe: base.describe,
  }
}

function emptyConfig(): ConfigSource {
  return { keys: [], get: () => undefined, describe: name => name }
}

/** Words that mean "no value" in YAML, when written without quotes. */
const NULL_WORDS = ['~', 'null', 'Null', 'NULL']
/** `scheme://user:password@`: credentials in a URL, e.g. a repository or health URL. */
const URL_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/[^\s/@:]+:[^\s/@]+@/i

/** Read slipway.yml text; `file` is how messages name it. */
export function parseConfig(text: string, file: string): ConfigSource {
  const lineCounter = new LineCounter()
  // The failsafe schema keeps every scalar as the string the user typed: `0123`, `1e3`
  // and `no` reach the action unchanged, and `yes` is refused as a boolean instead of
  // silently meaning true as in YAML 1.1.
  const doc = parseDocument(text, { schema: 'failsafe', prettyErrors: false, lineCounter, uniqueKeys: true })
  const lineAt = (offset: number) => lineCounter.linePos(offset).line
  const lineOf = (node: unknown) => {
    const range = (node as { range?: [number, number, number] } | null)?.range
    return range ? lineAt(range[0]) : undefined
  }
  const fail = (node: unknown, problem: string, hint?: string): never => {
    throw new ConfigError(file, lineOf(node), problem, hint)
  }

  if (doc.errors.length) {
    // yaml's messages without prettyErrors do not quote the source, which could hold
    // a secret pasted by mistake.
    const e = doc.errors[0]
    throw new ConfigError(file, lineAt(e.pos[0]), `is not valid YAML: ${e.message}`, 'Quote values that contain `: `, ` #` or start with a special character.')
  }

  const values = new Map<string, { text: string; line: number | undefined }>()
  const root = doc.contents
  if (root !== null && !(isScalar(root) && nullish(root))) {
    if (!isMap(root)) fail(root, 'must be a mapping of settings, such as `host: app.example.org`')
    for (const pair of (root as { items: { key: unknown; value: unknown }[] }).items) {
      const keyNode = pair.key
      if (!isScalar(keyNode)) return fail(keyNode, 'setting names must be plain words, such as `host`')
      const key = String(keyNode.value)
      const setting = settingFor(key)
      if (!setting) {
        const guess = closest(key, Object.keys(SETTINGS))
        fail(keyNode, `key '${key}' is not a slipway setting${guess ? ` (did you mean '${guess}'?)` : ''}`, guess ? undefined : 'Settings are the action input names, such as host, path, databases.')
      }
      if (setting!.perRun) fail(keyNode, `'${key}' cannot be set in ${file}: ${setting!.perRun}`, `Pass it as an input (or --${key} on the command line) for the run that needs it.`)
      const value = resolveAlias(doc, pair.value)
      const text = valueText(doc, key, setting!, value, keyNode, fail, `'${key}' (${file} line ${lineOf(keyNode)})`)
      if (text !== undefined && text.trim() !== '') values.set(key, { text, line: lineOf(keyNode) })
    }
  }

  return {
    file,
    keys: [...values.keys()],
    get: name => values.get(name)?.text,
    describe: name => {
      const line = values.get(name)?.line
      return line === undefined ? `'${name}' (${file})` : `'${name}' (${file} line ${line})`
    },
  }
}

type Fail = (node: unknown, problem: string, hint?: string) => never

/** The value as an input would hold it, after the checks that need the file's lines. */
function valueText(doc: Document, key: string, setting: Setting, value: unknown, keyNode: unknown, fail: Fail, describe: string): string | undefined {
  if (value === null || value === undefined || (isScalar(value) && nullish(value))) return undefined

  if (setting.secret) {
    fail(
      keyNode,
      `'${key}' is a secret, and a config file is committed with the code`,
      `Remove it from the file. In a workflow pass it as an input from a secret (${key}: \${{ secrets.NAME }}); on the command line use --${key}-file PATH or SLIPWAY_${key.toUpperCase().replace(/-/g, '_')}.`,
    )
  }
  if (setting.secretFields) checkSecretFields(doc, key, setting.secretFields, value, fail)
  for (const scalar of scalarsIn(doc, value)) {
    if (String(scalar.value).includes('${{')) {
      fail(scalar, `'${key}' holds a GitHub expression (\${{ ... }}), which only workflow files evaluate`, `Values in this file are used as written. Pass the value as an input of the step instead.`)
    }
  }

  const single = (): string => {
    if (isSeq(value)) return fail(value, `'${key}' must be a single value, not a list`)
    if (isMap(value)) return fail(value, `'${key}' must be a single value, not a mapping`)
    return String((value as { value: unknown }).value)
  }
  const lines = (): string => {
    if (isMap(value)) return fail(value, `'${key}' must be a value or a list of values, not a mapping`)
    if (!isSeq(value)) return single()
    return value.items
      .map(raw => {
        const item = resolveAlias(doc, raw)
        if (!isScalar(item)) return fail(item, `'${key}' must be a list of single values`)
        return nullish(item) ? '' : String(item.value)
      })
      .filter(s => s !== '')
      .join('\n')
  }
  const noCredentials = (text: string): string => {
    if (URL_CREDENTIALS.test(text)) fail(value, `'${key}' holds a password in a URL, and a config file is committed with the code`, 'Leave the credentials out of the URL (use a deploy key or a credential helper on the server).')
    return text
  }

  switch (setting.kind) {
    case 'string':
      return noCredentials(single())
    case 'list':
      return noCredentials(lines())
    case 'multiline':
      return lines()
    case 'boolean': {
      const text = single()
      try {
        parseBoolean(text, key, false)
      } catch {
        fail(value, `'${key}' must be true or false`)
      }
      return text
    }
    case 'duration': {
      const text = single()
      try {
        parseDuration(text, key, 0)
      } catch {
        fail(value, `'${key}' must be a duration: seconds (90) or with units (90s, 5m, 1h30m)`)
      }
      return text
    }
    case 'integer': {
      const text = single().trim()
      if (!/^\d+$/.test(text)) fail(value, `'${key}' must be a whole number`)
      return text
    }
    case 'env': {
      if (!isMap(value)) {
        const text = lines()
        parseEnvLines(text, describe)
        return text
      }
      return value.items
        .map(p => {
          const name = isScalar(p.key) ? String(p.key.value) : ''
          if (!ENV_NAME.test(name)) fail(p.key, `'${key}': '${name}' is not an environment variable name (letters, digits and _)`)
          const v = resolveAlias(doc, p.value)
          if (isSeq(v) || isMap(v)) fail(v, `'${key}': the value of ${name} must be a single value`)
          const text = isScalar(v) && !nullish(v) ? String(v.value) : ''
          if (/[\r\n]/.test(text)) fail(v, `'${key}': the value of ${name} must be one line`)
          // Quoted, because parseEnvLines strips one pair of quotes and trims.
          return `${name}="${text}"`
        })
        .join('\n')
    }
    case 'structured':
      if (isScalar(value)) return String(value.value)
      // Re-serialised from strings (failsafe), so the action's own parser reads back
      // exactly what the file says; its errors name this key and line.
      return stringify((value as { toJS(doc: Document): unknown }).toJS(doc))
  }
}

/** Refuse a secret field (a database password) inside a structured value. */
function checkSecretFields(doc: Document, key: string, fields: readonly string[], value: unknown, fail: Fail): void {
  const items = isSeq(value) ? value.items : [value]
  items.forEach((raw, i) => {
    const item = resolveAlias(doc, raw)
    if (!isMap(item)) return
    for (const pair of item.items) {
      const field = isScalar(pair.key) ? String(pair.key.value) : ''
      const v = resolveAlias(doc, pair.value)
      if (!fields.includes(field) || v === null || v === undefined || (isScalar(v) && (nullish(v) || v.value === ''))) continue
      fail(
        pair.key,
        `'${key}' item ${i + 1} has a ${field}, and a config file is committed with the code`,
        key === 'databases'
          ? `Write password-env: NAME instead and pass NAME=... in the env input from a secret, or use engine: django to read the app's own settings.`
          : `Pass the ${field} as an input from a secret instead.`,
      )
    }
  })
}

function* scalarsIn(doc: Document, node: unknown): Generator<{ value: unknown }> {
  const n = resolveAlias(doc, node)
  if (isScalar(n)) yield n
  else if (isSeq(n)) for (const item of n.items) yield* scalarsIn(doc, item)
  else if (isMap(n)) for (const p of n.items) yield* scalarsIn(doc, p.value)
}

function resolveAlias(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node
}

function nullish(node: { value: unknown; type?: string }): boolean {
  return node.value === null || node.value === '' || (node.type === 'PLAIN' && NULL_WORDS.includes(String(node.value)))
}
