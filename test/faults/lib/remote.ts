// The server side of a fault, read straight from /proc (this machine is the server):
// which sshd processes serve one proxied connection, what runs below them, and the
// process groups of the scripts slipway started there.

import { execFileSync } from 'child_process'
import { existsSync, readdirSync, readFileSync } from 'fs'

export interface Proc {
  pid: number
  ppid: number
  pgid: number
  uid: number
  /** Start time in clock ticks since boot (orders processes by age). */
  start: number
  args: string
}

export function processes(): Proc[] {
  const out: Proc[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      // comm may contain spaces and parentheses: fields start after the last ')'.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = readFileSync(`/proc/${name}/status`, 'utf8')
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1)
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ')
      out.push({ pid: Number(name), ppid: Number(f[1]), pgid: Number(f[2]), uid, start: Number(f[19]), args })
    } catch {
      /* it exited while we looked */
    }
  }
  return out
}

/** `roots` and everything below them. */
export function descendants(roots: number[], procs = processes()): Proc[] {
  const seen = new Set(roots)
  let grew = true
  while (grew) {
    grew = false
    for (const p of procs) {
      if (!seen.has(p.pid) && seen.has(p.ppid)) {
        seen.add(p.pid)
        grew = true
      }
    }
  }
  return procs.filter(p => seen.has(p.pid))
}

/**
 * The sshd processes serving the connection whose client side is 127.0.0.1:<port> (the
 * proxy's end towards sshd). Found by the socket, never by name: other sessions of the
 * same user belong to other tests.
 */
export function sshdFor(clientPort: number): number[] {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${clientPort} )`], { encoding: 'utf8' })
  const pids = new Set<number>()
  for (const m of out.matchAll(/\("sshd[^"]*",pid=(\d+)/g)) pids.add(Number(m[1]))
  return [...pids]
}

/** The guardian's pid, as the lock records it. */
export function guardianPid(root: string): number | undefined {
  try {
    return Number(readFileSync(`${root}/.slipway/lock/pid`, 'utf8').trim()) || undefined
  } catch {
    return undefined
  }
}

/**
 * The newest `bash -se` below these sshd processes that is not the lock's guardian:
 * the script running the current step.
 */
export function runningScript(sshd: number[], root: string): Proc | undefined {
  const guardian = guardianPid(root)
  return descendants(sshd)
    .filter(p => p.args === 'bash -se' && p.pid !== guardian)
    .sort((a, b) => b.start - a.start)[0]
}

/** The lock is held by a guardian whose process no longer exists. */
export function guardianGone(root: string): boolean {
  const pid = guardianPid(root)
  return pid !== undefined && lockHeld(root) && !existsSync(`/proc/${pid}`)
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    /* the group is gone */
  }
}

export function lockHeld(root: string): boolean {
  return existsSync(`${root}/.slipway/lock`)
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** Poll until `cond` holds; returns the ms it took, or undefined on timeout. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<number | undefined> {
  const t0 = Date.now()
  while (Date.now() - t0 < timeoutMs) {
    if (await cond()) return Date.now() - t0
    await sleep(everyMs)
  }
  return undefined
}

/**
 * Samples the whole process list (args of every process, every user) every ~50 ms:
 * what `ps` would show an unprivileged user on the server during a run.
 */
export function sampleProcessList(everyMs = 50): { stop: () => { text: string; samples: number } } {
  let text = ''
  let samples = 0
  let running = true
  const seen = new Set<string>()
  const loop = async () => {
    while (running) {
      for (const p of processes()) {
        if (!seen.has(p.args)) {
          seen.add(p.args)
          text += `${p.args}\n`
        }
      }
      samples++
      await sleep(everyMs)
    }
  }
  void loop()
  return {
    stop: () => {
      running = false
      return { text, samples }
    },
  }
}
