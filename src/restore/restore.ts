// Restoring a snapshot on one host, and proving that it restores. The caller holds the
// app lock (actions/restore; the release and rollback actions for their data rollback).
//
// Order, and why:
//   1. find the snapshot and read its manifest (ids and file names validated)
//   2. pair each of its items with a configured target (credentials come from inputs)
//   3. verify the sha256 of every file the restore will read, on the server: a damaged
//      file fails here, naming it, with nothing changed
//   4. restore databases one by one (each all-or-nothing: see commands/restore/*), then
//      all volumes in one script with the containers stopped once
// A drill does 1-3, then restores each item into scratch and compares it with the sums
// and listings recorded when the snapshot was taken.

import { randomBytes } from 'crypto'
import { layout } from '../commands/layout'
import { databaseRestoreScript, describeTarget, drillScript, volumesRestoreScript } from '../commands/restore/restore'
import type { RestoreItem, RestorePlan } from '../commands/restore/types'
import { parseVerify, verifyScript } from '../commands/restore/verify'
import type { PlannedItem } from '../commands/snapshot/types'
import type { Host } from '../fleet/host'
import type { SnapshotRef } from '../inputs/restore'
import { describeRef } from '../inputs/restore'
import type { DatabaseItem, SnapshotSettings } from '../inputs/snapshot'
import { SlipwayError, StepError } from '../report/errors'
import { formatDuration, type Reporter } from '../report/reporter'
import { formatBytes, MANIFEST_FILE, type Manifest, type ManifestItem, type TableSum } from '../snapshot/manifest'
import { planSnapshot } from '../snapshot/plan'
import { TABLE_SUM_METHOD } from '../commands/snapshot/checksums'
import { discoverDatabases, listSnapshots } from '../snapshot/snapshot'

/** The label of the snapshot a restore takes of the current state first. */
export const SAFETY_LABEL = 'before-restore'

/**
 * Which snapshot `ref` means on this host. `latest` is the newest by its manifest's time,
 * leaving out safety snapshots (a restore's own `before-restore`): restoring "latest"
 * twice must not undo the first restore. Name a safety snapshot by its id to restore it.
 */
export async function findSnapshot(host: Host, app: { root: string }, ref: SnapshotRef): Promise<Manifest> {
  const listing = await listSnapshots(host, app)
  const usable = listing.snapshots.flatMap(s => (s.manifest ? [s.manifest] : []))
  const newest = (ms: Manifest[]) => [...ms].sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (b.id < a.id ? -1 : 1))[0]
  let found: Manifest | undefined
  if (ref.kind === 'id') {
    const entry = listing.snapshots.find(s => s.id === ref.id)
    if (entry && !entry.manifest) throw new SlipwayError(`${host.label}: snapshot ${ref.id} cannot be used: ${entry.problem}`)
    found = entry?.manifest
  } else if (ref.kind === 'latest') {
    found = newest(usable.filter(m => m.label !== SAFETY_LABEL))
  } else {
    found = newest(usable.filter(m => m.release?.id === ref.release))
  }
  if (!found) {
    const have = usable.map(m => m.id + (m.release ? ` (before ${m.release.id})` : '')).join(', ') || 'none'
    throw new SlipwayError(`${host.label}: no snapshot matches '${describeRef(ref)}' in ${layout(app.root).snapshots} (there: ${have})`, 'List them with ls on the server, or take one with actions/snapshot.')
  }
  return found
}

/** What `only` and `describe` call an item: its name, as the manifest records it. */
function itemLabel(i: ManifestItem): string {
  return i.kind === 'database' ? `${i.engine} database ${i.name}` : i.engine === 'directory' ? `directory ${i.name}` : `container volume ${i.name.replace(/^volume:/, '')}`
}

const family = (engine: string) => (engine === 'mysql' ? 'mariadb' : engine)

function plannedKey(p: PlannedItem): { kind: string; engine: string; name: string; container?: string } {
  if (p.kind === 'database') return { kind: 'database', engine: family(p.db.engine), name: p.db.name, container: p.db.container }
  return p.volume.kind === 'directory' ? { kind: 'volume', engine: 'directory', name: p.volume.path } : { kind: 'volume', engine: 'container-volume', name: `volume:${p.volume.name}` }
}

