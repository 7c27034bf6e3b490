// manifest.json: what a snapshot holds and how to check it. Written on the server by
// the snapshot script, read back here, and read again by restore and download, which
// take file names from it: so every id and file name is validated before use, and
// anything that could step outside the snapshot directory is refused.

export const MANIFEST_FORMAT = 1
export const MANIFEST_FILE = 'manifest.json'

/** `20260315T120000Z` or `20260315T120000Z-label`: UTC time, then an optional label. */
export const SNAPSHOT_ID = /^[0-9]{8}T[0-9]{6}Z(-[A-Za-z0-9][A-Za-z0-9._-]{0,39})?$/
/** `01-postgres-app.pgdump`, `03-volume-media.tar.zst`: made by the snapshot script. */
export const ITEM_FILE = /^[0-9]{2,4}-[a-z]+-[A-Za-z0-9._-]{1,80}$/

export type ItemKind = 'database' | 'volume'

export interface ManifestItem {
  kind: ItemKind
  /** postgres, mariadb, mysql, sqlite; directory or container-volume for volumes. */
  engine: string
  /** Database name, SQLite path, directory or `volume:<name>`. */
  name: string
  /** For databases read from Django settings: the alias. */
  alias?: string
  /** Dump inside this container. */
  container?: string
  /** File name inside the snapshot directory. */
  file: string
  /** How the file was made, for restore: `pg_dump custom`, `tar`, `podman volume export` ... */
  format: string
  /** zstd, gzip or none (PostgreSQL's custom format is compressed by pg_dump itself). */
  compression: string
  bytes: number
  sha256: string
  /** e.g. `pg_dump (PostgreSQL) 15.10`. */
  toolVersion: string
  /** e.g. PostgreSQL's `server_version`; empty for files. */
  serverVersion: string
  durationMs: number
  /** How `tables` were computed (commands/snapshot/checksums.ts); absent in older snapshots. */
  tableSums?: string
  /** Databases: per table, the rows and checksum of exactly what the dump holds. */
  tables?: TableSum[]
  /** Volumes: a fingerprint of the archive (types, modes, names, file hashes), in its own file. */
  listing?: { file: string; bytes: number; sha256: string; entries: number }
}

/** `changed`: MariaDB saw the table written to while it was dumped, so no sum is recorded. */
export type TableSum = { table: string; rows: number; checksum: string } | { table: string; changed: true }

export interface Manifest {
  format: number
  id: string
  /** ISO 8601, UTC, from the server's clock. */
  time: string
  label?: string
  /** The release this snapshot protects (taken before it migrated). */
  release?: { id: string; sha: string }
  /** The server's host name. */
  host: string
  /** Total bytes of all item files. */
  bytes: number
  durationMs: number
  items: ManifestItem[]
}

export class ManifestError extends Error {}

/** Whether an id (from a user or a directory listing) is a snapshot id, and so never a path. */
export function validSnapshotId(id: string): boolean {
  return SNAPSHOT_ID.test(id)
}

