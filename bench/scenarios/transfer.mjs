// Scenario 2: code transfer. The fixture app with a heavy generated history (>= 20 MB
// packed): the first release ships everything, the next one a one-line change. Bytes
// from slipway's own log line (`shipped <sha>: N KiB (...)`) and, independently, what
// crossed a counting proxy (0 ms) in front of sshd for the whole release.

import { join } from 'path'
import { addHeavyHistory } from '../lib/bigrepo.mjs'
import { expectOk, log, makeAppRepo, newApp, q, ratio, releaseInputs, runAction, sh, summary, summarySteps } from '../lib/common.mjs'

function parseShipped(text) {
  const m = /shipped [0-9a-f]+: ([\d.]+) (B|KiB|MiB) \((.*)\)$/m.exec(text)
  if (!m) return null
  return { bytes: Math.round(Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[m[2]]), how: m[3] }
}

export async function transferScenario(ctx) {
  const { runs, proxy, quick } = ctx
  const size = quick ? { commits: 8, fileKiB: 64 } : { commits: 300, fileKiB: 128 }
  const repo = await makeAppRepo(join(ctx.work, 'heavy-repo'))
  const t = Date.now()
  const heavy = await addHeavyHistory(repo.dir, size)
  log(`heavy repository: ${size.commits} commits, full pack ${(heavy.packBytes / 2 ** 20).toFixed(1)} MiB, generated in ${Date.now() - t} ms`)
  const thinBytes = Number((await sh(`printf '%s\\n^%s\\n' ${heavy.oneLine} ${heavy.big} | git -C ${q(repo.dir)} pack-objects --revs --thin --stdout -q --delta-base-offset | wc -c`)).trim())
  const port = await proxy.listen('count', ctx.proxyTarget ?? 2222, 0)
  const full = []
  const delta = []
  for (let i = 0; i < runs; i++) {
    const app = await newApp('xfer', { nginx: false })
    try {
      const inputs = ref => releaseInputs(app, repo.dir, { port, ref, restart: '', proxy: 'none', 'health-url': '' })
      for (const [ref, into] of [['big', full], ['one-line', delta]]) {
        await proxy.stats('count', true)
        const r = expectOk(await runAction('release', inputs(ref)), `slipway release ${ref}`)
        const s = await proxy.stats('count', true)
        const shipped = parseShipped(r.log)
        const ship = summarySteps(r.summary).find(x => x.step === 'ship')
        into.push({ shipped: shipped?.bytes, how: shipped?.how, proxyBytesUp: s.bytesUp, shipMs: ship?.ms, ms: r.ms })
        log(`transfer #${i + 1} ${ref}: shipped ${shipped?.bytes} B (${shipped?.how}), ${s.bytesUp} B up through the proxy, ship step ${ship?.ms} ms`)
      }
    } finally {
      await app.cleanup()
    }
  }
  const med = (xs, k) => summary(xs.map(x => x[k]))
  const out = {
    history: { commits: size.commits, fileKiB: size.fileKiB, fullPackBytes: heavy.packBytes, thinPackBytes: thinBytes },
    full: { shippedBytes: med(full, 'shipped'), proxyBytesUp: med(full, 'proxyBytesUp'), shipMs: med(full, 'shipMs'), releaseMs: med(full, 'ms'), how: full[0].how },
    oneLine: { shippedBytes: med(delta, 'shipped'), proxyBytesUp: med(delta, 'proxyBytesUp'), shipMs: med(delta, 'shipMs'), releaseMs: med(delta, 'ms'), how: delta[0].how },
  }
  out.ratios = {
    shippedOneLineOverFull: ratio(out.oneLine.shippedBytes.median, out.full.shippedBytes.median),
    proxyOneLineOverFull: ratio(out.oneLine.proxyBytesUp.median, out.full.proxyBytesUp.median),
  }
  return out
}
