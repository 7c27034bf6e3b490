// The whole snapshot as one remote script, one round trip:
//
//   prepare    snapshots/ (0700), leftovers of interrupted runs removed, id chosen
//   probe      tools present, container CLI found, every database connected to (a wrong
//              password fails here, before anything is written), sizes estimated
//   check      enough free space for the estimate, or fail with the numbers
//   capture    databases first (online, consistent dumps), then volumes with the
//              stop-containers stopped; they are started again right after, and by the
//              EXIT trap on any failure
//   finalise   manifest.json, fsync, rename snapshots/.tmp-<id> to snapshots/<id>
//
// Until the rename nothing is a snapshot; on any failure (including TERM from the app
// lock's guardian when the runner vanished) the trap removes the temporary directory.
// Stdout carries only the manifest; everything else goes to the log on stderr.

import { lines, quote, type Shell } from '../shell'
import { MANIFEST_FORMAT } from '../../snapshot/manifest'
import type { RemoteScript } from '../script'
import { djangoPasswords } from './django'
import { listingFileName, listingFunction, listRecordFunction } from './checksums'
import { mariadbCapture, mariadbProbe, mariadbToolVersion, mycnfFunction } from './mariadb'
import { postgresCapture, postgresProbe, postgresToolVersion } from './postgres'
import { chooseCompression, chooseContainerCli, containerStopStart, freeSpaceCheck, runtimeFunctions } from './runtime'
import { sqliteDump, sqliteProbe, sqliteToolVersion } from './sqlite'
import type { DbTarget, PlannedItem, SnapshotPlan } from './types'
import { containerVolumeArchive, containerVolumeProbe, directoryArchive, directoryProbe, volumeToolVersion } from './volume'

/** How an item is named in the log and in errors: `postgres database 'app'`. */
export function describeItem(item: PlannedItem): string {
  if (item.kind === 'volume') return item.volume.kind === 'directory' ? `directory ${item.volume.path}` : `container volume ${item.volume.name}`
  const db = item.db
  const where = [db.alias ? `Django alias ${db.alias}` : '', db.container ? `in container ${db.container}` : '', db.host ? `on ${db.host}${db.port ? `:${db.port}` : ''}` : '', db.user ? `as ${db.user}` : '']
    .filter(Boolean)
    .join(', ')
  const kind = db.engine === 'sqlite' ? 'SQLite database' : `${db.engine} database`
  return `${kind} '${db.name}'${where ? ` (${where})` : ''}`
}

/** File name of an item before the compression suffix the server adds. */
export function itemFileBase(item: PlannedItem): string {
  const n = String(item.index).padStart(2, '0')
  const source = item.kind === 'database' ? item.db.name : item.volume.kind === 'directory' ? item.volume.path : item.volume.name
  const tail = source.split('/').filter(Boolean).pop() ?? 'root'
  const slug = (item.kind === 'database' && item.db.engine === 'sqlite' ? tail.replace(/\.(sqlite3?|db)$/i, '') : tail).replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40) || 'item'
  if (item.kind === 'volume') return `${n}-volume-${slug}.tar`
  switch (item.db.engine) {
    case 'postgres':
      return `${n}-postgres-${slug}.${item.db.jobs > 1 ? 'pgdir.tar' : 'pgdump'}`
    case 'sqlite':
      return `${n}-sqlite-${slug}.sqlite3`
    default:
      return `${n}-${item.db.engine}-${slug}.sql`
  }
}

/** The fixed part of an item's manifest entry, as JSON without the closing brace. */
function itemJsonPrefix(item: PlannedItem): string {
  const fields =
    item.kind === 'database'
      ? { kind: 'database', engine: item.db.engine, name: item.db.name, ...(item.db.alias ? { alias: item.db.alias } : {}), ...(item.db.container ? { container: item.db.container } : {}) }
      : { kind: 'volume', engine: item.volume.kind, name: item.volume.kind === 'directory' ? item.volume.path : `volume:${item.volume.name}` }
  return JSON.stringify(fields).slice(0, -1)
}

function dbFormat(db: DbTarget): string {
  if (db.engine === 'postgres') return db.jobs > 1 ? 'pg_dump directory (tar)' : 'pg_dump custom'
  if (db.engine === 'sqlite') return 'sqlite3 .backup'
  return 'sql'
}

function probe(item: PlannedItem): Shell {
  const what = describeItem(item)
  if (item.kind === 'volume') return item.volume.kind === 'directory' ? directoryProbe(item.volume.path, what) : containerVolumeProbe(item.volume.name, what)
  switch (item.db.engine) {
    case 'postgres':
      return postgresProbe(item.db, what)
    case 'sqlite':
      return sqliteProbe(item.db, what)
    default:
      return mariadbProbe(item.db, what)
  }
}

