// The fault cases start actions through the shared runner (test/integration/support/
// runner.ts: the same env and workflow-command handling as every other suite); this
// file adds FAULTS_SLIPWAY_ROOT, to run the same cases against another build (e.g. one
// with a proposed fix applied), and a one-line account of a run for the report.

import { resolve } from 'path'
import {
  readActionYaml as readYaml,
  startAction as start,
  type ActionName,
  type ActionRun,
  type ActionYaml,
  type RunOptions,
  type Started,
} from '../../integration/support/runner'

export const SLIPWAY_ROOT = process.env.FAULTS_SLIPWAY_ROOT ?? resolve(__dirname, '../../..')

export type { ActionYaml, Started }
export type StartOptions = Omit<RunOptions, 'root'>
export type FaultRun = ActionRun

export function readActionYaml(action: ActionName): ActionYaml {
  return readYaml(action, SLIPWAY_ROOT)
}

export function startAction(action: ActionName, inputs: Record<string, string | undefined>, options: StartOptions = {}): Started {
  return start(action, inputs, { timeoutMs: 280_000, ...options, env: { GITHUB_WORKFLOW: 'faults', ...options.env }, root: SLIPWAY_ROOT })
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
