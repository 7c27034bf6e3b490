// Runs a built dist/ bundle the way the GitHub runner does: every input declared in
// the action's action.yml becomes INPUT_<NAME> (with its default applied), outputs go
// to GITHUB_OUTPUT, the summary to GITHUB_STEP_SUMMARY, and workflow commands in
// stdout (::add-mask::, ::group::, ::error::) are interpreted as the runner would.

import { spawn } from 'child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join, resolve } from 'path'
import { parse } from 'yaml'

const ROOT = resolve(__dirname, '../../..')

export type ActionName = 'release' | 'run' | 'snapshot' | 'restore' | 'rollback'

export interface ActionRun {
  exitCode: number | null
  /** Raw stdout, workflow commands included (what the runner receives). */
  raw: string
  /** The step log as a user sees it: masks applied, add-mask lines gone. */
  log: string
  outputs: Record<string, string>
  summary: string
  /** ::error:: annotations, masked. */
  errors: string[]
  warnings: string[]
  durationMs: number
  /** Peak RSS of the action's node process in KiB (with measureMemory). */
  maxRssKb?: number
}

export interface ActionYaml {
  inputs?: Record<string, { default?: string; required?: boolean; description?: string }>
  runs: { using: string; main: string }
}

export function actionDir(action: ActionName, root = ROOT): string {
  return action === 'release' ? root : join(root, 'actions', action)
}

export function readActionYaml(action: ActionName, root = ROOT): ActionYaml {
  return parse(readFileSync(join(actionDir(action, root), 'action.yml'), 'utf8')) as ActionYaml
}

export interface RunOptions {
  env?: Record<string, string>
  cwd?: string
  timeoutMs?: number
  /** Called with the child once started (to cut connections, sample ps, ...). */
  onStart?: (pid: number) => void
  /** Every line of stdout and stderr as it arrives (raw: workflow commands included). */
  onLine?: (line: string) => void
  /** Run under /usr/bin/time and report the action's peak resident set size. */
  measureMemory?: boolean
  /**
   * Inputs as raw bytes, which a JS string in spawn()'s env cannot carry (invalid
   * UTF-8): set through env(1) by a bash wrapper that then execs node.
   */
  rawInputs?: Record<string, Buffer>
  /** Another checkout's action.yml files and dist/ (e.g. a build with a fix applied). */
  root?: string
}

export interface Started {
  /** pid of the node process (or of /usr/bin/time wrapping it). */
  pid: number
  done: Promise<ActionRun>
  kill(signal?: NodeJS.Signals): void
}

export function runAction(action: ActionName, inputs: Record<string, string | undefined>, options: RunOptions = {}): Promise<ActionRun> {
  return startAction(action, inputs, options).done
}

/** Start an action as the runner would and return at once; `done` resolves with the run. */
export function startAction(action: ActionName, inputs: Record<string, string | undefined>, options: RunOptions = {}): Started {
  const root = options.root ?? ROOT
  const spec = readActionYaml(action, root)
  const declared = spec.inputs ?? {}
  for (const name of Object.keys(inputs)) {
    if (!(name in declared)) throw new Error(`test passes input '${name}', which ${action}/action.yml does not declare`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-runner-'))
  const outputFile = join(tmp, 'output')
  const summaryFile = join(tmp, 'summary')
  const timeFile = join(tmp, 'time')
  writeFileSync(outputFile, '')
  writeFileSync(summaryFile, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_STATE: join(tmp, 'state'),
    RUNNER_TEMP: tmp,
    RUNNER_OS: 'Linux',
    GITHUB_WORKSPACE: options.cwd ?? tmp,
    GITHUB_REPOSITORY: 'example/app',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'octocat',
    GITHUB_WORKFLOW: 'test',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    ...options.env,
  }
  for (const [name, def] of Object.entries(declared)) {
    const given = inputs[name]
    const value = given ?? (def.default === undefined ? '' : String(def.default))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  }
  if (spec.runs.using !== 'node20' && spec.runs.using !== 'node24') throw new Error(`unexpected runs.using ${spec.runs.using}`)
  const main = join(actionDir(action, root), spec.runs.main)
  let [cmd, args] = options.measureMemory ? ['/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, main]] : [process.execPath, [main]]
  if (options.rawInputs) {
    // Through env(1), not `export`: the runner's names keep their hyphens (INPUT_KNOWN-HOSTS).
    const assignments = Object.entries(options.rawInputs).map(([name, bytes]) => `'INPUT_${name.replace(/ /g, '_').toUpperCase()}='$'${bashBytes(bytes)}'`)
    args = ['-c', `exec env ${assignments.join(' ')} "$@"`, 'bash', cmd, ...args]
    cmd = '/bin/bash'
  }

  const started = Date.now()
  const child = spawn(cmd, args, { env, cwd: options.cwd ?? tmp, stdio: ['ignore', 'pipe', 'pipe'] })
  options.onStart?.(child.pid!)
  let raw = ''
  const reader = () => {
    let partial = ''
    return (chunk: Buffer) => {
      const text = chunk.toString('utf8')
      raw += text
      if (!options.onLine) return
      partial += text
      const parts = partial.split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) options.onLine(line)
    }
  }
  child.stdout.on('data', reader())
  child.stderr.on('data', reader())
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 170_000)
  const done = new Promise<ActionRun>(resolve =>
    child.on('close', exitCode => {
      clearTimeout(timeout)
      const run = interpret(raw, exitCode, readFileSync(outputFile, 'utf8'), readFileSync(summaryFile, 'utf8'), Date.now() - started)
      // time -o writes "Command exited with non-zero status N" before the number on failure.
      if (options.measureMemory) run.maxRssKb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop())
      resolve(run)
    }),
  )
  return { pid: child.pid!, done, kill: signal => child.kill(signal ?? 'SIGTERM') }
}

/** Bytes as the inside of a bash $'...' string. */
function bashBytes(bytes: Buffer): string {
  let out = ''
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`
  return out
}

/** The step log as a user sees it: workflow commands interpreted as the runner does. */
function interpret(raw: string, exitCode: number | null, outputText: string, summary: string, durationMs: number): ActionRun {
  const masks: string[] = []
  const logLines: string[] = []
  const errors: string[] = []
  const warnings: string[] = []
  const mask = (s: string) => masks.reduce((t, m) => (m ? t.split(m).join('***') : t), s)
  for (const line of raw.split('\n')) {
    const m = /^::add-mask::(.*)$/.exec(line)
    if (m) {
      // The runner masks the whole value and, for multi-line values, each line.
      const v = m[1].replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%')
      masks.push(v, ...v.split(/\r?\n/).filter(l => l.trim().length > 0))
      masks.sort((a, b) => b.length - a.length)
      continue
    }
    const annotation = /^::(error|warning)[^:]*::(.*)$/.exec(line)
    const text = annotation ? annotation[2].replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%') : line
    if (annotation?.[1] === 'error') errors.push(mask(text))
    if (annotation?.[1] === 'warning') warnings.push(mask(text))
    logLines.push(mask(text))
  }
  return { exitCode, raw, log: logLines.join('\n'), outputs: parseOutputFile(outputText), summary, errors, warnings, durationMs }
}

/** GITHUB_OUTPUT: `name=value` lines and `name<<DELIM ... DELIM` blocks. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const [, name, delim] = heredoc
      const value: string[] = []
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i])
      out[name] = value.join('\n')
    } else if (lines[i].includes('=')) {
      const eq = lines[i].indexOf('=')
      out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1)
    }
  }
  return out
}