/** Dump one item into the temporary directory and append its manifest entry. */
function capture(item: PlannedItem): Shell {
  const base = itemFileBase(item)
  const what = describeItem(item)
  const record = (format: Shell, file: Shell, compression: Shell, tool: Shell, server: Shell) =>
    `snap_record ${quote(itemJsonPrefix(item))} ${format} ${file} ${compression} "${tool}" ${server} "$snap_t0"`
  const compressed = `${quote(base)}"$snap_ext"`
  const start = lines(`snap_step ${quote(`${item.kind === 'database' ? 'dump' : 'archive'} ${what}`)}`, 'snap_t0=$(snap_ms)')
  if (item.kind === 'volume') {
    const listing = `snap_list_record ${compressed} ${quote(listingFileName(base))}`
    if (item.volume.kind === 'directory') {
      return lines(start, directoryArchive(item.volume.path, base), listing, record('tar', compressed, '"$snap_compression"', volumeToolVersion('directory'), "''"))
    }
    return lines(start, containerVolumeArchive(item.volume.name, base), listing, record('"$snap_volume_format"', compressed, '"$snap_compression"', volumeToolVersion('container-volume'), "''"))
  }
  const db = item.db
  const server = `"$snap_server_version_${item.index}"`
  switch (db.engine) {
    case 'postgres':
      // pg_dump compresses its own formats.
      return lines(start, postgresCapture(db, base, what), record(quote(dbFormat(db)), quote(base), 'none', postgresToolVersion(db), server))
    case 'sqlite':
      return lines(start, sqliteDump(db, base), record(quote(dbFormat(db)), compressed, '"$snap_compression"', sqliteToolVersion(), "''"))
    default:
      return lines(start, mariadbCapture(db, base), record(quote(dbFormat(db)), compressed, '"$snap_compression"', mariadbToolVersion(db), server))
  }
}

/** The manifest's fixed fields (label, release) as JSON members, or ''. */
function contextJson(plan: SnapshotPlan): string {
  const ctx = { ...(plan.label ? { label: plan.label } : {}), ...(plan.release ? { release: plan.release } : {}) }
  return Object.keys(ctx).length ? `,${JSON.stringify(ctx).slice(1, -1)}` : ''
}

