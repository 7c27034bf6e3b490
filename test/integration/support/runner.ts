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
}

export interface RunOptions {
  env?: Record<string, string>
  cwd?: string
  timeoutMs?: number
  /** Called with the child once started (to cut connections, sample ps, ...). */
  onStart?: (pid: number) => void
}

interface ActionYaml {
  inputs?: Record<string, { default?: string; required?: boolean }>
  runs: { using: string; main: string }
}

export function actionDir(action: ActionName): string {
  return action === 'release' ? ROOT : join(ROOT, 'actions', action)
}

export function readActionYaml(action: ActionName): ActionYaml {
  return parse(readFileSync(join(actionDir(action), 'action.yml'), 'utf8')) as ActionYaml
}

export async function runAction(action: ActionName, inputs: Record<string, string | undefined>, options: RunOptions = {}): Promise<ActionRun> {
  const spec = readActionYaml(action)
  const declared = spec.inputs ?? {}
  for (const name of Object.keys(inputs)) {
    if (!(name in declared)) throw new Error(`test passes input '${name}', which ${action}/action.yml does not declare`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-runner-'))
  const outputFile = join(tmp, 'output')
  const summaryFile = join(tmp, 'summary')
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
  const main = join(actionDir(action), spec.runs.main)

  const started = Date.now()
  const child = spawn(process.execPath, [main], { env, cwd: options.cwd ?? tmp, stdio: ['ignore', 'pipe', 'pipe'] })
  options.onStart?.(child.pid!)
  let raw = ''
  child.stdout.on('data', c => (raw += c))
  child.stderr.on('data', c => (raw += c))
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 170_000)
  const exitCode: number | null = await new Promise(res => child.on('close', code => res(code)))
  clearTimeout(timeout)

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
  return {
    exitCode,
    raw,
    log: logLines.join('\n'),
    outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
    summary: readFileSync(summaryFile, 'utf8'),
    errors,
    warnings,
    durationMs: Date.now() - started,
  }
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