/**
 * Pure: the manifest's items (those named by `only`, else all) each paired with the
 * configured target of the same kind, engine and name (and container, when two
 * differ only by it). Fails naming an item without a target, an `only` name the
 * snapshot lacks, and, without `only`, a configured target the snapshot lacks.
 */
export function matchItems(manifest: Manifest, planned: PlannedItem[], only: string[] = []): { item: ManifestItem; target: PlannedItem }[] {
  let items = manifest.items
  if (only.length) {
    const unknown = only.filter(n => !manifest.items.some(i => i.name === n || i.alias === n || i.file === n || i.name === `volume:${n}`))
    if (unknown.length) {
      throw new SlipwayError(`only: snapshot ${manifest.id} has no item ${unknown.map(n => `'${n}'`).join(', ')} (it has: ${manifest.items.map(i => i.name).join(', ')})`)
    }
    items = manifest.items.filter(i => only.some(n => i.name === n || i.alias === n || i.file === n || i.name === `volume:${n}`))
  }
  const free = [...planned]
  const pairs = items.map(item => {
    let candidates = free.filter(p => {
      const k = plannedKey(p)
      return k.kind === item.kind && k.engine === family(item.engine) && k.name === item.name
    })
    if (candidates.length > 1) candidates = candidates.filter(p => plannedKey(p).container === item.container)
    if (candidates.length !== 1) {
      throw new SlipwayError(
        `snapshot ${manifest.id} holds ${itemLabel(item)}${item.container ? ` (container ${item.container})` : ''} (${item.file}), but ${candidates.length ? 'several configured targets match it' : `no ${item.kind === 'database' ? 'databases' : 'volumes'} entry names it`}`,
        `Add it to ${item.kind === 'database' ? 'databases' : 'volumes'} with its credentials (snapshots never store them), or leave it out with only.`,
      )
    }
    free.splice(free.indexOf(candidates[0]), 1)
    return { item, target: candidates[0] }
  })
  if (!only.length && free.length) {
    const missing = free.map(p => {
      const k = plannedKey(p)
      return `${k.kind === 'database' ? `${k.engine} database` : k.engine === 'directory' ? 'directory' : 'container volume'} ${k.name}`
    })
    throw new SlipwayError(`snapshot ${manifest.id} has nothing for ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} configured to be restored`, 'Remove it from databases/volumes, or name what to restore with only.')
  }
  return pairs
}

export interface PreparedRestore {
  plan: RestorePlan
  /** Passwords, by the variables the scripts read them from. */
  env: Record<string, string>
  /** The configured targets of the items, for a safety snapshot of exactly those. */
  targets: SnapshotSettings
}

/** Match the manifest with the targets (reading Django's DATABASES when configured). */
export async function prepareRestore(host: Host, app: { root: string }, manifest: Manifest, settings: SnapshotSettings, only: string[] = []): Promise<PreparedRestore> {
  const discovered = await discoverDatabases(host, app, settings)
  const { plan: snap, env } = planSnapshot(app.root, settings, {}, discovered)
  let pairs
  try {
    pairs = matchItems(manifest, snap.items, only)
  } catch (err) {
    if (err instanceof SlipwayError) throw new SlipwayError(`${host.label}: ${err.message}`, err.hint)
    throw err
  }
  const dir = `${layout(app.root).snapshots}/${manifest.id}`
  const items: RestoreItem[] = pairs.map(({ item, target }) => ({
    item,
    target: target.kind === 'database' ? { kind: 'database', db: target.db } : { kind: 'volume', volume: target.volume },
    // Both names passed ITEM_FILE when the manifest was parsed: no '/', no '..'.
    path: `${dir}/${item.file}`,
    ...(item.listing ? { listingPath: `${dir}/${item.listing.file}` } : {}),
  }))
  // Databases first (each on its own), volumes last (together, containers stopped once).
  items.sort((a, b) => (a.target.kind === b.target.kind ? 0 : a.target.kind === 'database' ? -1 : 1))
  return {
    plan: {
      dir,
      id: manifest.id,
      token: randomBytes(4).toString('hex'),
      items,
      containerCli: settings.containerCli,
      stopContainers: settings.stopContainers,
      djangoPasswords: snap.djangoPasswords,
    },
    env,
    targets: targetsOf(settings, pairs.map(p => p.target)),
  }
}

