// HTTP load on loopback, in its own process so that it never waits on the harness:
// `clients` loops each sending GET `url` on a fresh connection (no keep-alive, so every
// request goes through nginx to the app server anew) until told to stop, or until
// `maxMs` or `maxRequests` is reached, whichever comes first. Reports totals, statuses,
// bodies (which release answered) and failures: anything but 200, or no answer at all.

import { fork } from 'child_process'
import http from 'http'
import { fileURLToPath } from 'url'

function get(url, timeoutMs) {
  return new Promise(resolve => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', c => (body += c))
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim().slice(0, 60) }))
      res.on('error', e => resolve({ error: e.code ?? e.message }))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    req.on('error', e => resolve({ error: e.code ?? e.message }))
  })
}

async function load({ url, clients, maxMs, maxRequests }, stopped) {
  const r = { total: 0, ok: 0, non2xx: 0, failedConnections: 0, statuses: {}, errors: {}, bodies: {}, ms: 0 }
  const t0 = Date.now()
  const client = async () => {
    while (!stopped() && Date.now() - t0 < maxMs && r.total < maxRequests) {
      r.total++
      const a = await get(url, 10_000)
      if (a.error) {
        r.failedConnections++
        r.errors[a.error] = (r.errors[a.error] ?? 0) + 1
        continue
      }
      r.statuses[a.status] = (r.statuses[a.status] ?? 0) + 1
      if (a.status >= 200 && a.status < 300) r.ok++
      else r.non2xx++
      r.bodies[a.body] = (r.bodies[a.body] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: clients }, client))
  r.ms = Date.now() - t0
  return r
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  let stop = false
  process.on('message', async m => {
    if (m.type === 'start') process.send({ type: 'done', report: await load(m, () => stop) })
    if (m.type === 'stop') stop = true
  })
}

/** Starts load in a child process; `await handle.stop()` ends it and returns the report. */
export function startLoad(url, { clients = 8, maxMs = 180_000, maxRequests = 2_000_000 } = {}) {
  const child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const done = new Promise(resolve => child.on('message', m => m.type === 'done' && resolve(m.report)))
  child.send({ type: 'start', url, clients, maxMs, maxRequests })
  return {
    async stop() {
      child.send({ type: 'stop' })
      const report = await done
      child.kill()
      return report
    },
  }
}
