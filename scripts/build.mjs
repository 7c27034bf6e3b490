// Bundle each action entry point into dist/<name>/index.js with ncc (CommonJS: ssh2
// needs __dirname, and @actions/core 1.x is CommonJS; see ../shared/ENVIRONMENT.md).
// Usage: node scripts/build.mjs [name...]
import { execFileSync } from 'node:child_process'
import { readdirSync, rmSync, existsSync } from 'node:fs'

const entries = readdirSync('src/entrypoints').filter(f => f.endsWith('.ts')).map(f => f.replace(/\.ts$/, ''))
const wanted = process.argv.slice(2)
for (const name of wanted.length ? wanted : entries) {
  const out = `dist/${name}`
  if (existsSync(out)) rmSync(out, { recursive: true })
  execFileSync('npx', ['ncc', 'build', `src/entrypoints/${name}.ts`, '-o', out, '--license', 'licenses.txt', '--quiet', '--target', 'es2022'], {
    stdio: 'inherit',
  })
  // ssh2's optional native addons are copied when present; the pure-JS fallback is what
  // we test and ship, so the bundle is the same on every machine that builds it.
  // pagent.exe is ssh2's Windows Pageant helper; Linux runners never use it.
  for (const f of readdirSync(out, { recursive: true })) {
    if (f.endsWith('.node') || f.endsWith('.exe')) rmSync(`${out}/${f}`)
  }
  removeEmptyDirs(out)
}

function removeEmptyDirs(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue
    const p = `${dir}/${e.name}`
    removeEmptyDirs(p)
    if (readdirSync(p).length === 0) rmSync(p, { recursive: true })
  }
}
