// The root action: release a Django app to every host, atomically or not at all.

import { releaseId } from '../commands/release'
import { Fleet, failedHosts, hostTable } from '../fleet/fleet'
import type { Host } from '../fleet/host'
import type { HostOutcome } from '../fleet/parallel'
import type { SecretSink } from '../inputs/connection'
import { parseBoolean } from '../inputs/parse'
import { getReleaseSettings, ReleaseInput, ReleaseOutput, type ReleaseSettings } from '../inputs/release'
import { getSnapshotSettings, hasSnapshotItems, type SnapshotSettings } from '../inputs/snapshot'
import { findSnapshot, restoreItems } from '../restore/restore'
import { pruneSnapshots, takeSnapshot } from '../snapshot/snapshot'
import type { InputSource } from '../inputs/source'
import { LocalRepo } from '../local/git'
import { currentHolder } from '../lock/lock'
import { releaseOnHost, formatBytes, type HostRelease, type ReleaseContext } from '../release/pipeline'
import { InputError, SlipwayError, describeError } from '../report/errors'
import { formatDuration, markdownTable, type Reporter } from '../report/reporter'

export interface ReleaseInputs {
  settings: ReleaseSettings
  /** What to snapshot before migrating (the same inputs as actions/snapshot). */
  snapshot: SnapshotSettings
  /** Take the pre-release snapshot (default: when anything is configured). */
  takeSnapshot: boolean
}

export function getInputs(source: InputSource, secret: SecretSink, env: NodeJS.ProcessEnv = process.env): ReleaseInputs {
  const settings = getReleaseSettings(source, secret, env)
  const snapshot = getSnapshotSettings(source, secret)
  const takeSnapshot = parseBoolean(source.get(ReleaseInput.Snapshot), source.describe(ReleaseInput.Snapshot), hasSnapshotItems(snapshot))
  if (takeSnapshot && !hasSnapshotItems(snapshot)) {
    throw new InputError(source.describe(ReleaseInput.Snapshot), 'is true but no databases or volumes are given', 'Add databases (e.g. `- engine: django`) or volumes, or leave snapshot out.')
  }
  return { settings, snapshot, takeSnapshot }
}

/** The snapshot hooks of a release: before migrating, and retention after success. */
function snapshotHooks(inputs: ReleaseInputs, reporter: Reporter): Pick<ReleaseContext, 'snapshot' | 'afterRelease' | 'restoreData'> {
  if (!inputs.takeSnapshot) return {}
  const snap = inputs.snapshot
  return {
    snapshot: async (host, plan) => {
      // Reading DATABASES through manage.py needs a live release; on the very first
      // release there is none, and nothing the app wrote yet to protect.
      if (!plan.previous && snap.databases.some(d => d.engine === 'django')) {
        host.log('first release: no live release to read DATABASES from; no snapshot taken')
        return undefined
      }
      const manifest = await takeSnapshot(host, { root: plan.root }, snap, { label: snap.label ?? 'pre-release', release: { id: plan.id, sha: plan.sha } }, reporter)
      return manifest.id
    },
    afterRelease: async (host, plan) => {
      if (snap.keep) await pruneSnapshots(host, { root: plan.root }, snap.keep, reporter)
    },
    restoreData: async (host, plan, snapshot) => {
      // PostgreSQL rolls a failed migration back by itself; MariaDB and MySQL commit
      // each DDL statement, so half a migration stays unless the data is put back.
      // Writes the live release made since the snapshot (seconds) are lost with it.
      const manifest = await findSnapshot(host, { root: plan.root }, { kind: 'id', id: snapshot })
      const only = manifest.items.filter(i => i.engine === 'mariadb' || i.engine === 'mysql').map(i => i.name)
      if (only.length === 0) return undefined
      host.warn(`the failed migration may have left DDL behind in ${only.join(', ')} (MariaDB/MySQL cannot roll DDL back); restoring from snapshot ${snapshot}`)
      await restoreItems(host, { root: plan.root }, manifest, snap, { only }, reporter)
      return `${only.join(', ')} restored from the pre-release snapshot ${snapshot}`
    },
  }
}

/** The commit to release: resolved in the runner's checkout (push) or left to the server (pull). */
async function resolveCommit(settings: ReleaseSettings): Promise<{ sha: string; local?: LocalRepo }> {
  if (settings.source === 'pull') {
    if (!/^[0-9a-f]{40}$/.test(settings.ref)) {
      throw new InputError('ref', `'${settings.ref}' must be a full commit sha with source: pull`, 'Pass ref: ${{ github.sha }} (the default inside a workflow), so every host gets the same commit.')
    }
    return { sha: settings.ref }
  }
  const local = new LocalRepo(settings.workingDirectory)
  if (!(await local.isRepository())) {
    throw new InputError('working-directory', `${settings.workingDirectory} is not a git checkout`, 'Run actions/checkout before this step, or set working-directory.')
  }
  const sha = await local.resolve(settings.ref)
  if (!sha) {
    throw new InputError('ref', `'${settings.ref}' is not a commit in ${settings.workingDirectory}`, 'Check the branch or tag name; with actions/checkout, fetch it (fetch-depth: 0) or release github.sha.')
  }
  return { sha, local }
}

