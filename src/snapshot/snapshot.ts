// Taking, listing, pruning and downloading snapshots on one host. The caller holds the
// app lock (actions/snapshot, and the release action before it migrates).

import { mkdir, readdir, rm } from 'fs/promises'
import { join } from 'path'
import { layout } from '../commands/layout'
import { discoverDatabasesScript } from '../commands/snapshot/django'
import { LIST_MARK, listSnapshotsScript, pruneSnapshotsScript } from '../commands/snapshot/list'
import { snapshotScript } from '../commands/snapshot/snapshot'
import type { Host } from '../fleet/host'
import type { SnapshotSettings } from '../inputs/snapshot'
import { SlipwayError, StepError } from '../report/errors'
import { formatDuration, type Reporter } from '../report/reporter'
import { download } from '../ssh/transfer'
import { formatBytes, ManifestError, MANIFEST_FILE, parseManifest, validSnapshotId, type Manifest } from './manifest'
import { parseDiscovered, planSnapshot, type SnapshotContext } from './plan'
import { applyRetention, describeKeep, type KeepPolicy } from './retention'

/** A manifest is a few KiB; this bounds what a broken server could make us hold. */
const MANIFEST_BYTES = 4 * 1024 * 1024
const LISTING_BYTES = 32 * 1024 * 1024

/**
 * Capture every database and volume of `settings` into `<root>/snapshots/<id>/` and
 * return its manifest. On failure nothing is left behind on the server and the error
 * names the item that failed.
 */
export async function takeSnapshot(host: Host, app: { root: string }, settings: SnapshotSettings, context: SnapshotContext, reporter: Reporter): Promise<Manifest> {
  const discovered = await discoverDatabases(host, app, settings)
  const { plan, env } = planSnapshot(app.root, settings, context, discovered)
  if (plan.items.length === 0) throw new SlipwayError(`${host.label}: nothing to snapshot: no databases or volumes are configured`)
  const script = snapshotScript(plan, env)
  let stdout: string
  try {
    stdout = (await host.step(script, { captureBytes: MANIFEST_BYTES, quietStdout: true })).stdout
  } catch (err) {
    throw explainFailure(err, plan.dir)
  }
  let manifest: Manifest
  try {
    manifest = parseManifest(stdout.trim())
  } catch (err) {
    throw new SlipwayError(`${host.label}: the snapshot was written, but its manifest cannot be read: ${(err as Error).message}`)
  }
  if (manifest.items.length !== plan.items.length) {
    throw new SlipwayError(`${host.label}: snapshot ${manifest.id} has ${manifest.items.length} items, expected ${plan.items.length}`)
  }
  reporter.info(`${host.label}: snapshot ${manifest.id}: ${manifest.items.length} item(s), ${formatBytes(manifest.bytes)} in ${formatDuration(manifest.durationMs)}`)
  return manifest
}

/**
 * With `engine: django`, what DATABASES says, read on the server through the live
 * release's manage.py (passwords stay there); undefined when no item needs it.
 */
export async function discoverDatabases(host: Host, app: { root: string }, settings: SnapshotSettings): Promise<ReturnType<typeof parseDiscovered> | undefined> {
  if (!settings.databases.some(d => d.engine === 'django')) return undefined
  const r = await host.step(
    { step: 'read DATABASES from the Django settings', body: discoverDatabasesScript(app.root, settings.django.projectDir, settings.django.python), strict: true },
    { captureBytes: 256 * 1024, quietStdout: true },
  )
  return parseDiscovered(r.stdout)
}

/** A StepError from the snapshot script, told in the user's terms. */
function explainFailure(err: unknown, dir: string): unknown {
  if (!(err instanceof StepError)) return err
  const tail = err.stderrTail
  const ours = (l: string) => l.startsWith('slipway: ')
  const during = [...tail].reverse().find(l => l.startsWith('slipway: snapshot failed while: '))?.slice('slipway: snapshot failed while: '.length)
  // Our own explanation (snap_fail), else the last thing the failing tool said.
  const reason = [...tail].reverse().find(l => /^slipway: (cannot connect|not enough free space|none of|no container|cannot find|the backup of|compression|snapshot .* is complete, but|.* does not exist|.* is not readable)/.test(l))?.slice('slipway: '.length)
  const toolSaid = firstOfLastBlock(tail, l => !ours(l) && l.trim() !== '')
  const step = during ? `snapshot: ${during}` : err.step
  const space = 'Free space on the server, keep fewer snapshots (keep), or mount a larger disk at the snapshots directory.'
  if (tail.some(l => /No space left on device/i.test(l))) {
    return new StepError(err.host, step, `ran out of disk space in ${dir}; the incomplete snapshot was removed and older snapshots are untouched`, tail, space)
  }
  if (reason?.startsWith('not enough free space')) return new StepError(err.host, step, `failed: ${reason}`, tail, space)
  if (reason?.startsWith('cannot connect')) return new StepError(err.host, step, `failed: ${reason}`, tail, 'Check the user, password and host of that database; nothing was written.')
  if (reason) return new StepError(err.host, step, `failed: ${reason}`, tail)
  if (during && toolSaid) return new StepError(err.host, step, `failed: ${toolSaid.trim()}`, tail, err.hint)
  return new StepError(err.host, step, err.message.replace(/^.*? step '.*?' /, ''), tail, err.hint)
}

/** The first line of the last run of lines that match: what a tool said first when it failed. */
function firstOfLastBlock(lines: string[], match: (l: string) => boolean): string | undefined {
  let end = lines.length - 1
  while (end >= 0 && !match(lines[end])) end--
  if (end < 0) return undefined
  let start = end
  while (start > 0 && match(lines[start - 1])) start--
  return lines[start]
}