/** The configured databases and volumes behind these planned items (for the safety snapshot). */
function targetsOf(settings: SnapshotSettings, planned: PlannedItem[]): SnapshotSettings {
  const databases: DatabaseItem[] = []
  for (const p of planned) {
    if (p.kind !== 'database') continue
    const d: DatabaseItem | undefined = p.db.alias
      ? { engine: 'django', name: p.db.alias, jobs: 1 }
      : settings.databases.find(x => x.engine === p.db.engine && x.name === p.db.name && x.host === p.db.host && x.port === p.db.port && x.container === p.db.container)
    if (d && !databases.includes(d) && !databases.some(x => x.engine === 'django' && x.name === d.name && d.engine === 'django')) databases.push(d)
  }
  const volumes = planned.flatMap(p => (p.kind === 'volume' ? [p.volume] : []))
  return { ...settings, databases, volumes, keep: undefined, label: undefined, download: undefined }
}

/**
 * Step 3: the sha256 of every file the restore reads, computed on the server and
 * compared with the manifest. Throws naming the first file that does not match.
 */
export async function verifyFiles(host: Host, manifest: Manifest, plan: RestorePlan): Promise<void> {
  const expected = new Map<string, { bytes: number; sha256: string }>()
  for (const i of plan.items) {
    expected.set(i.item.file, { bytes: i.item.bytes, sha256: i.item.sha256 })
    if (i.item.listing) expected.set(i.item.listing.file, { bytes: i.item.listing.bytes, sha256: i.item.listing.sha256 })
  }
  const files = [MANIFEST_FILE, ...expected.keys()]
  const r = await host.step({ step: `verify checksums of snapshot ${manifest.id}`, body: verifyScript(plan.dir, files), strict: true }, { captureBytes: 64 * 1024, quietStdout: true })
  const seen = parseVerify(r.stdout)
  const nothing = 'Nothing was restored or changed.'
  for (const file of files) {
    const got = seen.get(file)
    if (!got || got.problem) throw new SlipwayError(`${host.label}: snapshot ${manifest.id}: ${file} ${got?.problem ?? 'could not be read'}; refusing to restore from it. ${nothing}`)
  }
  for (const [file, want] of expected) {
    const got = seen.get(file)!
    if (got.sha256 !== want.sha256 || got.bytes !== want.bytes) {
      throw new SlipwayError(
        `${host.label}: snapshot ${manifest.id}: ${file} does not match its manifest (sha256 ${got.sha256!.slice(0, 16)}…, ${formatBytes(got.bytes!)}; the manifest says ${want.sha256.slice(0, 16)}…, ${formatBytes(want.bytes)}): the file is damaged or was changed. ${nothing}`,
        'Restore another snapshot, or a downloaded copy of this one.',
      )
    }
  }
  host.log(`snapshot ${manifest.id}: ${expected.size} file(s) match their sha256`)
}

export interface RestoredItem {
  name: string
  kind: string
  engine: string
  file: string
  bytes: number
  durationMs: number
}

