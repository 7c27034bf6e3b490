// A repository with a long, heavy history, generated deterministically: the fixture app
// (master) plus `commits` commits, each adding one file of `fileKiB` under data/ and
// appending a line to data/CHANGELOG. Half of each file is pseudo-random bytes
// (incompressible), half is text drawn from a small vocabulary (compresses ~4:1), so the
// packed history is close to commits × fileKiB × 0.6. Built with git fast-import and
// fixed authors and dates: the same commit ids on every machine for the same fixture.
// Then one commit on top changes one line of data/CHANGELOG: branch `one-line`.

import { createHash } from 'crypto'
import { sh, q } from './common.mjs'

const WORDS = 'release snapshot host lock manifest migrate static switch health proxy worker shared venv restart rollback server deploy commit branch pack'.split(' ')

/** Deterministic bytes: sha256 in counter mode over a seed. */
function prng(seed) {
  let counter = 0
  let pool = Buffer.alloc(0)
  return n => {
    const out = Buffer.alloc(n)
    let off = 0
    while (off < n) {
      if (pool.length === 0) pool = createHash('sha256').update(`${seed}:${counter++}`).digest()
      const take = Math.min(pool.length, n - off)
      pool.copy(out, off, 0, take)
      pool = pool.subarray(take)
      off += take
    }
    return out
  }
}

function fileContent(i, bytes) {
  const rand = prng(`file-${i}`)
  const half = bytes >> 1
  const random = rand(half)
  const pick = rand(half)
  let text = ''
  for (let k = 0; text.length < bytes - half; k++) text += WORDS[pick[k % pick.length] % WORDS.length] + (pick[(k * 7) % pick.length] % 9 === 0 ? '\n' : ' ')
  return Buffer.concat([random, Buffer.from(text.slice(0, bytes - half))])
}

/**
 * Adds the history to the fixture repository at `dir` (from make-app-repo.sh): branches
 * `big` (the history) and `one-line` (big + a one-line change). Returns their shas and
 * the size of the full pack of `big`.
 */
export async function addHeavyHistory(dir, { commits, fileKiB }) {
  const chunks = []
  const data = buf => {
    chunks.push(Buffer.from(`data ${buf.length}\n`), buf, Buffer.from('\n'))
  }
  let changelog = ''
  const t0 = 1767225600 // 2026-01-01T00:00:00Z
  const commit = (ref, n, message, files, from) => {
    chunks.push(Buffer.from(`commit ${ref}\nmark :${n}\nauthor Bench <bench@example.org> ${t0 + n * 60} +0000\ncommitter Bench <bench@example.org> ${t0 + n * 60} +0000\n`))
    data(Buffer.from(message))
    if (from) chunks.push(Buffer.from(`from ${from}\n`))
    for (const [path, content] of files) {
      chunks.push(Buffer.from(`M 100644 inline ${path}\n`))
      data(content)
    }
    chunks.push(Buffer.from('\n'))
  }
  for (let i = 1; i <= commits; i++) {
    changelog += `${String(i).padStart(5, '0')} added data/blob-${String(i).padStart(5, '0')}.bin\n`
    commit('refs/heads/big', i, `data ${i}\n`, [[`data/blob-${String(i).padStart(5, '0')}.bin`, fileContent(i, fileKiB * 1024)], ['data/CHANGELOG', Buffer.from(changelog)]], i === 1 ? 'refs/heads/master^0' : undefined)
  }
  const lines = changelog.split('\n')
  lines[Math.floor(lines.length / 2)] += ' (edited)'
  commit('refs/heads/one-line', commits + 1, 'one-line change\n', [['data/CHANGELOG', Buffer.from(lines.join('\n'))]], 'refs/heads/big')
  await sh(`git -C ${q(dir)} fast-import --quiet`, { input: Buffer.concat(chunks) })
  const big = (await sh(`git -C ${q(dir)} rev-parse big`)).trim()
  const oneLine = (await sh(`git -C ${q(dir)} rev-parse one-line`)).trim()
  const packBytes = Number((await sh(`git -C ${q(dir)} pack-objects --revs --stdout -q --delta-base-offset <<< big | wc -c`)).trim())
  return { big, oneLine, packBytes }
}
