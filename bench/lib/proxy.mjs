// A TCP proxy on loopback that adds latency and counts what crosses it: connections,
// bytes each way, and round trips. There is no netem on this machine, so this stands
// in for a network: every chunk is held for half the round-trip time in each direction
// (order kept), and a new connection pays one round trip before its first byte moves,
// as a TCP handshake would. Bandwidth is not limited.
//
// Runs in its own process (fork this file) so that the benchmark harness's event loop
// never delays a chunk. The parent talks to it over IPC with ProxyClient below.
//
// A "round trip" here is a turn of the conversation: the client sending again after
// it has received something from the server. A protocol that waits for each answer
// before asking the next thing pays one round trip per turn; this is the number a
// latency of RTT multiplies.

import { fork } from 'child_process'
import net from 'net'
import { performance } from 'perf_hooks'
import { fileURLToPath } from 'url'

const now = () => performance.timeOrigin + performance.now()

function startListener({ targetHost, targetPort, rttMs }) {
  const oneWay = rttMs / 2
  const stats = { connections: [], errors: 0 }
  const server = net.createServer({ allowHalfOpen: true }, client => {
    const acceptedAt = now()
    const conn = { acceptedAt, firstClientByteAt: null, firstServerByteAt: null, closedAt: null, bytesUp: 0, bytesDown: 0, turns: 0 }
    stats.connections.push(conn)
    const upstream = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true })
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    // The simulated handshake: nothing flows before acceptedAt + rtt.
    const openAt = acceptedAt + rttMs
    let last = 'none'
    const pipe = (from, to, dir) => {
      const queue = []
      let queued = 0
      let timer = null
      let waitingDrain = false
      let ended = false
      const flush = () => {
        timer = null
        while (queue.length && !waitingDrain) {
          const head = queue[0]
          const wait = head.due - now()
          if (wait > 0.5) {
            timer = setTimeout(flush, wait)
            return
          }
          queue.shift()
          if (head.end) {
            to.end()
            continue
          }
          queued -= head.buf.length
          if (!to.write(head.buf)) {
            waitingDrain = true
            to.once('drain', () => {
              waitingDrain = false
              flush()
            })
          }
        }
        if (queued < 1 << 20 && from.isPaused()) from.resume()
      }
      const push = item => {
        queue.push(item)
        if (!timer && !waitingDrain && queue.length === 1) {
          const wait = item.due - now()
          if (wait > 0.5) timer = setTimeout(flush, wait)
          else flush()
        }
      }
      from.on('data', buf => {
        const t = now()
        if (dir === 'up') {
          conn.bytesUp += buf.length
          conn.firstClientByteAt ??= t
          if (last !== 'up') conn.turns++
        } else {
          conn.bytesDown += buf.length
          conn.firstServerByteAt ??= t
        }
        last = dir
        queued += buf.length
        // Keep the order: a chunk is never due before the one ahead of it.
        const prev = queue.length ? queue[queue.length - 1].due : 0
        push({ due: Math.max(t + oneWay, openAt + oneWay, prev), buf })
        if (queued > 8 << 20) from.pause()
      })
      from.on('end', () => {
        if (ended) return
        ended = true
        const prev = queue.length ? queue[queue.length - 1].due : 0
        push({ due: Math.max(now() + oneWay, prev), end: true })
      })
    }
    pipe(client, upstream, 'up')
    pipe(upstream, client, 'down')
    const close = () => {
      conn.closedAt ??= now()
      client.destroy()
      upstream.destroy()
    }
    client.on('error', () => {
      stats.errors++
      close()
    })
    upstream.on('error', () => {
      stats.errors++
      close()
    })
    client.on('close', () => setTimeout(close, rttMs + 5))
    upstream.on('close', () => setTimeout(close, rttMs + 5))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve({ server, stats, port: server.address().port }))
  })
}

function summarize(stats) {
  const c = stats.connections
  return {
    connections: c.length,
    bytesUp: c.reduce((s, x) => s + x.bytesUp, 0),
    bytesDown: c.reduce((s, x) => s + x.bytesDown, 0),
    roundTrips: c.reduce((s, x) => s + x.turns, 0),
    errors: stats.errors,
    detail: c.map(x => ({ ...x })),
  }
}

// ---------------------------------------------------------------- child process side

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const listeners = new Map()
  process.on('message', async msg => {
    const reply = (body) => process.send({ id: msg.id, ...body })
    try {
      if (msg.type === 'listen') {
        const l = await startListener(msg)
        listeners.set(msg.name, l)
        reply({ port: l.port })
      } else if (msg.type === 'stats') {
        const l = listeners.get(msg.name)
        const out = summarize(l.stats)
        if (msg.reset) l.stats = Object.assign(l.stats, { connections: [], errors: 0 })
        reply({ stats: out })
      } else if (msg.type === 'close') {
        for (const l of listeners.values()) l.server.close()
        reply({})
        process.exit(0)
      }
    } catch (e) {
      reply({ error: String(e?.stack ?? e) })
    }
  })
  process.on('disconnect', () => process.exit(0))
}

// ---------------------------------------------------------------- parent side

/** Drives a proxy process. `await ProxyClient.start()`, then listen(), stats(), close(). */
export class ProxyClient {
  constructor(child) {
    this.child = child
    this.next = 1
    this.pending = new Map()
    child.on('message', m => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if (m.error) p.reject(new Error(m.error))
      else p.resolve(m)
    })
  }

  static async start() {
    const child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    return new ProxyClient(child)
  }

  request(body) {
    const id = this.next++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child.send({ id, ...body })
    })
  }

  /** A listener named `name` forwarding to target with `rttMs` of round-trip latency; returns its port. */
  async listen(name, targetPort, rttMs, targetHost = '127.0.0.1') {
    const r = await this.request({ type: 'listen', name, targetHost, targetPort, rttMs })
    return r.port
  }

  /** Counters since the last reset: connections, bytesUp, bytesDown, roundTrips, detail[]. */
  async stats(name, reset = true) {
    return (await this.request({ type: 'stats', name, reset })).stats
  }

  async close() {
    await this.request({ type: 'close' }).catch(() => undefined)
    this.child.kill()
  }
}
