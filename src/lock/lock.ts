// Taking and releasing the app lock from the runner's side. See commands/lock.ts for
// how the lock behaves on the server.

import { randomBytes } from 'crypto'
import { hostname, userInfo } from 'os'
import { guardianScript, LOCK_EVENT } from '../commands/lock'
import { layout } from '../commands/layout'
import type { Shell } from '../commands/shell'
import type { Host } from '../fleet/host'
import { SlipwayError } from '../report/errors'
import { formatDuration, type Reporter } from '../report/reporter'
import type { RunningScript } from '../ssh/session'

export type LockKind = 'release' | 'snapshot' | 'restore' | 'rollback'

export interface LockOptions {
  kind: LockKind
  /** The app's root directory on the server (`path`). */
  root: string
  /** How long to wait for another holder. */
  timeoutMs: number
  /** Take over a lock whose holder is alive but has stopped its heartbeat. */
  breakLock: boolean
  /** Shell run on the server if our connection is lost while we hold the lock. */
  recovery?: Shell
  staleAfterMs?: number
  /** Run right after acquiring, in the same round trip; its stdout comes back as `probe`. */
  afterAcquire?: Shell
}

export interface Holder {
  kind: LockKind
  run: string
  actor: string
  runner: string
  started: string
}

/** Who we are, as the lock records it (and as a waiting run reports it). */
export function currentHolder(kind: LockKind, env: NodeJS.ProcessEnv = process.env): Holder {
  const run =
    env.GITHUB_RUN_ID && env.GITHUB_REPOSITORY
      ? `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
      : `local run (pid ${process.pid})`
  return { kind, run, actor: env.GITHUB_ACTOR ?? env.USER ?? localUser(), runner: hostname(), started: new Date().toISOString() }
}

export function describeHolder(json: string): string {
  try {
    const h = JSON.parse(json) as Partial<Holder>
    return `${h.kind ?? 'a run'} by ${h.actor ?? 'someone'} (${h.run ?? 'unknown run'}, from ${h.runner ?? '?'}, since ${h.started ?? '?'})`
  } catch {
    return json
  }
}

export class HeldLock {
  constructor(
    private readonly guardian: RunningScript,
    readonly waitedMs: number,
    /** stdout of `afterAcquire`, when given. */
    readonly probe: string = '',
  ) {}

  /** Release: the guardian removes the lock directory and exits. */
  async release(): Promise<void> {
    this.guardian.send('release\n')
    this.guardian.end()
    await this.guardian.done.catch(() => undefined)
  }
}

export async function acquireLock(host: Host, options: LockOptions, reporter: Reporter): Promise<HeldLock> {
  const lockDir = layout(options.root).lock
  const started = Date.now()
  const guardian = await host.session.start(
    {
      step: 'lock',
      input: true,
      body: guardianScript({
        lockDir,
        holder: JSON.stringify(currentHolder(options.kind)),
        token: randomBytes(12).toString('hex'),
        timeoutSeconds: Math.ceil(options.timeoutMs / 1000),
        staleSeconds: Math.ceil((options.staleAfterMs ?? 120_000) / 1000),
        breakLock: options.breakLock,
        recovery: options.recovery,
        afterAcquire: options.afterAcquire,
      }),
    },
    // The guardian lives for the whole run; no command timeout applies to it.
    { timeoutMs: 2 ** 31 - 1, onStderr: line => reporter.info(`${host.label}: ${line}`) },
  )
  return new Promise((resolve, reject) => {
    let lastEvent = ''
    let probe: string[] | undefined
    const acquired = () => {
      const waited = Date.now() - started
      if (waited > 1500) host.log(`lock acquired after waiting ${formatDuration(waited)}`)
      host.lockDir = lockDir
      return waited
    }
    guardian.onStdout(line => {
      if (!line.startsWith(`${LOCK_EVENT}:`)) {
        probe?.push(line)
        return
      }
      const event = line.slice(LOCK_EVENT.length + 1)
      const [kind, ...rest] = event.split(' ')
      lastEvent = event
      if (kind === 'acquired') {
        if (!options.afterAcquire) resolve(new HeldLock(guardian, acquired()))
      } else if (kind === 'probe-begin') {
        probe = []
      } else if (kind === 'probe-end') {
        resolve(new HeldLock(guardian, acquired(), probe!.join('\n')))
      } else if (kind === 'probe-failed') {
        // We hold the lock but cannot go on: give it back before failing.
        const held = new HeldLock(guardian, acquired())
        void held.release().finally(() => reject(new SlipwayError(`${host.label}: looking at the server after taking the lock failed (exit ${rest[0]})`)))
      } else if (kind === 'waiting') {
        host.log(`waiting for the app lock, held by ${describeHolder(rest.join(' '))} (lock-timeout ${formatDuration(options.timeoutMs)})`)
      } else if (kind === 'dead') {
        host.warn(`the app lock was left behind by ${describeHolder(rest.join(' '))}, whose process is gone (lost connection or reboot); taking it over`)
      } else if (kind === 'recovering') {
        host.warn(`running the recovery that run left behind (see ${layout(options.root).meta}/recovery.log)`)
      } else if (kind === 'recovery-failed') {
        host.warn(`the recovery left behind by ${describeHolder(rest.join(' '))} failed; see ${layout(options.root).meta}/recovery.log`)
      } else if (kind === 'broken') {
        host.warn(`breaking the app lock held by ${describeHolder(rest.join(' '))} (break-lock: true)`)
      } else if (kind === 'stale') {
        const [age, ...holder] = rest
        host.warn(`the app lock holder ${describeHolder(holder.join(' '))} is alive but silent for ${age} s; set break-lock: true to take it over`)
      }
    })
    void guardian.done.then(
      r => {
        if (lastEvent.startsWith('timeout')) {
          const holder = describeHolder(lastEvent.slice('timeout '.length))
          reject(
            new SlipwayError(
              `${host.label}: the app lock at ${lockDir} is held by ${holder}; gave up after lock-timeout (${formatDuration(options.timeoutMs)})`,
              'Wait for that run to finish, raise lock-timeout, or if it is hung, set break-lock: true.',
            ),
          )
        } else if (!/^(acquired|released|probe-)/.test(lastEvent)) {
          reject(new SlipwayError(`${host.label}: could not take the app lock at ${lockDir} (exit ${r.code}): ${r.stderrTail.join(' / ')}`))
        }
      },
      err => reject(err),
    )
  })
}

/** Hold the app lock on one host while `fn` runs; always release it. */
export async function withLock<T>(host: Host, options: LockOptions, reporter: Reporter, fn: (lock: HeldLock) => Promise<T>): Promise<T> {
  const lock = await acquireLock(host, options, reporter)
  try {
    return await fn(lock)
  } finally {
    host.lockDir = undefined
    await lock.release()
  }
}

function localUser(): string {
  try {
    return userInfo().username
  } catch {
    return 'unknown'
  }
}
