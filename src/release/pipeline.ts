// One release on one host: lock, probe, ship, build, (snapshot,) migrate, switch,
// restart, reload, health-check; on any failure, put the previous release back.

import { setRecovery } from '../commands/lock'
import { layout } from '../commands/layout'
import { parseProbe, probe, receivePack, fetchOnServer, recoverRelease, releaseScript, undoRelease, type ProbeResult, type ReleasePlan } from '../commands/release'
import { renderScript, stepMarker } from '../commands/script'
import { lines } from '../commands/shell'
import { Transform, type Readable } from 'stream'
import type { Host } from '../fleet/host'
import type { ReleaseSettings } from '../inputs/release'
import type { LocalRepo } from '../local/git'
import { withLock } from '../lock/lock'
import { SlipwayError, StepError, describeError } from '../report/errors'
import type { Reporter } from '../report/reporter'

export interface HostRelease {
  changed: boolean
  release: string
  previous: string
  sha: string
  /** Migrations applied by this host (only the migrating host applies any). */
  migrations: string[]
  bytesShipped: number
  snapshot?: string
  /** Set when the release failed and the previous one was put back. */
  rolledBack?: boolean
}

/** What is the same for every host of one release. */
export interface ReleaseContext {
  settings: ReleaseSettings
  id: string
  sha: string
  record: Record<string, unknown>
  local?: LocalRepo
  /** Runs between build and migrate on the migrating host; returns the snapshot id. */
  snapshot?: (host: Host, plan: ReleasePlan) => Promise<string | undefined>
  /** Runs on the migrating host after a successful release, still under the lock. */
  afterRelease?: (host: Host, plan: ReleasePlan) => Promise<void>
  /**
   * After a migration failed part-way: put back, from the pre-release snapshot, the
   * databases whose DDL is not transactional (MariaDB/MySQL keep half a migration).
   * Returns what was done, for the error message.
   */
  restoreData?: (host: Host, plan: ReleasePlan, snapshot: string) => Promise<string | undefined>
}

export function planFor(ctx: ReleaseContext, probed: ProbeResult, migrate: boolean): ReleasePlan {
  const s = ctx.settings
  // After a crash mid-release the live release may be one that never finished: going
  // back means going to the last one that did.
  const previous = s.strategy === 'in-place' ? probed.currentSha : probed.current && !probed.currentComplete ? probed.lastComplete : probed.current
  return {
    strategy: s.strategy,
    shared: s.shared,
    requirements: s.requirements,
    python: s.python,
    systemSitePackages: s.systemSitePackages,
    projectDir: s.projectDir,
    collectstatic: s.collectstatic,
    checkDeploy: s.checkDeploy,
    goLive: s.goLive,
    beforeSwitch: s.beforeSwitch,
    afterSwitch: s.afterSwitch,
    keepReleases: s.keepReleases,
    root: s.path,
    id: ctx.id,
    sha: ctx.sha,
    ref: s.ref,
    previous: previous || undefined,
    migrate: migrate && s.migrate,
    record: { ...ctx.record, previous },
  }
}

function probeBody(ctx: ReleaseContext): string {
  const s = ctx.settings
  return probe({ root: s.path, strategy: s.strategy, sha: ctx.sha, shared: s.shared })
}

/** What the probe found, refusing early (nothing changed yet) what cannot work. */
function checkProbe(host: Host, ctx: ReleaseContext, stdout: string): ProbeResult {
  const s = ctx.settings
  const probed = parseProbe(stdout)
  if (!probed.git) throw new SlipwayError(`${host.label}: git is not installed on the server`, 'Install git there (apt-get install git); slipway needs it to unpack releases.')
  if (probed.missingShared.length) {
    throw new SlipwayError(
      `${host.label}: shared entries missing on the server: ${probed.missingShared.map(e => `${layout(s.path).shared}/${e}`).join(', ')}. Nothing was changed.`,
      'Create them (e.g. copy local_settings.py into shared/) before releasing.',
    )
  }
  if (s.strategy === 'in-place' && !probed.currentSha) {
    throw new SlipwayError(`${host.label}: ${s.path} is not a git working tree (strategy: in-place)`, 'Clone the app there first, or use the default strategy: releases.')
  }
  if (s.strategy === 'in-place' && probed.dirty) {
    throw new SlipwayError(`${host.label}: the working tree at ${s.path} has uncommitted changes to tracked files. Nothing was changed.`, 'Commit or discard them on the server first; slipway will not overwrite them.')
  }
  return probed
}