/** Parse and validate; `expectedId` is the directory the manifest was found in. */
export function parseManifest(text: string, expectedId?: string): Manifest {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ManifestError(`manifest.json is not valid JSON (${(err as Error).message})`)
  }
  const m = obj(raw, 'manifest')
  const format = num(m.format, 'format')
  if (format !== MANIFEST_FORMAT) throw new ManifestError(`manifest format ${format} is not supported (expected ${MANIFEST_FORMAT})`)
  const id = str(m.id, 'id')
  if (!validSnapshotId(id)) throw new ManifestError(`id '${id.slice(0, 80)}' is not a snapshot id`)
  if (expectedId !== undefined && id !== expectedId) throw new ManifestError(`manifest id '${id}' does not match its directory '${expectedId}'`)
  const time = str(m.time, 'time')
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(time) || Number.isNaN(Date.parse(time))) throw new ManifestError(`time '${time.slice(0, 40)}' is not an ISO 8601 UTC time`)
  const label = m.label === undefined || m.label === null ? undefined : str(m.label, 'label')
  let release: Manifest['release']
  if (m.release !== undefined && m.release !== null) {
    const r = obj(m.release, 'release')
    release = { id: str(r.id, 'release.id'), sha: str(r.sha, 'release.sha') }
    // The id names a directory under releases/ when pruning.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(release.id)) throw new ManifestError(`release id '${release.id.slice(0, 80)}' is not a release id`)
  }
  if (!Array.isArray(m.items)) throw new ManifestError('items is not a list')
  const files = new Set<string>()
  const items = m.items.map((v, i): ManifestItem => {
    const it = obj(v, `items[${i}]`)
    const at = (k: string) => `items[${i}].${k}`
    const kind = str(it.kind, at('kind'))
    if (kind !== 'database' && kind !== 'volume') throw new ManifestError(`${at('kind')} '${kind}' is not database or volume`)
    const file = str(it.file, at('file'))
    if (!ITEM_FILE.test(file) || file.includes('..')) throw new ManifestError(`${at('file')} '${file.slice(0, 80)}' is not a snapshot file name`)
    if (files.has(file)) throw new ManifestError(`${at('file')} '${file}' is listed twice`)
    files.add(file)
    const sha256 = str(it.sha256, at('sha256'))
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ManifestError(`${at('sha256')} is not a sha256`)
    const bytes = num(it.bytes, at('bytes'))
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new ManifestError(`${at('bytes')} is not a size`)
    let listing: ManifestItem['listing']
    if (it.listing !== undefined) {
      const l = obj(it.listing, at('listing'))
      const lfile = str(l.file, at('listing.file'))
      if (!ITEM_FILE.test(lfile) || lfile.includes('..')) throw new ManifestError(`${at('listing.file')} '${lfile.slice(0, 80)}' is not a snapshot file name`)
      if (files.has(lfile)) throw new ManifestError(`${at('listing.file')} '${lfile}' is listed twice`)
      files.add(lfile)
      const lsha = str(l.sha256, at('listing.sha256'))
      if (!/^[0-9a-f]{64}$/.test(lsha)) throw new ManifestError(`${at('listing.sha256')} is not a sha256`)
      listing = { file: lfile, bytes: count(l.bytes, at('listing.bytes')), sha256: lsha, entries: count(l.entries, at('listing.entries')) }
    }
    let tables: TableSum[] | undefined
    if (it.tables !== undefined) {
      if (!Array.isArray(it.tables)) throw new ManifestError(`${at('tables')} is not a list`)
      tables = it.tables.map((t, j): TableSum => {
        const o = obj(t, `${at('tables')}[${j}]`)
        const table = str(o.table, `${at('tables')}[${j}].table`)
        if (o.changed === true) return { table, changed: true }
        return { table, rows: count(o.rows, `${at('tables')}[${j}].rows`), checksum: str(o.checksum, `${at('tables')}[${j}].checksum`) }
      })
    }
    return {
      kind,
      engine: str(it.engine, at('engine')),
      name: str(it.name, at('name')),
      ...(it.alias !== undefined ? { alias: str(it.alias, at('alias')) } : {}),
      ...(it.container !== undefined ? { container: str(it.container, at('container')) } : {}),
      file,
      format: str(it.format, at('format')),
      compression: str(it.compression, at('compression')),
      bytes,
      sha256,
      toolVersion: str(it.toolVersion ?? '', at('toolVersion')),
      serverVersion: str(it.serverVersion ?? '', at('serverVersion')),
      durationMs: num(it.durationMs ?? 0, at('durationMs')),
      ...(it.tableSums !== undefined ? { tableSums: str(it.tableSums, at('tableSums')) } : {}),
      ...(tables ? { tables } : {}),
      ...(listing ? { listing } : {}),
    }
  })
  return {
    format,
    id,
    time,
    ...(label !== undefined ? { label } : {}),
    ...(release ? { release } : {}),
    host: str(m.host ?? '', 'host'),
    bytes: num(m.bytes, 'bytes'),
    durationMs: num(m.durationMs ?? 0, 'durationMs'),
    items,
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ManifestError(`${what} is not an object`)
  return v as Record<string, unknown>
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new ManifestError(`${what} is not a string`)
  return v
}
function count(v: unknown, what: string): number {
  const n = num(v, what)
  if (!Number.isSafeInteger(n) || n < 0) throw new ManifestError(`${what} is not a count`)
  return n
}
function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ManifestError(`${what} is not a number`)
  return v
}

/** `1.2 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`
}
