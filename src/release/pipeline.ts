// One release on one host: lock, probe, ship, build, (snapshot,) migrate, switch,
// restart, reload, health-check; on any failure, put the previous release back.

import { setRecovery } from '../commands/lock'
import { layout } from '../commands/layout'
import { parseProbe, probe, receivePack, fetchOnServer, recoverRelease, releaseScript, undoRelease, type ProbeResult, type ReleasePlan } from '../commands/release'
import { renderScript } from '../commands/script'
import { lines } from '../commands/shell'
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

async function runProbe(host: Host, ctx: ReleaseContext): Promise<ProbeResult> {
  const s = ctx.settings
  const r = await host.step({ step: 'probe', body: probe({ root: s.path, strategy: s.strategy, sha: ctx.sha, shared: s.shared }) }, { captureBytes: 64 * 1024, quietStdout: true })
  const probed = parseProbe(r.stdout)
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

async function ship(host: Host, ctx: ReleaseContext, plan: ReleasePlan, probed: ProbeResult): Promise<number> {
  const s = ctx.settings
  if (probed.hasCommit) {
    host.log(`the server already has ${ctx.sha.slice(0, 12)}; nothing to ship`)
    return 0
  }
  if (s.source === 'pull') {
    await host.step({ step: 'fetch', body: fetchOnServer(plan, s.repository!, ctx.sha) })
    return 0
  }
  const local = ctx.local!
  // Leave out everything the server has. A shallow checkout may lack the server's
  // commits; fetch the live one so at least that tree is not sent again.
  const haves = []
  for (const h of probed.haves) if (await local.has(h)) haves.push(h)
  if (haves.length === 0 && probed.currentSha && /^[0-9a-f]{40}$/.test(probed.currentSha) && (await local.tryFetch(probed.currentSha))) haves.push(probed.currentSha)
  const pack = local.pack(ctx.sha, haves)
  const before = host.session.stats.bytesSent
  try {
    await host.step({ step: 'ship', body: receivePack(plan), input: true, strict: true }, { input: pack.stream })
  } catch (err) {
    // When the local side failed, that is the real cause, not the server's "early EOF".
    await pack.done
    throw err
  }
  await pack.done
  const bytes = host.session.stats.bytesSent - before
  host.log(`shipped ${ctx.sha.slice(0, 12)}: ${formatBytes(bytes)} (${haves.length ? `delta against ${haves.length} commit(s) the server has` : 'full: the server had none of its history'})`)
  return bytes
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** Print what would run, change nothing. */
export async function dryRun(host: Host, ctx: ReleaseContext, migrate: boolean, reporter: Reporter): Promise<HostRelease> {
  const probed = await runProbe(host, ctx)
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
  return withLock(host, { kind: 'release', root: s.path, timeoutMs: s.lock.timeoutMs, breakLock: s.lock.breakLock }, reporter, async () => {
    const probed = await runProbe(host, ctx)
    const live = s.strategy === 'in-place' ? probed.currentSha : probed.current
    if (s.strategy === 'releases' && probed.current && !probed.currentComplete) {
      host.warn(`the live release ${probed.current} never finished (the server or the connection died mid-release); releasing again${probed.lastComplete ? `, with ${probed.lastComplete} as the one to go back to` : ''}`)
    } else if (probed.currentSha === ctx.sha && !s.force) {
      host.log(`${ctx.sha.slice(0, 12)} is already live (${live}); nothing to do (force: true releases it again)`)
      return { changed: false, release: live, previous: live, sha: ctx.sha, migrations: [], bytesShipped: 0 }
    }
    const plan = planFor(ctx, probed, migrate)
    const bytesShipped = await ship(host, ctx, plan, probed)
    const lockDir = layout(s.path).lock
    const recovery = setRecovery(lockDir, recoverRelease(plan))
    let snapshot: string | undefined
    const migrations: string[] = []
    let migrationStarted = false
    const onLine = (line: string) => {
      const m = appliedMigration(line)
      if (m) migrations.push(m)
      if (/^\s*Applying [A-Za-z0-9_]+\.[A-Za-z0-9_]+\.\.\./.test(line)) migrationStarted = true
    }
    try {
      if (ctx.snapshot && plan.migrate) {
        await host.step({ step: 'build', body: lines(recovery, releaseScript(plan, 'build')), strict: true })
        snapshot = await ctx.snapshot(host, plan)
        if (snapshot) plan.record.snapshot = snapshot
        await host.step({ step: 'release', body: releaseScript(plan, 'rest'), strict: true }, { onLine })
      } else {
        await host.step({ step: 'release', body: lines(recovery, releaseScript(plan, 'all')), strict: true }, { onLine })
      }
    } catch (err) {
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
    return { changed: true, release: ctx.id, previous: live, sha: ctx.sha, migrations, bytesShipped, snapshot }
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

