// Starts a dist/ bundle the way test/integration/support/runner.ts does (same env, same
// workflow-command handling), but lets a fault case watch the step log line by line as
// it streams (to cut the connection when a step marker shows up) and measure the
// action's peak memory with /usr/bin/time.
//
// The shared runner only offers onStart(pid); adding an onLine option there would let
// this file shrink to the memory measurement.

import { spawn } from 'child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join, resolve } from 'path'
import { parse } from 'yaml'
import { parseOutputFile, type ActionName, type ActionRun } from '../../integration/support/runner'

/**
 * The checkout whose action.yml files and dist/ bundles run: this one, or with
 * FAULTS_SLIPWAY_ROOT another build (e.g. one with a proposed fix applied) under the
 * same tests.
 */
export const SLIPWAY_ROOT = process.env.FAULTS_SLIPWAY_ROOT ?? resolve(__dirname, '../../..')

export function actionDir(action: ActionName): string {
  return action === 'release' ? SLIPWAY_ROOT : join(SLIPWAY_ROOT, 'actions', action)
}

export interface ActionYaml {
  inputs?: Record<string, { default?: string; required?: boolean; description?: string }>
  runs: { using: string; main: string }
}

export function readActionYaml(action: ActionName): ActionYaml {
  return parse(readFileSync(join(actionDir(action), 'action.yml'), 'utf8')) as ActionYaml
}

export interface StartOptions {
  env?: Record<string, string>
  cwd?: string
  timeoutMs?: number
  /** Every line of the action's stdout and stderr, as it arrives (raw: workflow commands included). */
  onLine?: (line: string) => void
  /** Run under /usr/bin/time and report the peak resident set size. */
  measureMemory?: boolean
  /**
   * Inputs given as raw bytes, which a JS string in spawn()'s env cannot carry (invalid
   * UTF-8): set by a bash wrapper that then execs node, as a runner would.
   */
  rawInputs?: Record<string, Buffer>
}

export interface FaultRun extends ActionRun {
  /** Peak RSS of the action's node process in KiB (measureMemory). */
  maxRssKb?: number
}

export interface Started {
  /** pid of the node process (or of /usr/bin/time wrapping it). */
  pid: number
  done: Promise<FaultRun>
  kill(signal?: NodeJS.Signals): void
}

export function startAction(action: ActionName, inputs: Record<string, string | undefined>, options: StartOptions = {}): Started {
  const spec = readActionYaml(action)
  const declared = spec.inputs ?? {}
  for (const name of Object.keys(inputs)) {
    if (!(name in declared)) throw new Error(`test passes input '${name}', which ${action}/action.yml does not declare`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-faults-runner-'))
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
    GITHUB_WORKFLOW: 'faults',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    ...options.env,
  }
  for (const [name, def] of Object.entries(declared)) {
    const given = inputs[name]
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = given ?? (def.default === undefined ? '' : String(def.default))
  }
  const main = join(actionDir(action), spec.runs.main)
  let [cmd, args] = options.measureMemory ? ['/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, main]] : [process.execPath, [main]]
  if (options.rawInputs) {
    // Through env(1), not `export`: the runner's names keep their hyphens (INPUT_KNOWN-HOSTS).
    const assignments = Object.entries(options.rawInputs).map(([name, bytes]) => `'INPUT_${name.replace(/ /g, '_').toUpperCase()}='$'${bashBytes(bytes)}'`)
    args = ['-c', `exec env ${assignments.join(' ')} "$@"`, 'bash', cmd, ...args]
    cmd = '/bin/bash'
  }
  const started = Date.now()
  const child = spawn(cmd, args, { env, cwd: options.cwd ?? tmp, stdio: ['ignore', 'pipe', 'pipe'] })
  let raw = ''
  const splitter = () => {
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
  child.stdout.on('data', splitter())
  child.stderr.on('data', splitter())
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 280_000)
  const done = new Promise<FaultRun>(resolve => {
    child.on('close', exitCode => {
      clearTimeout(timeout)
      const run = interpret(raw, exitCode, readFileSync(outputFile, 'utf8'), readFileSync(summaryFile, 'utf8'), Date.now() - started)
      if (options.measureMemory) {
        // time -o writes "Command exited with non-zero status N" before the number on failure.
        const kb = readFileSync(timeFile, 'utf8').trim().split('\n').pop()
        run.maxRssKb = Number(kb)
      }
      resolve(run)
    })
  })
  return { pid: child.pid!, done, kill: signal => child.kill(signal ?? 'SIGTERM') }
}

/** Bytes as the inside of a bash $'...' string. */
function bashBytes(bytes: Buffer): string {
  let out = ''
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`
  return out
}

/** The step log as the runner shows it (masks applied), as in the shared runner. */
function interpret(raw: string, exitCode: number | null, outputText: string, summary: string, durationMs: number): FaultRun {
  const masks: string[] = []
  const logLines: string[] = []
  const errors: string[] = []
  const warnings: string[] = []
  const mask = (s: string) => masks.reduce((t, m) => (m ? t.split(m).join('***') : t), s)
  for (const line of raw.split('\n')) {
    const m = /^::add-mask::(.*)$/.exec(line)
    if (m) {
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

export function runToEnd(action: ActionName, inputs: Record<string, string | undefined>, options: StartOptions = {}): Promise<FaultRun> {
  return startAction(action, inputs, options).done
}

/** The first line of the errors, or of the log's end, for a fact. */
export function why(run: ActionRun): string {
  if (run.errors[0]) return run.errors[0].split('\n')[0].slice(0, 200)
  // A crash: node prints the error, a stack, then "Node.js vXX" last.
  const lines = run.log.trim().split('\n')
  const error = lines.find(l => /^\w*Error\b|^Error:/.test(l))
  return (error ?? lines.pop() ?? '').slice(0, 200)
}
