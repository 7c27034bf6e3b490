// Scenario 5: zero downtime. HTTP load through nginx (8 clients, a new connection per
// request, /health: nginx → Gunicorn → PostgreSQL) for the whole of a slipway release,
// alternating v2 and v3-requirements (a new virtualenv) so that each release really
// changes the code. Restart settings compared: Gunicorn USR2 (a new master next to the
// old one: app-server.sh's default), HUP (new workers under the same master), and, as a
// control that the counting works, a cold stop-then-start.

import { APP_SERVER, ROOT, expectOk, log, newApp, releaseInputs, releaseV1, runAction, sleep, summary, summarySteps } from '../lib/common.mjs'
import { startLoad } from '../lib/load.mjs'

export async function downtimeScenario(ctx) {
  const { runs, repo } = ctx
  const app = await newApp('down')
  const variants = [
    { name: 'usr2', restart: app.restartCommand('usr2'), runs },
    { name: 'hup', restart: app.restartCommand('hup'), runs },
    { name: 'stop, then start (control)', restart: `${APP_SERVER} stop ${app.root} && ${APP_SERVER} restart ${app.root} ${app.appPort}`, runs: Math.min(runs, 3) },
  ]
  const out = { url: app.healthUrl, clients: 8, variants: {} }
  try {
    await releaseV1(ctx, app, { signal: 'usr2' })
    let n = 0
    for (const v of variants) {
      const rows = []
      for (let i = 0; i < v.runs; i++) {
        const ref = n++ % 2 === 0 ? 'v2' : 'v3-requirements'
        const load = startLoad(app.healthUrl, { clients: 8, maxMs: 180_000 })
        await sleep(500)
        const r = await runAction('release', releaseInputs(app, repo.dir, { ref, restart: v.restart }))
        await sleep(500)
        const report = await load.stop()
        expectOk(r, `release ${ref} under load (${v.name})`)
        const restart = summarySteps(r.summary).find(s => s.step === 'restart')?.ms
        rows.push({ ...report, releaseMs: r.ms, restartMs: restart, ref })
        log(`downtime ${v.name} #${i + 1} → ${ref}: ${report.total} requests, ${report.non2xx} non-2xx, ${report.failedConnections} failed connections (restart ${restart} ms)`)
      }
      out.variants[v.name] = {
        restartCommand: v.restart.split(app.root).join('<app_root>').split(`${ROOT}/`).join(''),
        releases: rows.length,
        requests: rows.reduce((a, r) => a + r.total, 0),
        non2xx: rows.reduce((a, r) => a + r.non2xx, 0),
        failedConnections: rows.reduce((a, r) => a + r.failedConnections, 0),
        perRelease: rows.map(r => ({ ref: r.ref, requests: r.total, non2xx: r.non2xx, failedConnections: r.failedConnections, statuses: r.statuses, errors: r.errors, bodies: r.bodies })),
        restartMs: summary(rows.map(r => r.restartMs)),
        releaseMs: summary(rows.map(r => r.releaseMs)),
      }
    }
  } finally {
    await app.cleanup()
  }
  return out
}
