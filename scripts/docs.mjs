// Generate the README's input/output tables from the action.yml files, so the two
// never disagree. `--check` fails when the README is out of date (CI runs it).
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { parse } from 'yaml'

const actions = [['release', 'action.yml']]
for (const name of readdirSync('actions').sort()) {
  if (existsSync(`actions/${name}/action.yml`)) actions.push([name, `actions/${name}/action.yml`])
}

const esc = s => String(s ?? '').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ').trim()

function table(file) {
  const spec = parse(readFileSync(file, 'utf8'))
  const rows = Object.entries(spec.inputs ?? {}).map(
    ([name, i]) => `| \`${name}\` | ${i.required ? 'yes' : ''} | ${esc(i.description)}${i.default !== undefined ? ` Default: \`${i.default}\`.` : ''} |`,
  )
  const outs = Object.entries(spec.outputs ?? {}).map(([name, o]) => `| \`${name}\` | ${esc(o.description)} |`)
  return [
    `**Inputs** (\`${file}\`)`,
    '',
    '| Input | Required | Description |',
    '| --- | --- | --- |',
    ...rows,
    '',
    '**Outputs**',
    '',
    '| Output | Description |',
    '| --- | --- |',
    ...outs,
  ].join('\n')
}

let readme = readFileSync('README.md', 'utf8')
const original = readme
for (const [name, file] of actions) {
  const start = `<!-- inputs:${name}:start -->`
  const end = `<!-- inputs:${name}:end -->`
  const a = readme.indexOf(start)
  const b = readme.indexOf(end)
  if (a < 0 || b < 0) {
    console.error(`README.md has no ${start} ... ${end} section for ${file}`)
    process.exit(1)
  }
  readme = `${readme.slice(0, a + start.length)}\n${table(file)}\n${readme.slice(b)}`
}
if (process.argv.includes('--check')) {
  if (readme !== original) {
    console.error('README.md input tables are out of date: run npm run docs and commit README.md')
    process.exit(1)
  }
} else {
  writeFileSync('README.md', readme)
}
