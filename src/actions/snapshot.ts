// actions/snapshot: capture the app's databases and volumes on every host, prune by
// `keep`, and optionally download the snapshot to the runner (for upload-artifact).

import { isAbsolute, resolve } from 'path'
import { Fleet, failedHosts, hostTable } from '../fleet/fleet'
import { getConnectionSettings, type ConnectionSettings } from '../inputs/connection'
import { Input } from '../inputs/names'
import { parseBoolean, parseDuration, parseRemotePath } from '../inputs/parse'
import { getSnapshotSettings, hasSnapshotItems, SnapshotInput, SnapshotOutput, type SnapshotSettings } from '../inputs/snapshot'
import type { SecretSink } from '../inputs/connection'
import type { InputSource } from '../inputs/source'
import { withLock } from '../lock/lock'
import { layout } from '../commands/layout'
import { InputError, SlipwayError, describeError } from '../report/errors'
import { formatDuration, markdownTable, type Reporter } from '../report/reporter'
import { formatBytes, type Manifest } from '../snapshot/manifest'
import { describeKeep } from '../snapshot/retention'
import { downloadSnapshot, pruneSnapshots, takeSnapshot, type PruneResult } from '../snapshot/snapshot'

export interface SnapshotInputs {
  connection: ConnectionSettings
  /** The app's root directory on the server. */
  path: string
  snapshot: SnapshotSettings
  lockTimeoutMs: number
  breakLock: boolean
}

export function getInputs(source: InputSource, secret: SecretSink): SnapshotInputs {
  const connection = getConnectionSettings(source, secret)
  const snapshot = getSnapshotSettings(source, secret)
  const path = parseRemotePath(source.get(Input.Path), source.describe(Input.Path))
  if (!path) throw new InputError(source.describe(Input.Path), 'is required', 'Set path to the app directory on the server; snapshots go to path/snapshots.')
  if (!hasSnapshotItems(snapshot)) {
    throw new InputError(source.describe(SnapshotInput.Databases), 'nothing to snapshot: give databases or volumes', 'e.g.\n      databases: |\n        - engine: postgres\n          name: app')
  }
  return {
    connection,
    path,
    snapshot,
    lockTimeoutMs: parseDuration(source.get(SnapshotInput.LockTimeout), source.describe(SnapshotInput.LockTimeout), 10 * 60_000),
    breakLock: parseBoolean(source.get(SnapshotInput.BreakLock), source.describe(SnapshotInput.BreakLock), false),
  }
}

interface HostResult {
  manifest: Manifest
  path: string
  pruned?: PruneResult
  downloaded?: string
}

export async function run(source: InputSource, reporter: Reporter): Promise<void> {
  const inputs = getInputs(source, v => reporter.secret(v))
  const settings = inputs.snapshot
  const fleet = new Fleet(inputs.connection, reporter)
  const several = inputs.connection.hosts.length > 1
  try {
    const outcomes = await fleet.run(host =>
      withLock(host, { kind: 'snapshot', root: inputs.path, timeoutMs: inputs.lockTimeoutMs, breakLock: inputs.breakLock }, reporter, async (): Promise<HostResult> => {
        const manifest = await takeSnapshot(host, { root: inputs.path }, settings, { label: settings.label }, reporter)
        const result: HostResult = { manifest, path: `${layout(inputs.path).snapshots}/${manifest.id}` }
        if (settings.keep) result.pruned = await pruneSnapshots(host, { root: inputs.path }, settings.keep, reporter)
        // Inside the lock: a concurrent run's pruning cannot remove it mid-download.
        if (settings.download) {
          const base = isAbsolute(settings.download) ? settings.download : resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), settings.download)
          const dir = several ? resolve(base, host.label.replace(/[^A-Za-z0-9._-]+/g, '_')) : base
          result.downloaded = await downloadSnapshot(host, { root: inputs.path }, manifest, dir, reporter)
        }
        return result
      }),
    )

    const first = outcomes.find(o => o.value)?.value
    if (first) {
      reporter.output(SnapshotOutput.Snapshot, first.manifest.id)
      reporter.output(SnapshotOutput.Path, first.path)
      reporter.output(SnapshotOutput.Size, String(first.manifest.bytes))
      reporter.output(SnapshotOutput.Manifest, JSON.stringify(first.manifest))
      if (first.downloaded) reporter.output(SnapshotOutput.Downloaded, first.downloaded)
      reporter.output(SnapshotOutput.Pruned, JSON.stringify(first.pruned?.removed ?? []))
    }
    reporter.output(
      SnapshotOutput.Hosts,
      JSON.stringify(
        outcomes.map(o => ({
          host: o.host.label,
          status: o.status,
          snapshot: o.value?.manifest.id ?? null,
          path: o.value?.path ?? null,
          size: o.value?.manifest.bytes ?? null,
          pruned: o.value?.pruned?.removed ?? [],
          ...(o.value?.downloaded ? { downloaded: o.value.downloaded } : {}),
        })),
      ),
    )
    reporter.summary(summarize(outcomes.flatMap(o => (o.value ? [{ host: o.host.label, ...o.value }] : [])), settings, hostTable(outcomes, o => (o.value ? `${o.value.manifest.id}, ${formatBytes(o.value.manifest.bytes)}` : ''))))

    const failures = failedHosts(outcomes)
    for (const f of failures) reporter.error(describeError(f.error))
    if (failures.length) throw new SlipwayError(`${failures.length} of ${outcomes.length} host(s) failed: ${failures.map(f => f.host.label).join(', ')}`)
  } finally {
    await fleet.close()
  }
}

function summarize(results: (HostResult & { host: string })[], settings: SnapshotSettings, hosts: string): string {
  const parts = ['### slipway snapshot', hosts]
  for (const r of results) {
    const m = r.manifest
    parts.push(
      `#### ${r.host}: \`${m.id}\` (${formatBytes(m.bytes)} in ${formatDuration(m.durationMs)})`,
      markdownTable(
        ['Item', 'File', 'Size', 'Time', 'sha256'],
        m.items.map(i => [`${i.kind === 'database' ? i.engine : 'volume'} ${i.name}`, i.file, formatBytes(i.bytes), formatDuration(i.durationMs), `${i.sha256.slice(0, 12)}…`]),
      ),
    )
    if (r.pruned) {
      parts.push(`Retention \`${describeKeep(settings.keep!)}\`: kept ${r.pruned.kept.length}, removed ${r.pruned.removed.length}${r.pruned.removed.length ? ` (${r.pruned.removed.map(id => `\`${id}\``).join(', ')})` : ''}.`)
    }
    if (r.downloaded) parts.push(`Downloaded to \`${r.downloaded}\`, every sha256 verified.`)
  }
  return parts.join('\n\n')
}
