// actions/rollback: put a previous release back (code, and with with-data the data),
// restart, reload and health-check it, and refuse to leave a schema behind that the
// older code does not know.

import { layout } from '../commands/layout'
import { RELEASE_ID } from '../commands/release'
import { parseRollbackProbe, rollbackProbe, rollbackScript, undoRollback, unknownMigrations, unknownMigrationsInPlace, type RollbackPlan, type RollbackProbe } from '../commands/rollback'
import { Fleet, failedHosts, hostTable } from '../fleet/fleet'
import type { Host } from '../fleet/host'
import { getConnectionSettings, type ConnectionSettings, type SecretSink } from '../inputs/connection'
import { Input } from '../inputs/names'
import { parseBoolean, parseChoice, parseRemotePath, printable } from '../inputs/parse'
import { getGoLiveSettings, getLockSettings, parseRelativePath, type GoLiveSettings, type LockSettings } from '../inputs/release'
import { getSnapshotSettings, type SnapshotSettings } from '../inputs/snapshot'
import type { InputSource } from '../inputs/source'
import { currentHolder, withLock } from '../lock/lock'
import { ReleaseFailure } from '../release/pipeline'
import { findSnapshot, restoreItems } from '../restore/restore'
import { takeSnapshot } from '../snapshot/snapshot'
import { InputError, SlipwayError, describeError } from '../report/errors'
import { formatDuration, type Reporter } from '../report/reporter'

export const RollbackInput = {
  To: 'to',
  WithData: 'with-data',
  Force: 'force',
  Strategy: 'strategy',
  DryRun: 'dry-run',
} as const

export const RollbackOutput = {
  Release: 'release',
  From: 'rolled-back-from',
  Snapshot: 'snapshot',
  Migrations: 'migrations',
} as const

export interface RollbackSettings {
  connection: ConnectionSettings
  path: string
  strategy: 'releases' | 'in-place'
  /** A release id (releases) or commit sha (in-place); undefined: the one before the live one. */
  to?: string
  withData: boolean
  /** Roll code back over migrations the target does not know, leaving the schema as it is. */
  force: boolean
  goLive: GoLiveSettings
  lock: LockSettings
  projectDir: string
  python: string
  snapshot: SnapshotSettings
  dryRun: boolean
}

export function getInputs(source: InputSource, secret: SecretSink): RollbackSettings {
  const d = (n: string) => source.describe(n)
  const connection = getConnectionSettings(source, secret)
  const path = parseRemotePath(source.get(Input.Path), d(Input.Path))
  if (!path) throw new InputError(d(Input.Path), 'is required', 'The app directory on the server, e.g. /srv/app.')
  const strategy = parseChoice(source.get(RollbackInput.Strategy), d(RollbackInput.Strategy), ['releases', 'in-place'] as const, 'releases')
  const to = source.get(RollbackInput.To)?.trim()
  if (to !== undefined && !(strategy === 'in-place' ? /^[0-9a-f]{7,40}$/.test(to) : RELEASE_ID.test(to) || /^[0-9a-f]{7,40}$/.test(to))) {
    throw new InputError(d(RollbackInput.To), `'${printable(to)}' is not a release id (20261124T143015Z-1a2b3c4) or commit sha`)
  }
  const projectDir = source.get(Input.ProjectDir)?.trim()
  return {
    connection,
    path,
    strategy,
    to,
    withData: parseBoolean(source.get(RollbackInput.WithData), d(RollbackInput.WithData), false),
    force: parseBoolean(source.get(RollbackInput.Force), d(RollbackInput.Force), false),
    goLive: getGoLiveSettings(source),
    lock: getLockSettings(source),
    projectDir: projectDir ? parseRelativePath(projectDir, d(Input.ProjectDir)) : '',
    python: source.get(Input.Python)?.trim() ?? 'python3',
    snapshot: getSnapshotSettings(source, secret),
    dryRun: parseBoolean(source.get(RollbackInput.DryRun), d(RollbackInput.DryRun), false),
  }
}

export interface Target {
  from: string
  to: string
  /** Releases being undone, oldest first (their pre-release snapshots hold the data to go back to). */
  undone: string[]
  /** Directory of the target's code. */
  dir: string
}