export function snapshotScript(plan: SnapshotPlan, env: Record<string, string> = {}): RemoteScript {
  const containers = [...new Set([...plan.items.flatMap(i => (i.kind === 'database' && i.db.container ? [i.db.container] : [])), ...plan.stopContainers])]
  const volumes = plan.items.flatMap(i => (i.kind === 'volume' && i.volume.kind === 'container-volume' ? [i.volume.name] : []))
  const needsCli = containers.length > 0 || volumes.length > 0
  const databases = plan.items.filter(i => i.kind === 'database')
  const volumeItems = plan.items.filter(i => i.kind === 'volume')
  const stopping = plan.stopContainers.length > 0 && volumeItems.length > 0

  const body = lines(
    'umask 077',
    // fd 3 is the step's stdout, for the manifest alone.
    'exec 3>&1 1>&2',
    runtimeFunctions(),
    mycnfFunction(),
    volumeItems.length ? lines(listingFunction(), listRecordFunction()) : '',
    'snap_extra=',
    `snap_dir=${quote(plan.dir)}`,
    `snap_label=${quote(plan.label ?? '')}`,
    'snap_current=prepare',
    'snap_work=$(mktemp -d)',
    'snap_tmp=',
    'snap_done=',
    'snap_stopped=()',
    'snap_start_containers() { :; }',
    stopping ? containerStopStart(plan.stopContainers) : '',
    // Chain to an EXIT trap set before us (the app lock registers work that way).
    'eval "set -- $(trap -p EXIT)"; snap_prev_exit=${3:-}',
    'snap_cleanup() {',
    '  local rc=$?',
    '  snap_start_containers || true',
    '  if [ -z "$snap_done" ] && [ -n "$snap_tmp" ] && [ -d "$snap_tmp" ]; then rm -rf -- "$snap_tmp"; snap_say "removed the incomplete snapshot"; fi',
    '  rm -rf -- "$snap_work"',
    '  if [ "$rc" -ne 0 ]; then snap_say "snapshot failed while: $snap_current"; fi',
    '  eval "$snap_prev_exit"',
    '}',
    "trap 'snap_cleanup' EXIT",
    "trap 'exit 143' TERM HUP INT",
    'mkdir -p -- "$snap_dir"',
    'chmod 0700 -- "$snap_dir"',
    // An app run from a git working tree (strategy: in-place) must not see its
    // snapshots as untracked files.
    'snap_git=$(dirname -- "$snap_dir")/.git',
    'if [ -d "$snap_git/info" ] && ! grep -qxF /snapshots "$snap_git/info/exclude" 2>/dev/null; then echo /snapshots >> "$snap_git/info/exclude"; fi',
    // We hold the app lock: anything temporary in here is left from a run that died.
    'for d in "$snap_dir"/.tmp-* "$snap_dir"/.deleting-*; do [ -e "$d" ] || continue; snap_say "removing ${d##*/}, left by an interrupted run"; rm -rf -- "$d"; done',
    'snap_epoch=$(date -u +%s)',
    'snap_id=$(date -u -d "@$snap_epoch" +%Y%m%dT%H%M%SZ)${snap_label:+-$snap_label}',
    // Two snapshots within one second: wait for the next one rather than collide.
    'while [ -e "$snap_dir/$snap_id" ]; do sleep 1; snap_epoch=$(date -u +%s); snap_id=$(date -u -d "@$snap_epoch" +%Y%m%dT%H%M%SZ)${snap_label:+-$snap_label}; done',
    'snap_time=$(date -u -d "@$snap_epoch" +%Y-%m-%dT%H:%M:%SZ)',
    'snap_started=$(snap_ms)',
    'snap_total=0',
    'snap_need=0',
    'snap_sizes=',
    ': > "$snap_work/items"',
    'snap_say "snapshot $snap_id"',

    'snap_current="check tools"',
    chooseCompression(plan.compression),
    databases.some(i => i.db.engine === 'postgres' && !i.db.container) ? 'snap_tool pg_dump >/dev/null; snap_tool psql >/dev/null' : '',
    databases.some(i => i.db.engine === 'sqlite') ? 'snap_tool sqlite3 >/dev/null' : '',
    volumeItems.some(i => i.volume.kind === 'directory') ? 'snap_tool tar >/dev/null' : '',
    needsCli ? chooseContainerCli(plan.containerCli, containers, volumes) : '',
    plan.djangoPasswords
      ? lines('snap_current="read database passwords from Django settings"', djangoPasswords(plan.djangoPasswords.root, plan.djangoPasswords.projectDir, plan.djangoPasswords.python, plan.djangoPasswords.vars))
      : '',

    'snap_current="connect and estimate sizes"',
    ...plan.items.map(item => lines(probe(item), item.kind === 'database' ? `snap_server_version_${item.index}=$snap_server_version` : '')),
    'snap_current="check free space"',
    freeSpaceCheck(),

    'snap_tmp="$snap_dir/.tmp-$snap_id"',
    'mkdir -- "$snap_tmp"',
    ...databases.map(capture),
    stopping && volumeItems.length ? lines('snap_current="stop containers"', 'snap_stop_containers') : '',
    ...volumeItems.map(capture),
    // A container that does not come back is reported, after the snapshot is kept: the
    // data is good, and the user needs both facts.
    stopping ? lines('snap_current="start containers again"', 'snap_restart_failed=', 'snap_start_containers || snap_restart_failed=1') : '',

    'snap_current=finalise',
    '{',
    `  printf '{"format":${MANIFEST_FORMAT},"id":"%s","time":"%s"%s,"host":"%s","bytes":%s,"durationMs":%s,"items":[' "$snap_id" "$snap_time" ${quote(contextJson(plan))} "$(snap_json "\${HOSTNAME:-}")" "$snap_total" "$(( $(snap_ms) - snap_started ))"`,
    '  printf \'%s\' "$(paste -sd, "$snap_work/items")"',
    "  printf ']}\\n'",
    '} > "$snap_tmp/manifest.json"',
    // Durable before it becomes visible: a crash after the rename must not leave a
    // snapshot whose files are still in the page cache only.
    'sync -- "$snap_tmp"/* "$snap_tmp"',
    'mv -T -- "$snap_tmp" "$snap_dir/$snap_id"',
    'snap_done=1',
    'sync -- "$snap_dir"',
    'snap_say "snapshot $snap_id complete: $(snap_human "$snap_total") in $snap_dir/$snap_id"',
    'cat -- "$snap_dir/$snap_id/manifest.json" >&3',
    stopping ? 'if [ -n "$snap_restart_failed" ]; then snap_current="start containers again"; snap_fail "snapshot $snap_id is complete, but a stopped container could not be started again (see above)"; fi' : '',
  )
  return { step: 'snapshot', body, env, strict: true }
}

