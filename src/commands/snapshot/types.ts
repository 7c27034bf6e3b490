// A snapshot as the builders see it: every item resolved to a concrete engine, a file
// name and, for a database with a password, the name of the variable that holds the
// password on the server (never the password itself).

import type { Compression, ContainerCli } from '../../inputs/snapshot'

export type DbEngine = 'postgres' | 'mariadb' | 'mysql' | 'sqlite'

export interface DbTarget {
  engine: DbEngine
  /** Database name, or the absolute path of a SQLite file. */
  name: string
  host?: string
  port?: number
  user?: string
  /** Variable (exported in the script stream, or set from Django's settings) with the password. */
  passwordVar?: string
  container?: string
  /** PostgreSQL: >1 selects the directory format with parallel jobs. */
  jobs: number
  /** The settings.DATABASES alias, for databases read from Django. */
  alias?: string
}

export type PlannedItem =
  | { kind: 'database'; index: number; db: DbTarget }
  | { kind: 'volume'; index: number; volume: { kind: 'directory'; path: string } | { kind: 'container-volume'; name: string } }

export interface SnapshotPlan {
  /** `<root>/snapshots`. */
  dir: string
  label?: string
  release?: { id: string; sha: string }
  items: PlannedItem[]
  compression: Compression
  containerCli?: ContainerCli
  stopContainers: string[]
  /** Aliases whose passwords are read from Django's settings on the server, by variable. */
  djangoPasswords?: { root: string; projectDir: string; python: string; vars: Record<string, string> }
}
