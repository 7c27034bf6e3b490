// Whole restore scripts, one per step: the checksum check, each database, all volumes
// together (their containers are stopped once), and each item of a drill. Every script
// starts the same way as a snapshot script (commands/snapshot/runtime.ts) and writes
// only its result lines to stdout; the log goes to stderr.

import { djangoPasswords } from '../snapshot/django'
import { mycnfFunction } from '../snapshot/mariadb'
import { chooseContainerCli, runtimeFunctions } from '../snapshot/runtime'
import type { DbTarget } from '../snapshot/types'
import type { RemoteScript } from '../script'
import { atExit } from '../script'
import { lines, quote, type Shell } from '../shell'
import { mariadbDrill, mariadbRestore } from './mariadb'
import { postgresCreateScratch, postgresDropScratch, postgresRestore, postgresTableSums } from './postgres'
import { sqliteDrill, sqliteRestore } from './sqlite'
import type { RestoreItem, RestorePlan } from './types'
import { volumeDrill, volumeRestoreScript, type VolumeRestoreItem } from './volume'

/** The command that undoes an item's compression, from the manifest's word for it. */
export function decompressCommand(compression: string): string[] {
  switch (compression) {
    case 'zstd':
      return ['zstd', '-q', '-dc']
    case 'gzip':
      return ['gzip', '-dc']
    case 'none':
      return ['cat']
    default:
      throw new Error(`compression '${compression}' is not one slipway can undo`)
  }
}

/** Names of this run's scratch PostgreSQL databases: within the 63-byte limit. */
export function postgresScratchName(name: string, token: string): string {
  return `${name.slice(0, 40)}_slipway_drill_${token}`
}

function preamble(plan: RestorePlan, items: RestoreItem[], extraContainers: string[] = []): Shell {
  const containers = [...new Set([...items.flatMap(i => (i.target.kind === 'database' && i.target.db.container ? [i.target.db.container] : [])), ...extraContainers])]
  const volumes = items.flatMap(i => (i.target.kind === 'volume' && i.target.volume.kind === 'container-volume' ? [i.target.volume.name] : []))
  const dbs = items.flatMap(i => (i.target.kind === 'database' ? [i.target.db] : []))
  const django = plan.djangoPasswords && dbs.some(d => d.passwordVar && Object.values(plan.djangoPasswords!.vars).includes(d.passwordVar))
  return lines(
    'umask 077',
    // fd 3 is the step's stdout, for result lines alone.
    'exec 3>&1 1>&2',
    runtimeFunctions(),
    mycnfFunction(),
    'snap_current=restore',
    // The runtime functions are shared with snapshots; these are theirs, unused here.
    'snap_extra=; snap_tmp=; snap_total=0; snap_compress_version=',
    'snap_work=$(mktemp -d)',
    atExit('rm -rf -- "$snap_work"'),
    containers.length || volumes.length ? chooseContainerCli(plan.containerCli, containers, volumes) : '',
    django ? djangoPasswords(plan.djangoPasswords!.root, plan.djangoPasswords!.projectDir, plan.djangoPasswords!.python, plan.djangoPasswords!.vars) : '',
  )
}

function decompress(item: RestoreItem): string[] {
  return decompressCommand(item.item.compression)
}

export function describeTarget(item: RestoreItem): string {
  const t = item.target
  if (t.kind === 'volume') return t.volume.kind === 'directory' ? `directory ${t.volume.path}` : `container volume ${t.volume.name}`
  const kind = t.db.engine === 'sqlite' ? 'SQLite database' : `${t.db.engine} database`
  return `${kind} '${t.db.name}'${t.db.container ? ` in container ${t.db.container}` : ''}`
}

/** Restore one database in place. Prints `restored <file>`. */
export function databaseRestoreScript(plan: RestorePlan, item: RestoreItem, env: Record<string, string>): RemoteScript {
  if (item.target.kind !== 'database') throw new Error('not a database item')
  const db = item.target.db
  const body = (() => {
    switch (db.engine) {
      case 'postgres':
        return postgresRestore(db, item.path, item.item.format)
      case 'sqlite':
        return sqliteRestore(db.name, item.path, decompress(item), plan.id)
      default:
        return mariadbRestore(db, item.path, decompress(item), plan.token)
    }
  })()
  return {
    step: `restore ${describeTarget(item)}`,
    body: lines(preamble(plan, [item]), body, `printf 'restored %s\\n' ${quote(item.item.file)} >&3`),
    env,
    strict: true,
  }
}

/** All volumes in one script: containers are stopped once, and swaps are all or nothing. */
export function volumesRestoreScript(plan: RestorePlan, items: RestoreItem[]): RemoteScript {
  const volumes: VolumeRestoreItem[] = items.map(i => {
    if (i.target.kind !== 'volume') throw new Error('not a volume item')
    return { volume: i.target.volume, file: i.path, decompress: decompress(i) }
  })
  return {
    step: 'restore volumes',
    body: lines(
      preamble(plan, items, plan.stopContainers),
      volumeRestoreScript(volumes, plan.stopContainers, plan.id),
      ...items.map(i => `printf 'restored %s\\n' ${quote(i.item.file)} >&3`),
    ),
    strict: true,
  }
}

/**
 * A drill of one item: restored into scratch (a database named `<name>_slipway_drill_<token>`,
 * a directory in the work directory), measured, and removed, also when it fails.
 * Prints `table <JSON>` lines for databases, `listing <verdict> <entries>` for volumes.
 */
export function drillScript(plan: RestorePlan, item: RestoreItem, env: Record<string, string>): RemoteScript {
  const out = '"$snap_work/drill-tables"'
  let body: Shell
  if (item.target.kind === 'volume') {
    body = volumeDrill({ volume: item.target.volume, file: item.path, decompress: decompress(item) }, item.listingPath)
  } else {
    const db = item.target.db
    const emit = `sed 's/^/table /' ${out} >&3`
    if (db.engine === 'postgres') {
      const scratch = postgresScratchName(db.name, plan.token)
      const inScratch: DbTarget = { ...db, name: scratch }
      body = lines(
        atExit(postgresDropScratch(db, scratch)),
        postgresCreateScratch(db, scratch),
        postgresRestore(inScratch, item.path, item.item.format),
        postgresTableSums(inScratch, out),
        postgresDropScratch(db, scratch),
        emit,
      )
    } else if (db.engine === 'sqlite') {
      body = lines(sqliteDrill(item.path, decompress(item), out), emit)
    } else {
      body = lines(mariadbDrill(db, item.path, decompress(item), plan.token, out), emit)
    }
  }
  return { step: `drill ${describeTarget(item)}`, body: lines(preamble(plan, [item]), body), env, strict: true }
}