export interface ListedSnapshot {
  id: string
  manifest?: Manifest
  /** Why the manifest could not be used (such directories are never pruned). */
  problem?: string
}

export interface SnapshotListing {
  snapshots: ListedSnapshot[]
  /** Directory names under `<root>/releases`. */
  releases: string[]
  /** Directories in snapshots/ that are not snapshots (ignored). */
  strangers: string[]
}

export async function listSnapshots(host: Host, app: { root: string }): Promise<SnapshotListing> {
  const r = await host.step({ step: 'list snapshots', body: listSnapshotsScript(app.root), strict: true }, { captureBytes: LISTING_BYTES, quietStdout: true })
  if (r.stdoutTruncated) throw new SlipwayError(`${host.label}: the snapshot listing is larger than ${formatBytes(LISTING_BYTES)}; refusing to prune from a partial listing`)
  return parseListing(r.stdout)
}

/** Pure: the listing script's output. */
export function parseListing(stdout: string): SnapshotListing {
  const out: SnapshotListing = { snapshots: [], releases: [], strangers: [] }
  const parts = stdout.split(`${LIST_MARK}`)
  for (const part of parts.slice(1)) {
    const nl = part.indexOf('\n')
    const head = nl < 0 ? part : part.slice(0, nl)
    const rest = nl < 0 ? '' : part.slice(nl + 1)
    if (head === '-releases') {
      out.releases = rest.split('\n').filter(Boolean)
      continue
    }
    const id = head.replace(/^ /, '')
    if (!validSnapshotId(id)) {
      out.strangers.push(id)
      continue
    }
    try {
      out.snapshots.push({ id, manifest: parseManifest(rest.trim(), id) })
    } catch (err) {
      out.snapshots.push({ id, problem: err instanceof ManifestError ? err.message : String(err) })
    }
  }
  return out
}

export interface PruneResult {
  kept: { id: string; reasons: string[] }[]
  removed: string[]
}

/**
 * Apply `keep` to the snapshots of one app. A snapshot survives if any rule keeps it;
 * the newest always survives, and so does one whose release is still on the server.
 * Directories without a readable manifest are left alone, with a warning.
 */
export async function pruneSnapshots(host: Host, app: { root: string }, keep: KeepPolicy, reporter: Reporter): Promise<PruneResult> {
  const listing = await listSnapshots(host, app)
  for (const s of listing.snapshots.filter(s => !s.manifest)) reporter.warning(`${host.label}: snapshots/${s.id} is not pruned: ${s.problem}`)
  const candidates = listing.snapshots.flatMap(s => (s.manifest ? [{ id: s.id, time: new Date(s.manifest.time), release: s.manifest.release?.id }] : []))
  const decision = applyRetention(candidates, keep, new Set(listing.releases))
  const removed = decision.remove.map(s => s.id)
  if (removed.length) {
    await host.step({ step: `prune snapshots (keep ${describeKeep(keep)})`, body: pruneSnapshotsScript(app.root, removed), strict: true })
  } else {
    reporter.info(`${host.label}: keep ${describeKeep(keep)}: all ${candidates.length} snapshot(s) stay`)
  }
  return { kept: decision.keep.map(k => ({ id: k.snapshot.id, reasons: k.reasons })), removed }
}

/**
 * Fetch a snapshot to `<localDir>/<id>/` over SFTP, verifying every item's sha256
 * against the manifest. Returns the local directory.
 */
export async function downloadSnapshot(host: Host, app: { root: string }, manifest: Manifest, localDir: string, reporter: Reporter): Promise<string> {
  const remote = `${layout(app.root).snapshots}/${manifest.id}`
  // The id and file names were validated when the manifest was parsed; they cannot
  // step outside either directory.
  const target = join(localDir, manifest.id)
  await mkdir(localDir, { recursive: true })
  const existing = await readdir(target).catch(() => undefined)
  if (existing && existing.length) throw new SlipwayError(`${target} already exists and is not empty; not overwriting it`, 'Download into a fresh directory.')
  await mkdir(target, { recursive: true, mode: 0o700 })
  const started = Date.now()
  try {
    // A few files at once: each transfer pays a few round trips before data flows.
    // Listings go along: a drill of the downloaded copy needs them.
    const queue = manifest.items.flatMap(i => [{ file: i.file, sha256: i.sha256 }, ...(i.listing ? [{ file: i.listing.file, sha256: i.listing.sha256 }] : [])])
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const file = item.file
        let last = Date.now()
        const r = await download(host.session, `${remote}/${file}`, join(target, file), {
          expectedSha256: item.sha256,
          onProgress: (done, total) => {
            if (Date.now() - last > 10_000) {
              last = Date.now()
              reporter.info(`${host.label}: ${file}: ${formatBytes(done)} of ${formatBytes(total)}`)
            }
          },
        })
        reporter.info(`${host.label}: downloaded ${file} (${formatBytes(r.bytes)}, sha256 verified) in ${formatDuration(r.durationMs)}`)
      }
    }
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker))
    await download(host.session, `${remote}/${MANIFEST_FILE}`, join(target, MANIFEST_FILE))
  } catch (err) {
    await rm(target, { recursive: true, force: true })
    throw err
  }
  reporter.info(`${host.label}: snapshot ${manifest.id} downloaded to ${target} in ${formatDuration(Date.now() - started)}`)
  return target
}
