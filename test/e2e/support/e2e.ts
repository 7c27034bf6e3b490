// What the end-to-end tests share beyond the integration helpers: their own port range
// (8200-8299, so they never collide with integration tests on 8100-8199), cleanup in
// reverse order, daemons started as root (Caddy, Apache), HTTP(S) with a pinned CA, and
// the check that a test runs the same inputs as the example workflow it stands for.

import { spawn } from 'child_process'
import { closeSync, openSync, readFileSync } from 'fs'
import http from 'http'
import https from 'https'
import net from 'net'
import { expect } from 'vitest'
import { sh } from '../../integration/support/server'
import { exampleInputs } from './workflows'

export const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

const taken = new Set<number>()

function portFree(port: number): Promise<boolean> {
  return new Promise(ok => {
    const s = net.createServer()
    s.once('error', () => ok(false))
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)))
  })
}

/** A port in 8200-8299 that nothing listens on and this process has not handed out. */
export async function e2ePort(): Promise<number> {
  const start = Math.floor(Math.random() * 100)
  for (let i = 0; i < 100; i++) {
    const port = 8200 + ((start + i) % 100)
    if (!taken.has(port) && (await portFree(port))) {
      taken.add(port)
      return port
    }
  }
  throw new Error('no free port in 8200-8299')
}

/** Undo steps, run last-first; each runs even when an earlier one fails. */
export class Cleanup {
  private readonly steps: { what: string; fn: () => void }[] = []
  add(what: string, fn: () => void): void {
    this.steps.push({ what, fn })
  }
  run(): void {
    const failed: string[] = []
    for (const s of this.steps.splice(0).reverse()) {
      try {
        s.fn()
      } catch (e) {
        failed.push(`${s.what}: ${(e as Error).message.split('\n')[0]}`)
      }
    }
    if (failed.length) console.warn(`cleanup left things behind:\n${failed.join('\n')}`)
  }
}

/**
 * Starts a long-running program as root in its own session, output to `logFile`, and
 * returns its pid. Only this pid (and its group) is ever signalled by stopDaemon.
 */
export function startDaemon(argv: string[], logFile: string, env: Record<string, string> = {}): number {
  const fd = openSync(logFile, 'a')
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } })
  closeSync(fd)
  child.unref()
  if (!child.pid) throw new Error(`could not start ${argv[0]}`)
  return child.pid
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** TERM to the daemon's process group, KILL after a few seconds if it lingers. */
export function stopDaemon(pid: number): void {
  try {
    process.kill(-pid, 'SIGTERM')
  } catch {
    return
  }
  const end = Date.now() + 5000
  while (alive(pid) && Date.now() < end) sh('sleep 0.1')
  if (alive(pid)) process.kill(-pid, 'SIGKILL')
}

export interface Answer {
  status: number
  body: string
  headers: http.IncomingHttpHeaders
}

/** GET over http or https; `ca` pins the certificate (a self-signed one) instead of the system store. */
export function get(url: string, opts: { ca?: string; timeoutMs?: number; method?: string; form?: Record<string, string> } = {}): Promise<Answer> {
  const timeout = opts.timeoutMs ?? 10_000
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined
  return new Promise((ok, fail) => {
    const lib = url.startsWith('https:') ? https : http
    const req = lib.request(
      url,
      {
        method: opts.method ?? (body ? 'POST' : 'GET'),
        timeout,
        agent: false,
        ...(opts.ca ? { ca: opts.ca } : {}),
        headers: body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {},
      },
      res => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', c => (text += c))
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: text, headers: res.headers }))
        res.on('error', fail)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeout} ms`)))
    req.on('error', fail)
    req.end(body)
  })
}

/** Polls until `probe` is true; throws naming `what` (and the last error) at the deadline. */
export async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < end) {
    try {
      if (await probe()) return
    } catch (e) {
      last = (e as Error).message
    }
    await new Promise(r => setTimeout(r, 200))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`)
}

/**
 * The test must pass the same inputs the example workflow passes (values adapted to the
 * local server), so an example cannot drift away from what is tested. `testOnly` are
 * the inputs only the local server needs (Debian's Django instead of PyPI, the fixture
 * checkout, short timeouts); `same` must also have the example's exact value.
 */
export function expectExampleInputs(
  example: string,
  inputs: Record<string, string | undefined>,
  o: { testOnly: string[]; same?: string[]; action?: string },
): void {
  const ex = exampleInputs(example, o.action)
  const given = Object.keys(inputs).filter(k => inputs[k] !== undefined && !o.testOnly.includes(k))
  expect(given.sort(), `inputs of ${example} vs the test`).toEqual(Object.keys(ex).sort())
  for (const k of o.same ?? []) expect(inputs[k]?.trim(), `${example}: ${k}`).toBe(ex[k].trim())
}

export const readText = (p: string): string => readFileSync(p, 'utf8')