/** Step 4, for files that verifyFiles has just passed. */
export async function restoreVerified(host: Host, prepared: PreparedRestore, reporter: Reporter): Promise<RestoredItem[]> {
  const { plan, env } = prepared
  const done: RestoredItem[] = []
  const record = (i: RestoreItem, ms: number) => done.push({ name: i.item.name, kind: i.item.kind, engine: i.item.engine, file: i.item.file, bytes: i.item.bytes, durationMs: ms })
  const describeDone = () => (done.length ? `already restored: ${done.map(d => d.name).join(', ')}` : 'nothing was restored')
  for (const i of plan.items.filter(x => x.target.kind === 'database')) {
    const started = Date.now()
    try {
      await host.step(databaseRestoreScript(plan, i, env), { quietStdout: true })
    } catch (err) {
      throw withContext(err, `${describeTarget(i)} was left as it was (${describeDone()})`)
    }
    record(i, Date.now() - started)
    reporter.info(`${host.label}: restored ${describeTarget(i)} from ${i.item.file} in ${formatDuration(Date.now() - started)}`)
  }
  const volumes = plan.items.filter(x => x.target.kind === 'volume')
  if (volumes.length) {
    const started = Date.now()
    try {
      await host.step({ ...volumesRestoreScript(plan, volumes), env }, { quietStdout: true })
    } catch (err) {
      throw withContext(err, `the volumes were left as they were (${describeDone()})`)
    }
    for (const v of volumes) record(v, Date.now() - started)
    reporter.info(`${host.label}: restored ${volumes.map(describeTarget).join(', ')} in ${formatDuration(Date.now() - started)}`)
  }
  return done
}

function withContext(err: unknown, what: string): unknown {
  if (err instanceof StepError) return new StepError(err.host, err.step, `${err.message.replace(/^.*? step '.*?' /, '')}; ${what}`, err.stderrTail, err.hint)
  if (err instanceof SlipwayError) return new SlipwayError(`${err.message}; ${what}`, err.hint)
  return err
}

export interface RestoreItemsOptions {
  /** Item names (database name, SQLite path, directory, volume:<name>); empty: every item. */
  only?: string[]
}

/**
 * Put the items of `manifest` (or `options.only` of them) back into the targets of
 * `settings` on `host`, for the release and rollback actions' data rollback.
 *
 * Contract: the caller holds the app lock on `host` (withLock with kind release or
 * rollback); no safety snapshot is taken and the app is not restarted (both are the
 * caller's call). Every file is checked against its sha256 before anything changes.
 * Each database is replaced completely or not at all: PostgreSQL in one transaction,
 * MariaDB/MySQL by an atomic RENAME TABLE swap after a complete load into scratch (an
 * in-place load when it has views, triggers, routines or events), SQLite by a rename.
 * Volumes are swapped in together and put back together if any fails. Throws a
 * SlipwayError naming the item that failed and what was already restored.
 */
export async function restoreItems(host: Host, app: { root: string }, manifest: Manifest, settings: SnapshotSettings, options: RestoreItemsOptions, reporter: Reporter): Promise<RestoredItem[]> {
  const prepared = await prepareRestore(host, app, manifest, settings, options.only ?? [])
  await verifyFiles(host, manifest, prepared.plan)
  return restoreVerified(host, prepared, reporter)
}

// ---------------------------------------------------------------- drill

export type TableCheck = { table: string; rows?: number; recordedRows?: number; status: 'same' | 'differs' | 'missing' | 'unexpected' | 'not recorded' | 'changed during snapshot' }

export interface DrillItem {
  name: string
  kind: string
  engine: string
  file: string
  /** good: restored and equal to the record; bad: a difference or a failure; unverified: restored, nothing recorded to compare with. */
  result: 'good' | 'bad' | 'unverified'
  problems: string[]
  tables?: TableCheck[]
  files?: { verdict: 'same' | 'differs' | 'not recorded'; entries: number }
  durationMs: number
}

export interface DrillResult {
  snapshot: string
  ok: boolean
  items: DrillItem[]
}

