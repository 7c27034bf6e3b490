// Reading workflow files the way a user's repository holds them: which steps call our
// actions, with which `with:` keys, and whether those are inputs our action.yml files
// declare. Used by test/unit/workflows.test.ts (every example and README snippet) and
// by the end-to-end tests (which run an example's inputs against the local server).

import { existsSync, readdirSync, readFileSync, statSync } from 'fs'
import { join, relative, resolve } from 'path'
import { isMap, isScalar, isSeq, LineCounter, parse, parseDocument, type Node, type YAMLMap } from 'yaml'
import { closest } from '../../../src/inputs/suggest'

export const ROOT = resolve(__dirname, '../../..')

/** The placeholder owner our docs use: `your-org/slipway@v1`, `your-org/slipway/actions/<name>@v1`. */
export const OWNER_REPO = 'your-org/slipway'

export interface SlipwayStep {
  /** `release` (the root action.yml) or the folder under actions/. */
  action: string
  uses: string
  job: string
  /** 1-based line of the step's `uses:`. */
  line: number
  with: Record<string, string>
  /** 1-based line of each `with:` key. */
  lines: Record<string, number>
}

export interface Finding {
  file: string
  line: number
  message: string
}

/** `your-org/slipway@v1` → release; `your-org/slipway/actions/snapshot@v1` → snapshot; else undefined. */
export function slipwayAction(uses: string): string | undefined {
  const m = /^your-org\/slipway(?:\/actions\/([A-Za-z0-9_-]+))?@[A-Za-z0-9._/-]+$/.exec(uses.trim())
  if (!m) {
    if (uses.trim().startsWith(`${OWNER_REPO}/`) || uses.trim().startsWith(`${OWNER_REPO}@`)) return 'unrecognised'
    return undefined
  }
  return m[1] ?? 'release'
}

export function actionYamlPath(action: string): string {
  return action === 'release' ? join(ROOT, 'action.yml') : join(ROOT, 'actions', action, 'action.yml')
}

/** Inputs declared by an action's action.yml; undefined when the action does not exist. */
export function declaredInputs(action: string): Set<string> | undefined {
  const file = actionYamlPath(action)
  if (!existsSync(file)) return undefined
  const spec = parse(readFileSync(file, 'utf8')) as { inputs?: Record<string, unknown> }
  return new Set(Object.keys(spec.inputs ?? {}))
}

/** Every step of every job that uses one of our actions, with its `with:` map as text. */
export function slipwaySteps(text: string): SlipwayStep[] {
  const counter = new LineCounter()
  const doc = parseDocument(text, { lineCounter: counter })
  if (doc.errors.length) throw new Error(`not valid YAML: ${doc.errors[0].message}`)
  const lineOf = (n: Node | null | undefined) => (n?.range ? counter.linePos(n.range[0]).line : 0)
  const out: SlipwayStep[] = []
  const jobs = doc.get('jobs', true)
  if (!isMap(jobs)) return out
  for (const job of jobs.items) {
    const steps = isMap(job.value) ? job.value.get('steps', true) : undefined
    if (!isSeq(steps)) continue
    for (const step of steps.items) {
      if (!isMap(step)) continue
      const usesNode = step.get('uses', true)
      const uses = isScalar(usesNode) ? String(usesNode.value) : undefined
      const action = uses ? slipwayAction(uses) : undefined
      if (!uses || !action) continue
      const withNode = step.get('with', true) as YAMLMap | undefined
      const values: Record<string, string> = {}
      const lines: Record<string, number> = {}
      if (isMap(withNode)) {
        for (const pair of withNode.items) {
          const key = String(isScalar(pair.key) ? pair.key.value : pair.key)
          values[key] = isScalar(pair.value) ? String(pair.value.value ?? '') : String(pair.value ?? '')
          lines[key] = lineOf(pair.key as Node)
        }
      }
      out.push({ action, uses, job: String(isScalar(job.key) ? job.key.value : job.key), line: lineOf(usesNode as Node), with: values, lines })
    }
  }
  return out
}

/**
 * Findings for `with:` keys our action.yml files do not declare, and for `uses:` of an
 * action that does not exist. The runner only warns about unknown inputs ("Unexpected
 * input(s)") and runs the step anyway, so a misspelt `helth-url` silently releases
 * without a health check: this is where it is caught.
 */
export function checkSlipwayInputs(text: string, file: string): Finding[] {
  const findings: Finding[] = []
  for (const step of slipwaySteps(text)) {
    if (step.action === 'unrecognised') {
      findings.push({ file, line: step.line, message: `'${step.uses}' is not one of our actions: use ${OWNER_REPO}@<ref> or ${OWNER_REPO}/actions/<name>@<ref>` })
      continue
    }
    const declared = declaredInputs(step.action)
    if (!declared) {
      findings.push({ file, line: step.line, message: `'${step.uses}' names an action that does not exist here (${relative(ROOT, actionYamlPath(step.action))} is missing)` })
      continue
    }
    for (const key of Object.keys(step.with)) {
      if (declared.has(key)) continue
      const near = closest(key, declared)
      findings.push({
        file,
        line: step.lines[key],
        message: `input '${key}' is not declared by ${relative(ROOT, actionYamlPath(step.action))} (${step.uses})${near ? `; did you mean '${near}'?` : ''}`,
      })
    }
  }
  return findings
}

/** Workflow files under a directory, recursively (.yml and .yaml), sorted. */
export function workflowFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...workflowFiles(p))
    else if (/\.ya?ml$/.test(name)) out.push(p)
  }
  return out
}

/** ```yaml fences of a Markdown file that hold a whole workflow (they contain `jobs:`), with their first line. */
export function markdownWorkflows(markdown: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = []
  const re = /^```ya?ml[^\n]*\n([\s\S]*?)^```/gm
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    if (!/^jobs:/m.test(m[1])) continue
    out.push({ text: m[1], line: markdown.slice(0, m.index).split('\n').length + 1 })
  }
  return out
}

/** The `with:` map of the one step in an example workflow that uses `action`. */
export function exampleInputs(file: string, action = 'release'): Record<string, string> {
  const steps = slipwaySteps(readFileSync(join(ROOT, file), 'utf8')).filter(s => s.action === action)
  if (steps.length !== 1) throw new Error(`${file}: expected one step using the ${action} action, found ${steps.length}`)
  return steps[0].with
}