export async function release(source: InputSource, reporter: Reporter, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const started = Date.now()
  const inputs = getInputs(source, v => reporter.secret(v), env)
  const { settings } = inputs
  const { sha, local } = await resolveCommit(settings)
  const id = releaseId(new Date(), sha)
  const holder = currentHolder('release', env)
  const ctx: ReleaseContext = {
    settings,
    id,
    sha,
    local,
    record: { id, sha, ref: settings.ref, time: new Date().toISOString(), actor: holder.actor, run: holder.run, strategy: settings.strategy },
    ...snapshotHooks(inputs, reporter),
  }
  reporter.info(`${settings.dryRun ? 'dry run: ' : ''}releasing ${settings.ref} (${sha.slice(0, 12)}) as ${id} to ${settings.connection.hosts.map(h => h.label).join(', ')}`)

  const fleet = new Fleet(settings.connection, reporter)
  try {
    // The first host migrates; the others follow only if it succeeded, so a bad
    // release stops on one host and the rest never change.
    const [primary, ...others] = settings.connection.hosts
    const first = await fleet.run(host => releaseOnHost(host, ctx, true, reporter), { only: [primary] })
    const rest: HostOutcome<HostRelease>[] =
      first[0].status === 'ok' && others.length
        ? await fleet.run(host => releaseOnHost(host, ctx, false, reporter), { only: others })
        : others.map(host => ({ host, status: 'skipped', durationMs: 0 }))
    const outcomes = [...first, ...rest]
    const ok = outcomes.find(o => o.status === 'ok')?.value
    const migrations = outcomes.flatMap(o => o.value?.migrations ?? [])

    reporter.output(ReleaseOutput.Release, ok?.release ?? '')
    reporter.output(ReleaseOutput.PreviousRelease, ok?.previous ?? '')
    reporter.output(ReleaseOutput.Revision, sha)
    reporter.output(ReleaseOutput.Changed, String(outcomes.some(o => o.value?.changed)))
    reporter.output(ReleaseOutput.Migrations, migrations.join('\n'))
    reporter.output(ReleaseOutput.Snapshot, outcomes.find(o => o.value?.snapshot)?.value?.snapshot ?? '')
    reporter.output(ReleaseOutput.Duration, String(Math.round((Date.now() - started) / 1000)))
    reporter.summary(summary(ctx, outcomes, migrations, await stepRows(fleet, outcomes), Date.now() - started))

    const failures = failedHosts(outcomes)
    for (const f of failures) reporter.error(describeError(f.error))
    if (failures.length) {
      throw new SlipwayError(`release ${id} failed on ${failures.map(f => f.host.label).join(', ')}${rest.some(o => o.status === 'skipped') ? '; hosts after it were not touched' : ''}`)
    }
  } finally {
    await fleet.close()
  }
}

async function stepRows(fleet: Fleet, outcomes: HostOutcome<HostRelease>[]): Promise<string[][]> {
  const rows: string[][] = []
  for (const o of outcomes) {
    if (o.status === 'skipped') continue
    let host: Host
    try {
      host = await fleet.host(o.host)
    } catch {
      continue
    }
    for (const s of host.steps) rows.push([o.host.label, s.step, formatDuration(s.durationMs), s.ok ? 'ok' : '**failed**'])
  }
  return rows
}

function summary(ctx: ReleaseContext, outcomes: HostOutcome<HostRelease>[], migrations: string[], steps: string[][], ms: number): string {
  const s = ctx.settings
  const title = `### ${s.dryRun ? 'Dry run: ' : ''}slipway release \`${ctx.id}\``
  const facts = [
    `**Commit** \`${ctx.sha.slice(0, 12)}\` (${s.ref}) · **path** \`${s.path}\` · **strategy** ${s.strategy} · **took** ${formatDuration(ms)}`,
  ]
  const hosts = hostTable(outcomes, o => {
    const v = o.value!
    if (!v.changed) return s.dryRun ? 'dry run: nothing changed' : `already live (${v.release})`
    return `${v.previous || '(none)'} → ${v.release}; shipped ${formatBytes(v.bytesShipped)}${v.snapshot ? `; snapshot ${v.snapshot}` : ''}`
  })
  const parts = [title, facts.join('\n'), hosts]
  parts.push(migrations.length ? `**Migrations applied**\n\n${migrations.map(m => `- \`${m}\``).join('\n')}` : '**Migrations applied:** none')
  if (steps.length) parts.push(`<details><summary>Steps</summary>\n\n${markdownTable(['Host', 'Step', 'Time', 'Result'], steps)}\n\n</details>`)
  const failures = outcomes.filter(o => o.status === 'failed')
  if (failures.length) parts.push(`**Why it failed**\n\n${failures.map(f => `- ${f.host.label}: ${describeError(f.error).replace(/\n\s*/g, ' ')}`).join('\n')}`)
  return parts.join('\n\n')
}
