// The slipway command line: `slipway <action> [--<input> VALUE] [--<input>-file PATH]
// [--config FILE] [--verbose] [--help]`, with the action's input names as options.
// Pure: argv in, what to do out. Files are read, and sources built, by the caller.

import { ACTION_NAMES, CLI_OPTIONS, settingFor, type ActionName, type Kind } from '../inputs/schema'
import { closest } from '../inputs/suggest'
import { SlipwayError } from '../report/errors'

/** A mistake on the command line: printed with a pointer to --help, exit status 2. */
export class UsageError extends SlipwayError {}

/** What the command line needs to know about one action's inputs. */
export interface CommandSpec {
  inputs: Readonly<Record<string, { kind: Kind; secret: boolean }>>
}

/** One occurrence of an input on the command line, as typed. */
export type FlagPart = { flag: string; value: string } | { flag: string; file: string }

export type CommandLine =
  /** `slipway`, `slipway --help`, `slipway help [action]`, `slipway <action> --help`. */
  | { kind: 'help'; command?: ActionName; bare?: boolean }
  | {
      kind: 'run'
      command: ActionName
      /** Per input name, every occurrence in order (repeatable kinds may have several). */
      flags: Record<string, FlagPart[]>
      verbose: boolean
      /** Things to tell the user before running (a secret typed on the command line). */
      warnings: string[]
    }

const BOOLEAN_WORDS = ['true', 'True', 'TRUE', 'false', 'False', 'FALSE']
/** May it be given more than once? The occurrences become lines; a key or password cannot. */
export function repeatable(input: { kind: Kind; secret: boolean }): boolean {
  return !input.secret && ['list', 'multiline', 'env'].includes(input.kind)
}

/** `specs` holds the actions this build can run; the other names are known but not available. */
export function parseCommandLine(argv: readonly string[], specs: Partial<Record<ActionName, CommandSpec>>): CommandLine {
  const available = ACTION_NAMES.filter(a => specs[a])
  const [first, ...rest] = argv
  if (first === undefined) return { kind: 'help', bare: true }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined
    return { kind: 'help', command: topic === undefined ? undefined : commandFor(topic, specs, available) }
  }
  if (first.startsWith('-')) {
    throw new UsageError(`expected an action before the options, e.g. slipway run ${first}`, `Actions: ${ACTION_NAMES.join(', ')}.`)
  }
  const command = commandFor(first, specs, available)
  const spec = specs[command]!
  if (rest.includes('--help') || rest.includes('-h')) return { kind: 'help', command }

  const flags: Record<string, FlagPart[]> = {}
  const warnings: string[] = []
  let verbose = false
  const add = (input: string, part: FlagPart) => {
    const parts = (flags[input] ??= [])
    if (parts.length > 0 && !repeatable(spec.inputs[input])) {
      throw new UsageError(`${part.flag} conflicts with ${parts[0].flag} given before it: ${input} takes one value`)
    }
    parts.push(part)
  }

  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    if (!arg.startsWith('--') || arg === '--') {
      const previous = rest[i - 1]
      const boolean = previous?.startsWith('--') && spec.inputs[previous.slice(2)]?.kind === 'boolean'
      throw new UsageError(
        `unexpected argument '${arg}'`,
        boolean
          ? `${previous} is a switch: write ${previous}, --no-${previous.slice(2)} or ${previous}=false.`
          : arg.startsWith('-') && !arg.startsWith('--')
            ? `Options start with two dashes, e.g. -${arg}.`
            : `Every value belongs to an option, e.g. --run '${arg}'. See slipway ${command} --help.`,
      )
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const inline = eq < 0 ? undefined : arg.slice(eq + 1)
    /** The value after `=`, or the next argument (which must not look like an option). */
    const value = (): string => {
      if (inline !== undefined) return inline
      const next = rest[i + 1]
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`--${name} needs a value`, next === undefined ? undefined : `To pass a value that starts with --, write --${name}=${next}.`)
      }
      i++
      return next
    }

    if (name === 'verbose') {
      if (inline !== undefined) throw new UsageError('--verbose takes no value')
      verbose = true
      continue
    }
    const input = spec.inputs[name]
    if (input?.kind === 'boolean') {
      let v = inline
      if (v === undefined && BOOLEAN_WORDS.includes(rest[i + 1] ?? '')) v = rest[++i]
      if (v !== undefined && !BOOLEAN_WORDS.includes(v)) throw new UsageError(`--${name} is true or false, not '${v}'`, `Write --${name} or --no-${name}.`)
      add(name, { flag: `--${name}`, value: v ?? 'true' })
      continue
    }
    if (input) {
      const v = value()
      if (input.secret) warnings.push(secretWarning(name))
      add(name, { flag: `--${name}`, value: v })
      continue
    }
    const negated = name.startsWith('no-') ? name.slice(3) : undefined
    if (negated !== undefined && spec.inputs[negated]?.kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`)
      add(negated, { flag: `--${name}`, value: 'false' })
      continue
    }
    const fileOf = name.endsWith('-file') ? name.slice(0, -'-file'.length) : undefined
    if (fileOf !== undefined && takesFile(fileOf, spec)) {
      add(fileOf, { flag: `--${name}`, file: value() })
      continue
    }
    throw unknownOption(name, command, spec)
  }
  return { kind: 'run', command, flags, verbose, warnings }
}

/** The spellings an action accepts, for suggestions and for help. */
export function optionNames(spec: CommandSpec): string[] {
  const names: string[] = [...CLI_OPTIONS]
  for (const [name, { kind }] of Object.entries(spec.inputs)) {
    names.push(name)
    if (kind === 'boolean') names.push(`no-${name}`)
    if (takesFile(name, spec)) names.push(`${name}-file`)
  }
  return names
}

/** `--<input>-file PATH` reads the value from a file; meaningless for switches and for the config path itself. */
function takesFile(input: string, spec: CommandSpec): boolean {
  const kind = spec.inputs[input]?.kind
  return kind !== undefined && kind !== 'boolean' && input !== 'config'
}

export function secretWarning(input: string): string {
  const env = `SLIPWAY_${input.toUpperCase().replace(/-/g, '_')}`
  return `--${input} was given on the command line, where other users see it (ps) and your shell history keeps it; use --${input}-file PATH or ${env} instead.`
}

function commandFor(word: string, specs: Partial<Record<ActionName, CommandSpec>>, available: readonly ActionName[]): ActionName {
  if (!(ACTION_NAMES as readonly string[]).includes(word)) {
    const guess = closest(word, ACTION_NAMES)
    throw new UsageError(`unknown action '${word}'${guess ? ` (did you mean '${guess}'?)` : ''}`, `Actions: ${ACTION_NAMES.join(', ')}.`)
  }
  const command = word as ActionName
  if (!specs[command]) {
    throw new UsageError(`'slipway ${command}' is not available yet in this version`, `Available now: ${available.join(', ') || 'none'}.`)
  }
  return command
}

function unknownOption(name: string, command: ActionName, spec: CommandSpec): UsageError {
  const base = name.replace(/-file$/, '').replace(/^no-/, '')
  const elsewhere = settingFor(base)
  if (elsewhere && !spec.inputs[base]) {
    return new UsageError(`--${name} is not an option of 'slipway ${command}'; it belongs to ${elsewhere.actions.join(', ')}`, `See slipway ${command} --help.`)
  }
  const guess = closest(name, optionNames(spec))
  return new UsageError(`unknown option --${name}${guess ? ` (did you mean --${guess}?)` : ''}`, `See slipway ${command} --help.`)
}