/** Which release to go back to, decided from what is on the server. Pure, so it has unit tests. */
export function chooseTarget(s: Pick<RollbackSettings, 'strategy' | 'to' | 'path'>, p: RollbackProbe, host: string): Target {
  if (s.strategy === 'in-place') {
    if (!p.head) throw new SlipwayError(`${host}: ${s.path} is not a git working tree`)
    const current = [...p.log].reverse().find(r => r.sha === p.head && r.result === 'ok')
    const to = s.to ?? (typeof current?.previous === 'string' ? current.previous : undefined)
    if (!to) throw new SlipwayError(`${host}: the release log records no commit before ${p.head.slice(0, 12)}`, 'Name one with to: <sha>.')
    const undone = p.log.filter(r => r.result === 'ok' && typeof r.id === 'string' && r.sha === p.head).map(r => r.id as string)
    return { from: p.head, to, undone: undone.slice(-1), dir: s.path }
  }
  if (!p.current) throw new SlipwayError(`${host}: nothing is live at ${s.path}/current`, 'There is no release to roll back from.')
  const complete = p.releases.filter(r => r.complete)
  const target = s.to ? complete.find(r => r.id === s.to || r.sha.startsWith(s.to!)) : [...complete].reverse().find(r => r.id < p.current)
  if (s.to && !target) {
    const exists = p.releases.find(r => r.id === s.to || r.sha.startsWith(s.to!))
    throw new SlipwayError(
      `${host}: release ${s.to} ${exists ? 'never completed (it failed or was interrupted)' : 'is not on the server'}`,
      `Releases you can go back to: ${complete.map(r => r.id).join(', ') || 'none'}.`,
    )
  }
  if (!target) throw new SlipwayError(`${host}: there is no complete release older than ${p.current} to go back to`)
  if (target.id === p.current) throw new SlipwayError(`${host}: ${target.id} is already live`)
  const undone = p.releases.filter(r => r.id > target!.id && r.id <= p.current).map(r => r.id)
  return { from: p.current, to: target.id, undone, dir: `${layout(s.path).releases}/${target.id}` }
}

async function rollbackHost(host: Host, s: RollbackSettings, reporter: Reporter): Promise<{ from: string; to: string; migrations: string[]; snapshot?: string }> {
  const probe = parseRollbackProbe((await host.step({ step: 'probe', body: rollbackProbe(s.path, s.strategy), strict: true }, { captureBytes: 1024 * 1024, quietStdout: true })).stdout)
  const target = chooseTarget(s, probe, host.label)
  host.log(`rolling back ${target.from} → ${target.to}`)

  // Migrations applied in the database that the target code does not have.
  const check = await host.step(
    {
      step: 'check migrations',
      body: s.strategy === 'in-place' ? unknownMigrationsInPlace(s.path, target.to, s.projectDir, s.python) : unknownMigrations(target.dir, s.projectDir, s.python),
      strict: true,
    },
    { captureBytes: 256 * 1024, quietStdout: true },
  )
  const migrations = check.stdout
    .split('\n')
    .filter(l => l.startsWith('unknown-migration='))
    .map(l => l.slice('unknown-migration='.length))
  if (s.dryRun) {
    host.log(`dry run: would switch ${target.from} → ${target.to}${migrations.length ? `; migrations the target does not know: ${migrations.join(', ')}` : ''}`)
    return { from: target.from, to: target.to, migrations }
  }
  if (migrations.length && !s.withData && !s.force) {
    throw new SlipwayError(
      `${host.label}: ${target.to} does not know ${migrations.length} migration(s) applied since: ${migrations.join(', ')}. Rolling back only the code would leave that schema behind; nothing was changed.`,
      'Use with-data: true to restore the pre-release snapshot as well, or force: true to roll back the code anyway (when the migrations are backwards compatible).',
    )
  }
  if (migrations.length && s.force && !s.withData) host.warn(`rolling back the code over migrations ${migrations.join(', ')} (force: true); the schema stays as it is`)

  const holder = currentHolder('rollback')
  const plan: RollbackPlan = {
    root: s.path,
    strategy: s.strategy,
    from: target.from,
    to: target.to,
    goLive: s.goLive,
    record: { id: target.to, rollback_from: target.from, time: new Date().toISOString(), actor: holder.actor, run: holder.run, kind: 'rollback' },
    venvOf: s.strategy === 'in-place' ? releaseOfCommit(probe, target.to) : undefined,
    venvOfFrom: s.strategy === 'in-place' ? releaseOfCommit(probe, target.from) : undefined,
  }
  let snapshot: string | undefined
  let safety: string | undefined
  if (s.withData) {
    // A safety snapshot first, so that a rollback that fails after the data went back
    // can return the data too, not only the code.
    safety = (await takeSnapshot(host, { root: s.path }, s.snapshot, { label: 'before-rollback' }, reporter)).id
    snapshot = await restoreData(host, s, target, probe, reporter)
  }
  try {
    await host.step({ step: 'rollback', body: rollbackScript(plan), strict: true })
  } catch (err) {
    const r = await host.step({ step: 'undo rollback', body: undoRollback(plan), strict: true }, { allowFailure: true, captureBytes: 16 * 1024 })
    const said = r.stdout.split('\n').find(l => l.startsWith('outcome: '))?.slice(9)
    let outcome = r.code === 0 ? `${said ?? 'back where it was'}; the rollback is recorded as failed` : `undoing the rollback failed too: ${r.stderrTail.join(' / ')}`
    if (safety) {
      try {
        await restoreItems(host, { root: s.path }, await findSnapshot(host, { root: s.path }, { kind: 'id', id: safety }), s.snapshot, {}, reporter)
        outcome += `; the data is back from the safety snapshot ${safety}`
      } catch (e) {
        outcome += `; putting the data back from the safety snapshot ${safety} FAILED (${describeError(e)}): restore it with actions/restore`
      }
    }
    throw new ReleaseFailure(err, outcome)
  }
  return { from: target.from, to: target.to, migrations, snapshot }
}

