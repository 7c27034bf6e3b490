// Where the CLI's settings come from, highest first: options, SLIPWAY_* variables,
// slipway.yml, and the defaults an admin expects from a terminal (~/.ssh).

import { existsSync, readFileSync } from 'fs'
import { isAbsolute, join, resolve } from 'path'
import { layeredSettings, openConfig, type ConfigSource } from '../inputs/config'
import { Input } from '../inputs/names'
import { parseBoolean } from '../inputs/parse'
import { settingFor, type Kind } from '../inputs/schema'
import { closest } from '../inputs/suggest'
import { layered, mapInputs, type InputSource } from '../inputs/source'
import { InputError } from '../report/errors'
import { parseKnownHosts } from '../ssh/hostkeys'
import type { CommandLine, CommandSpec, FlagPart } from './args'
import { envName } from './help'

export interface Terminal {
  env: NodeJS.ProcessEnv
  cwd: string
  home: string
  /** Standard input, for `--<input>-file -`. */
  stdin?: () => string
}

export interface CliSettings {
  source: InputSource
  config: ConfigSource
  /** What the user should know came from where (config file, ~/.ssh defaults). */
  notes: string[]
  warnings: string[]
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa']
/** Kinds that hold one value: a trailing newline from a file is not part of it. */
const SINGLE: readonly Kind[] = ['string', 'boolean', 'duration', 'integer']

export function cliSettings(line: Extract<CommandLine, { kind: 'run' }>, spec: CommandSpec, term: Terminal): CliSettings {
  const notes: string[] = []
  const warnings: string[] = []
  const flags = flagSource(line.flags, spec, term)
  const envVars = envSource(spec, term.env, warnings)
  const upper = layered(flags, envVars)
  const config = openConfig(upper, term.cwd)
  if (config.file) notes.push(`Settings from ${config.file}: ${config.keys.join(', ') || 'none'} (options override them)`)
  const defaults = terminalDefaults(layered(upper, config), term.home, notes, warnings)
  return { source: layeredSettings(flags, envVars, config, defaults), config, notes, warnings }
}

function flagSource(flags: Record<string, FlagPart[]>, spec: CommandSpec, term: Terminal): InputSource {
  const values: Record<string, string> = {}
  const labels: Record<string, string> = {}
  let stdinUsed: string | undefined
  for (const [input, parts] of Object.entries(flags)) {
    const single = SINGLE.includes(spec.inputs[input].kind)
    values[input] = parts
      .map(part => {
        if ('value' in part) return part.value
        if (part.file === '-') {
          if (stdinUsed) throw new InputError(part.flag, `cannot read standard input again (${stdinUsed} - already did)`)
          stdinUsed = part.flag
          return trimSingle((term.stdin ?? (() => readFileSync(0, 'utf8')))(), single)
        }
        return trimSingle(readText(expandHome(part.file, term), part.flag, part.file), single)
      })
      .join('\n')
    const first = parts[0]
    labels[input] = 'file' in first ? `${first.flag} ${first.file}` : first.flag
  }
  return mapInputs(values, name => labels[name] ?? `--${name}`)
}

/** SLIPWAY_<INPUT>, for every input of the action; secrets need not be typed as options. */
function envSource(spec: CommandSpec, env: NodeJS.ProcessEnv, warnings: string[]): InputSource {
  const names = Object.keys(spec.inputs)
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith('SLIPWAY_')) continue
    const input = variable.slice('SLIPWAY_'.length).toLowerCase().replace(/_/g, '-')
    if (settingFor(input)) continue
    // Variables may be set for other tools; only a near miss is worth a word.
    const guess = closest(input, names)
    if (guess) warnings.push(`${variable} is not a slipway setting and is ignored (did you mean SLIPWAY_${envName(guess)}?)`)
  }
  return {
    get(name) {
      const v = env[`SLIPWAY_${envName(name)}`]
      return v === undefined || v.trim() === '' ? undefined : v
    },
    describe: name => `SLIPWAY_${envName(name)}`,
  }
}

/** ~/.ssh, as ssh itself would use it, for what nothing above gave. */
function terminalDefaults(upper: InputSource, home: string, notes: string[], warnings: string[]): InputSource {
  const values: Record<string, string> = {}
  const labels: Record<string, string> = {}
  const shown = (p: string) => `~/${p.slice(home.length).replace(/^\/+/, '')}`

  if (upper.get(Input.PrivateKey) === undefined && upper.get(Input.Password) === undefined) {
    const key = DEFAULT_KEYS.map(k => join(home, '.ssh', k)).find(p => existsSync(p))
    if (key) {
      values[Input.PrivateKey] = readText(key, Input.PrivateKey, shown(key))
      labels[Input.PrivateKey] = `${Input.PrivateKey} (default ${shown(key)})`
      notes.push(`Using the key ${shown(key)}`)
    }
  }

  let skip = false
  try {
    skip = parseBoolean(upper.get(Input.InsecureSkipHostKeyCheck), Input.InsecureSkipHostKeyCheck, false)
  } catch {
    // The action reports the bad value itself, naming where it came from.
  }
  const knownHosts = join(home, '.ssh', 'known_hosts')
  if (!skip && upper.get(Input.KnownHosts) === undefined && upper.get(Input.Fingerprint) === undefined && existsSync(knownHosts)) {
    const text = readText(knownHosts, Input.KnownHosts, shown(knownHosts))
    // ssh skips lines it cannot read (certificates of unknown types, markers from newer
    // versions); failing on them would make a working ~/.ssh unusable here.
    const { invalid } = parseKnownHosts(text)
    const bad = new Set(invalid.map(i => i.line))
    if (bad.size) warnings.push(`${shown(knownHosts)}: skipped ${bad.size === 1 ? 'line' : 'lines'} ${[...bad].join(', ')}, which slipway cannot read`)
    values[Input.KnownHosts] = text
      .split(/\r?\n/)
      .map((l, i) => (bad.has(i + 1) ? '' : l))
      .join('\n')
    labels[Input.KnownHosts] = `${Input.KnownHosts} (default ${shown(knownHosts)})`
    notes.push(`Host keys from ${shown(knownHosts)}`)
  }
  return mapInputs(values, name => labels[name] ?? name)
}

function readText(path: string, input: string, shown: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message
    throw new InputError(input, `cannot read ${shown}: ${reason}`)
  }
}

function expandHome(path: string, term: Terminal): string {
  // `--key-file=~/x` reaches us unexpanded: the shell expands ~ only at a word's start.
  const p = path === '~' ? term.home : path.startsWith('~/') ? join(term.home, path.slice(2)) : path
  return isAbsolute(p) ? p : resolve(term.cwd, p)
}

function trimSingle(text: string, single: boolean): string {
  return single ? text.replace(/(\r?\n)+$/, '') : text
}
