// The restore inputs: which snapshot (`snapshot`), which of its items (`only`), whether
// to put them back or only prove that they would restore (`verify`), the safety snapshot
// taken first, and the restart afterwards. What to restore into comes from the same
// inputs as the snapshot action (databases, volumes, container-cli, stop-containers):
// a manifest never holds credentials.

import { InputError } from '../report/errors'
import { getConnectionSettings, type ConnectionSettings, type SecretSink } from './connection'
import { Input } from './names'
import { parseBoolean, parseDuration, parseRemotePath, printable, splitLines, splitList } from './parse'
import { getSnapshotSettings, hasSnapshotItems, SnapshotInput, type SnapshotSettings } from './snapshot'
import type { InputSource } from './source'
import { validSnapshotId } from '../snapshot/manifest'

export const RestoreInput = {
  Snapshot: 'snapshot',
  Only: 'only',
  Verify: 'verify',
  SafetySnapshot: 'safety-snapshot',
  Restart: 'restart',
  LockTimeout: 'lock-timeout',
  BreakLock: 'break-lock',
} as const

export const RestoreOutput = {
  Snapshot: 'snapshot',
  SafetySnapshot: 'safety-snapshot',
  Restored: 'restored',
  Verified: 'verified',
  Hosts: 'hosts',
} as const

/** Which snapshot: an id, the newest, or the one taken before a release migrated. */
export type SnapshotRef = { kind: 'id'; id: string } | { kind: 'latest' } | { kind: 'before'; release: string }

/** Release ids as the manifest accepts them (they name directories under releases/). */
const RELEASE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function parseSnapshotRef(value: string | undefined, input: string): SnapshotRef {
  const v = value?.trim()
  const hint = 'Give a snapshot id (20260315T120000Z-nightly), latest, or before:<release id>.'
  if (!v) throw new InputError(input, 'is required: which snapshot to restore', hint)
  if (v === 'latest') return { kind: 'latest' }
  if (v.startsWith('before:')) {
    const release = v.slice('before:'.length).trim()
    if (!RELEASE.test(release)) throw new InputError(input, `'${printable(release)}' is not a release id`, hint)
    return { kind: 'before', release }
  }
  if (!validSnapshotId(v)) throw new InputError(input, `'${printable(v)}' is not a snapshot id`, hint)
  return { kind: 'id', id: v }
}

export function describeRef(ref: SnapshotRef): string {
  return ref.kind === 'id' ? ref.id : ref.kind === 'latest' ? 'latest' : `before:${ref.release}`
}

export interface RestoreSettings {
  connection: ConnectionSettings
  /** The app's root directory on the server. */
  path: string
  /** Targets and their credentials, as the snapshot action takes them. */
  targets: SnapshotSettings
  ref: SnapshotRef
  /** Item names (database name, SQLite path, directory, volume:<name>); empty: all. */
  only: string[]
  /** A drill: restore into scratch and compare, touch nothing live. */
  verify: boolean
  safetySnapshot: boolean
  /** Run in `<path>/current` after the restore, each must succeed. */
  restart: string[]
  lockTimeoutMs: number
  breakLock: boolean
}

export function getRestoreSettings(source: InputSource, secret: SecretSink): RestoreSettings {
  const d = (n: string) => source.describe(n)
  const connection = getConnectionSettings(source, secret)
  const targets = getSnapshotSettings(source, secret)
  const path = parseRemotePath(source.get(Input.Path), d(Input.Path))
  if (!path) throw new InputError(d(Input.Path), 'is required', 'Set path to the app directory on the server; snapshots are in path/snapshots.')
  if (!hasSnapshotItems(targets)) {
    throw new InputError(d(SnapshotInput.Databases), 'nothing to restore into: give databases or volumes (the same as for the snapshot; credentials are not stored in snapshots)')
  }
  const only = splitList(source.get(RestoreInput.Only))
  for (const o of only) {
    // eslint-disable-next-line no-control-regex
    if (/[\0-\x1f\x7f]/.test(o)) throw new InputError(d(RestoreInput.Only), `'${printable(o)}' contains control characters`)
  }
  return {
    connection,
    path,
    targets,
    ref: parseSnapshotRef(source.get(RestoreInput.Snapshot), d(RestoreInput.Snapshot)),
    only,
    verify: parseBoolean(source.get(RestoreInput.Verify), d(RestoreInput.Verify), false),
    safetySnapshot: parseBoolean(source.get(RestoreInput.SafetySnapshot), d(RestoreInput.SafetySnapshot), true),
    restart: splitLines(source.get(RestoreInput.Restart)),
    lockTimeoutMs: parseDuration(source.get(RestoreInput.LockTimeout), d(RestoreInput.LockTimeout), 10 * 60_000),
    breakLock: parseBoolean(source.get(RestoreInput.BreakLock), d(RestoreInput.BreakLock), false),
  }
}