/** The newest successful release of a commit, from the release log. */
function releaseOfCommit(probe: RollbackProbe, sha: string): string | undefined {
  return [...probe.log].reverse().find(r => r.sha === sha && r.result === 'ok' && typeof r.id === 'string')?.id as string | undefined
}

/**
 * with-data: the snapshot taken before the oldest release being undone holds the data
 * as the target release left it. Restoring it is the restore action's job.
 */
async function restoreData(host: Host, s: RollbackSettings, target: Target, probe: RollbackProbe, reporter: Reporter): Promise<string> {
  const first = target.undone[0]
  const record = probe.log.find(r => r.id === first && typeof r.snapshot === 'string')
  const snapshotId = record?.snapshot as string | undefined
  if (!snapshotId) {
    throw new SlipwayError(`${host.label}: with-data: no snapshot was taken before release ${first}; nothing was changed`, 'Restore a snapshot of your choice with actions/restore, then roll back with force: true.')
  }
  await restoreItems(host, { root: s.path }, await findSnapshot(host, { root: s.path }, { kind: 'id', id: snapshotId }), s.snapshot, {}, reporter)
  host.log(`data restored from snapshot ${snapshotId} (taken before release ${first})`)
  return snapshotId
}

export async function run(source: InputSource, reporter: Reporter): Promise<void> {
  const started = Date.now()
  const s = getInputs(source, v => reporter.secret(v))
  const fleet = new Fleet(s.connection, reporter)
  try {
    const outcomes = await fleet.run(host =>
      s.dryRun ? rollbackHost(host, s, reporter) : withLock(host, { kind: 'rollback', root: s.path, timeoutMs: s.lock.timeoutMs, breakLock: s.lock.breakLock }, reporter, () => rollbackHost(host, s, reporter)),
    )
    const ok = outcomes.find(o => o.status === 'ok')?.value
    reporter.output(RollbackOutput.Release, ok?.to ?? '')
    reporter.output(RollbackOutput.From, ok?.from ?? '')
    reporter.output(RollbackOutput.Snapshot, ok?.snapshot ?? '')
    reporter.output(RollbackOutput.Migrations, [...new Set(outcomes.flatMap(o => o.value?.migrations ?? []))].join('\n'))
    reporter.summary(
      `### ${s.dryRun ? 'Dry run: ' : ''}slipway rollback\n\n**path** \`${s.path}\` · **took** ${formatDuration(Date.now() - started)}\n\n${hostTable(outcomes, o => `${o.value!.from} → ${o.value!.to}${o.value!.snapshot ? `; data from snapshot ${o.value!.snapshot}` : ''}`)}`,
    )
    const failures = failedHosts(outcomes)
    for (const f of failures) reporter.error(describeError(f.error))
    if (failures.length) throw new SlipwayError(`rollback failed on ${failures.map(f => f.host.label).join(', ')}`)
  } finally {
    await fleet.close()
  }
}