/** Pure: restored sums against those recorded at snapshot time. */
export function compareTables(recorded: TableSum[] | undefined, restored: TableSum[]): { checks: TableCheck[]; problems: string[] } {
  const got = new Map(restored.map(t => [t.table, t]))
  if (!recorded) return { checks: restored.map(t => ({ table: t.table, rows: 'rows' in t ? t.rows : undefined, status: 'not recorded' })), problems: [] }
  const checks: TableCheck[] = []
  const problems: string[] = []
  for (const r of recorded) {
    const g = got.get(r.table)
    got.delete(r.table)
    const rows = g && 'rows' in g ? g.rows : undefined
    if (!('rows' in r)) {
      checks.push({ table: r.table, rows, status: 'changed during snapshot' })
    } else if (!g || !('rows' in g)) {
      checks.push({ table: r.table, recordedRows: r.rows, status: 'missing' })
      problems.push(`table ${r.table} is missing after the restore`)
    } else if (g.rows !== r.rows || g.checksum !== r.checksum) {
      checks.push({ table: r.table, rows, recordedRows: r.rows, status: 'differs' })
      problems.push(g.rows !== r.rows ? `table ${r.table} has ${g.rows} rows, the snapshot recorded ${r.rows}` : `table ${r.table} holds other rows than the snapshot recorded (${r.rows} rows, checksum differs)`)
    } else {
      checks.push({ table: r.table, rows, recordedRows: r.rows, status: 'same' })
    }
  }
  for (const t of got.values()) {
    checks.push({ table: t.table, rows: 'rows' in t ? t.rows : undefined, status: 'unexpected' })
    problems.push(`table ${t.table} is not in the snapshot's record`)
  }
  return { checks, problems }
}

function parseTables(stdout: string): TableSum[] {
  return stdout
    .split('\n')
    .filter(l => l.startsWith('table '))
    .map(l => {
      const o = JSON.parse(l.slice('table '.length)) as { table: string; rows: number | string; checksum: string }
      return { table: o.table, rows: Number(o.rows), checksum: String(o.checksum) }
    })
}

/**
 * A restore drill of the items of `manifest`: checksums verified, then each item
 * restored into scratch, compared with what the snapshot recorded, and removed. Nothing
 * live is touched. An item that fails to restore is reported bad; the drill goes on.
 */
export async function drill(host: Host, app: { root: string }, manifest: Manifest, settings: SnapshotSettings, options: RestoreItemsOptions, reporter: Reporter): Promise<DrillResult> {
  const prepared = await prepareRestore(host, app, manifest, settings, options.only ?? [])
  await verifyFiles(host, manifest, prepared.plan)
  const items: DrillItem[] = []
  for (const i of prepared.plan.items) {
    const started = Date.now()
    const base = { name: i.item.name, kind: i.item.kind, engine: i.item.engine, file: i.item.file }
    const r = await host.step(drillScript(prepared.plan, i, prepared.env), { quietStdout: true, captureBytes: 4 * 1024 * 1024, allowFailure: true })
    const durationMs = Date.now() - started
    if (r.code !== 0) {
      items.push({ ...base, result: 'bad', problems: [`restoring into scratch failed: ${r.stderrTail.filter(l => !l.startsWith('slipway: ')).slice(-3).join(' / ') || `exit code ${r.code}`}`], durationMs })
      continue
    }
    if (i.target.kind === 'database') {
      // Sums recorded with another method cannot be compared with today's: such a drill
      // proves the dump loads, not the data, and says so.
      const recorded = i.item.tableSums === TABLE_SUM_METHOD ? i.item.tables : undefined
      const { checks, problems } = compareTables(recorded, parseTables(r.stdout))
      items.push({ ...base, result: problems.length ? 'bad' : recorded ? 'good' : 'unverified', problems, tables: checks, durationMs })
    } else {
      const m = /^listing (ok|differs|none) (\d+)$/m.exec(r.stdout)
      const verdict = m?.[1] === 'ok' ? 'same' : m?.[1] === 'differs' ? 'differs' : 'not recorded'
      const problems = verdict === 'differs' ? ['the extracted files differ from the listing recorded at snapshot time (see the log)'] : m ? [] : ['the drill printed no listing result']
      items.push({ ...base, result: problems.length ? 'bad' : verdict === 'same' ? 'good' : 'unverified', problems, files: { verdict, entries: Number(m?.[2] ?? 0) }, durationMs })
    }
    const last = items[items.length - 1]
    reporter.info(`${host.label}: drill ${describeTarget(i)}: ${last.result}${last.problems.length ? ` (${last.problems.join('; ')})` : ''}`)
  }
  return { snapshot: manifest.id, ok: items.every(i => i.result !== 'bad'), items }
}