/** How the commit gets to the server: the first part of the release script, and its stdin. */
interface Shipment {
  body: string
  input?: Readable
  /** The local pack process finished. */
  done: Promise<void>
  /** After a failure: end the packer; its own error, if it failed first. */
  stop: () => Error | undefined
  bytes: () => number
  describe: () => string
}

async function shipment(host: Host, ctx: ReleaseContext, plan: ReleasePlan, probed: ProbeResult): Promise<Shipment> {
  const s = ctx.settings
  const none = (body: string, say: string): Shipment => ({ body, done: Promise.resolve(), stop: () => undefined, bytes: () => 0, describe: () => say })
  if (probed.hasCommit) return none('', `the server already has ${ctx.sha.slice(0, 12)}; nothing to ship`)
  if (s.source === 'pull') return none(lines(stepMarker('fetch'), fetchOnServer(plan, s.repository!, ctx.sha)), `the server fetched ${ctx.sha.slice(0, 12)} from ${s.repository}`)
  const local = ctx.local!
  // Leave out everything the server has. A shallow checkout may lack the server's
  // commits; fetch the live one so at least that tree is not sent again.
  const haves = await local.present(probed.haves)
  if (haves.length === 0 && /^[0-9a-f]{40}$/.test(probed.currentSha) && (await local.tryFetch(probed.currentSha))) haves.push(probed.currentSha)
  const pack = local.pack(ctx.sha, haves)
  let bytes = 0
  const counted = pack.stream.pipe(
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length
        callback(null, chunk)
      },
    }),
  )
  return {
    body: lines(stepMarker('ship'), receivePack(plan)),
    input: counted,
    done: pack.done,
    stop: pack.stop,
    bytes: () => bytes,
    describe: () => `shipped ${ctx.sha.slice(0, 12)}: ${formatBytes(bytes)} (${haves.length ? `delta against ${haves.length} commit(s) the server has` : 'full: the server had none of its history'})`,
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** Print what would run, change nothing. */
export async function dryRun(host: Host, ctx: ReleaseContext, migrate: boolean, reporter: Reporter): Promise<HostRelease> {
  const probed = checkProbe(host, ctx, (await host.step({ step: 'probe', body: probeBody(ctx) }, { captureBytes: 64 * 1024, quietStdout: true })).stdout)
  const plan = planFor(ctx, probed, migrate)
  const live = ctx.settings.strategy === 'in-place' ? probed.currentSha : probed.current
  reporter.info(`${host.label}: dry run: live ${live || 'none'} → ${ctx.id} (${ctx.sha.slice(0, 12)}); server ${probed.hasCommit ? 'has' : 'lacks'} the commit`)
  const show = (step: string, body: string) => reporter.info(`--- ${host.label}: ${step} ---\n${renderScript({ step, body, env: host.envForDisplay() }, { nonce: 'dry-run', redact: true })}`)
  if (!probed.hasCommit) show(ctx.settings.source === 'pull' ? 'fetch' : 'ship', ctx.settings.source === 'pull' ? fetchOnServer(plan, ctx.settings.repository!, ctx.sha) : receivePack(plan))
  show('release', releaseScript(plan, 'all'))
  show('on failure', undoRelease(plan, 'failed'))
  return { changed: false, release: ctx.id, previous: live, sha: ctx.sha, migrations: [], bytesShipped: 0 }
}

export async function releaseOnHost(host: Host, ctx: ReleaseContext, migrate: boolean, reporter: Reporter): Promise<HostRelease> {
  const s = ctx.settings
  if (s.dryRun) return dryRun(host, ctx, migrate, reporter)
  // The probe runs inside the lock's own round trip: what it sees cannot change under us.
  const lockOptions = { kind: 'release' as const, root: s.path, timeoutMs: s.lock.timeoutMs, breakLock: s.lock.breakLock, afterAcquire: probeBody(ctx) }
  return withLock(host, lockOptions, reporter, async lock => {
    const probed = checkProbe(host, ctx, lock.probe)
    const live = s.strategy === 'in-place' ? probed.currentSha : probed.current
    if (s.strategy === 'releases' && probed.current && !probed.currentComplete) {
      host.warn(`the live release ${probed.current} never finished (the server or the connection died mid-release); releasing again${probed.lastComplete ? `, with ${probed.lastComplete} as the one to go back to` : ''}`)
    } else if (probed.currentSha === ctx.sha && !s.force) {
      host.log(`${ctx.sha.slice(0, 12)} is already live (${live}); nothing to do (force: true releases it again)`)
      return { changed: false, release: live, previous: live, sha: ctx.sha, migrations: [], bytesShipped: 0 }
    }
    const plan = planFor(ctx, probed, migrate)
    const ship = await shipment(host, ctx, plan, probed)
    const recovery = setRecovery(layout(s.path).lock, recoverRelease(plan))
    let snapshot: string | undefined
    const migrations: string[] = []
    let migrationStarted = false
    const onLine = (line: string) => {
      const m = appliedMigration(line)
      if (m) migrations.push(m)
      if (/^\s*Applying [A-Za-z0-9_]+\.[A-Za-z0-9_]+\.\.\./.test(line)) migrationStarted = true
    }
    // The commit travels on the same channel as the script that builds the release:
    // the pack follows the script on stdin and the first step unpacks it.
    const first = (part: 'all' | 'build') => ({ step: part === 'all' ? 'release' : 'build', body: lines(ship.body, recovery, releaseScript(plan, part)), input: ship.input !== undefined, strict: true })
    try {
      if (ctx.snapshot && plan.migrate) {
        await host.step(first('build'), { input: ship.input })
        await ship.done
        host.log(ship.describe())
        snapshot = await ctx.snapshot(host, plan)
        if (snapshot) plan.record.snapshot = snapshot
        await host.step({ step: 'release', body: releaseScript(plan, 'rest'), strict: true }, { onLine })
      } else {
        await host.step(first('all'), { input: ship.input, onLine })
        await ship.done
        host.log(ship.describe())
      }
    } catch (stepFailure) {
      // A packer that failed first is the real cause, not the server's "early EOF".
      const err = ship.stop() ?? stepFailure
      const failure = await undo(host, plan, err)
      if (migrationStarted && snapshot && ctx.restoreData && isStep(err, 'migrate')) {
        try {
          const restored = await ctx.restoreData(host, plan, snapshot)
          if (restored) failure.outcome = `${failure.outcome}; ${restored}`
        } catch (e) {
          failure.outcome = `${failure.outcome}; putting the data back from snapshot ${snapshot} FAILED: ${describeError(e)}`
        }
      }
      throw failure
    }
    if (plan.migrate && ctx.afterRelease) await ctx.afterRelease(host, plan)
    return { changed: true, release: ctx.id, previous: live, sha: ctx.sha, migrations, bytesShipped: ship.bytes(), snapshot }
  })
}

/** A release that failed; says what failed and what was done about it. */
export class ReleaseFailure extends SlipwayError {
  constructor(
    readonly reason: unknown,
    /** "rolled back: current is X again", "the live release was not changed", ... */
    public outcome: string,
  ) {
    super(describeError(reason).split('\n')[0])
  }

  override describe(): string {
    return `${describeError(this.reason)}\n  → ${this.outcome}`
  }
}

/** Put things back after a failure and say what was done. */
async function undo(host: Host, plan: ReleasePlan, err: unknown): Promise<ReleaseFailure> {
  let outcome: string
  try {
    const r = await host.step({ step: 'roll back', body: undoRelease(plan, 'failed'), strict: true }, { captureBytes: 16 * 1024, allowFailure: true })
    const said = r.stdout.split('\n').find(l => l.startsWith('outcome: '))?.slice('outcome: '.length) ?? 'the live release was not changed'
    outcome = r.code === 0 ? `${said}; release ${plan.id} is recorded as failed` : `rolling back failed too (exit ${r.code}): ${r.stderrTail.join(' / ')}`
  } catch (e) {
    outcome = `rolling back failed too: ${describeError(e)}`
  }
  return new ReleaseFailure(err, outcome)
}

function isStep(err: unknown, step: string): boolean {
  return err instanceof StepError && err.step === step
}

/** Migrations Django reports applying ("  Applying notes.0002_x... OK"). */
export function appliedMigration(line: string): string | undefined {
  return /^\s*Applying ([A-Za-z0-9_]+\.[A-Za-z0-9_]+)\.\.\. OK$/.exec(line)?.[1]
}

