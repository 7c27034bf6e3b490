// What the CLI knows about each action, and its --help text. Names and descriptions
// come from the action.yml files through actions.json (scripts/cli-inputs.mjs), kinds
// from the settings schema, so the terminal and the workflow never disagree.

import { ACTIONS } from '../actions/index'
import { DEFAULT_CONFIG_FILE } from '../inputs/config'
import { ACTION_NAMES, settingFor, type ActionName, type Kind } from '../inputs/schema'
import { repeatable, type CommandSpec } from './args'
import metadata from './actions.json'

export interface ActionMeta {
  /** The action.yml it was read from. */
  file: string
  description: string
  inputs: Record<string, { description: string; required?: boolean }>
  outputs: Record<string, string>
}

export const ACTION_META = metadata as Partial<Record<ActionName, ActionMeta>>

/** Where a terminal differs from a workflow: defaults taken from the user's ~/.ssh. */
export const TERMINAL_DEFAULTS: Readonly<Record<string, string>> = {
  'private-key': 'From a terminal: the first of ~/.ssh/id_ed25519, ~/.ssh/id_ecdsa, ~/.ssh/id_rsa that exists, when neither private-key nor password is given.',
  'known-hosts': 'From a terminal: ~/.ssh/known_hosts when neither known-hosts nor fingerprint is given (lines slipway cannot read are skipped, as ssh does).',
}

const METAVAR: Record<Kind, string> = {
  string: 'VALUE',
  list: 'LIST',
  multiline: 'TEXT',
  boolean: '',
  duration: 'DURATION',
  integer: 'N',
  env: 'KEY=VALUE',
  structured: 'YAML',
}

/** The actions this build can run: registered, and described by an action.yml. */
export function commandSpecs(): Partial<Record<ActionName, CommandSpec>> {
  const specs: Partial<Record<ActionName, CommandSpec>> = {}
  for (const name of ACTION_NAMES) {
    const meta = ACTION_META[name]
    if (!meta || !ACTIONS[name]) continue
    const inputs: Record<string, { kind: Kind; secret: boolean }> = {}
    for (const input of Object.keys(meta.inputs)) {
      // The schema test guarantees an entry; a plain value is the safe reading otherwise.
      const setting = settingFor(input)
      inputs[input] = { kind: setting?.kind ?? 'string', secret: setting?.secret === true }
    }
    specs[name] = { inputs }
  }
  return specs
}

export function usage(): string {
  const specs = commandSpecs()
  const width = Math.max(...ACTION_NAMES.map(a => a.length))
  const rows = ACTION_NAMES.map(a => `  ${a.padEnd(width)}  ${specs[a] ? firstSentence(ACTION_META[a]!.description) : '(not available yet in this version)'}`)
  return [
    'Usage: slipway <action> [options]',
    '',
    'Actions:',
    ...rows,
    '',
    "Run 'slipway <action> --help' for its options: the inputs of the GitHub Action of",
    'the same name, as --<input> VALUE, --<input>-file PATH or SLIPWAY_<INPUT>.',
    '',
  ].join('\n')
}

export function actionHelp(name: ActionName, spec: CommandSpec): string {
  const meta = ACTION_META[name]!
  const out: string[] = [`Usage: slipway ${name} [options]`, '', ...wrap(meta.description, 0), '', `Options (the inputs of ${meta.file}):`]
  for (const [input, info] of Object.entries(meta.inputs)) {
    const { kind, secret } = spec.inputs[input]
    const many = repeatable(spec.inputs[input])
    const metavar = input === 'config' ? 'FILE' : METAVAR[kind]
    const flag = kind === 'boolean' ? `--${input}, --no-${input}` : secret ? `--${input}-file PATH` : `--${input} ${metavar}`
    const notes = [info.required && 'required', many && 'repeatable', secret && `secret: or SLIPWAY_${envName(input)}`]
    const tags = notes.filter(Boolean).join('; ')
    out.push(`  ${flag}${tags ? `  (${tags})` : ''}`)
    out.push(...wrap(info.description, 6))
    if (TERMINAL_DEFAULTS[input]) out.push(...wrap(TERMINAL_DEFAULTS[input], 6))
  }
  out.push(
    '  --verbose',
    '      Print debug messages.',
    '  -h, --help',
    '      Show this help.',
    '',
    ...wrap(
      'Every option with a value can also be read from a file, --<option>-file PATH (- for stdin), or from an environment variable, SLIPWAY_<OPTION> (e.g. SLIPWAY_HOST). ' +
        `Options win over SLIPWAY_* variables, which win over ${DEFAULT_CONFIG_FILE} (read from the current directory, or --config FILE), which wins over the defaults above. ` +
        'env lines are merged across all of them. Secrets belong in a file or a variable: a value on the command line is visible to other users in ps.',
      0,
    ),
    '',
    'Outputs, printed on stdout as name=value (the log goes to stderr):',
  )
  const width = Math.max(0, ...Object.keys(meta.outputs).map(o => o.length))
  for (const [output, description] of Object.entries(meta.outputs)) out.push(...wrap(description, width + 4, 80, `  ${output.padEnd(width)}  `))
  out.push('', 'Exit status: 0 when the action succeeded, 1 when it failed, 2 for a usage error.', '')
  return out.join('\n')
}

export function envName(input: string): string {
  return input.toUpperCase().replace(/-/g, '_')
}

function firstSentence(text: string): string {
  const m = /^.*?\.(?=\s|$)/.exec(text)
  return m ? m[0] : text
}

/** Words filled into lines of `width`, indented; `first` replaces the first line's indent. */
function wrap(text: string, indent: number, width = 80, first = ' '.repeat(indent)): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push((lines.length ? ' '.repeat(indent) : first) + line)
      line = word
    } else {
      line = line ? `${line} ${word}` : word
    }
  }
  if (line) lines.push((lines.length ? ' '.repeat(indent) : first) + line)
  return lines
}
