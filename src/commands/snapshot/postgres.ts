// PostgreSQL: pg_dump's custom format (compressed by pg_dump, restorable table by table
// with pg_restore), or the directory format with parallel jobs for large databases.
// The password reaches libpq as PGPASSWORD in pg_dump's environment; inside a
// container it is read from stdin, because `exec -e` through sudo would lose it.

import { cmd, lines, quote, type Shell } from '../shell'
import { pgTableSumsSql, tablesExtra } from './checksums'
import { addEstimate, inContainer, itemPath } from './runtime'
import type { DbTarget } from './types'

/** Connection options shared by pg_dump and psql (never a password). */
export function postgresConnection(db: DbTarget): string[] {
  return [
    '--no-password',
    ...(db.host ? ['--host', db.host] : []),
    ...(db.port ? ['--port', String(db.port)] : []),
    ...(db.user ? ['--username', db.user] : []),
    '--dbname',
    db.name,
  ]
}

/**
 * Run a libpq tool with the password from `db.passwordVar`: as PGPASSWORD on the host,
 * through stdin into the container.
 */
export function withPgPassword(db: DbTarget, words: string[]): Shell {
  if (!db.container) return `${db.passwordVar ? `PGPASSWORD="\${${db.passwordVar}-}" ` : ''}${cmd(...words)}`
  if (!db.passwordVar) return inContainer(db.container, false, cmd(...words))
  return `printf '%s\\n' "\${${db.passwordVar}-}" | ${inContainer(db.container, true, cmd('sh', '-c', 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec "$@"', 'sh', ...words))}`
}

/**
 * `pg_dump` into the snapshot: custom format, or a tar of the directory format.
 * `snapshotVar` names a variable holding an exported snapshot (see postgresCapture).
 */
export function postgresDump(db: DbTarget, file: string, snapshotVar?: string): Shell {
  const connection = postgresConnection(db)
  const snapshot = snapshotVar ? ` --snapshot "\${${snapshotVar}}"` : ''
  if (db.jobs > 1) {
    const dir = `"$snap_tmp"/${quote(`.${file}.d`)}`
    return lines(
      withPgPassword(db, ['pg_dump', '--format=directory', `--jobs=${db.jobs}`, ...connection]) + `${snapshot} --file ${dir}`,
      // One file per item keeps checksums and downloads simple; the directory format's
      // files are already compressed, so the tar is not.
      `tar -C ${dir} -cf ${itemPath(quote(file))} .`,
      `rm -rf -- ${dir}`,
    )
  }
  if (db.container) return `${withPgPassword(db, ['pg_dump', '--format=custom', ...connection])}${snapshot} > ${itemPath(quote(file))}`
  return `${withPgPassword(db, ['pg_dump', '--format=custom', ...connection])}${snapshot} --file ${itemPath(quote(file))}`
}

/**
 * psql reading SQL from its stdin, for a session the script holds open: the password as
 * PGPASSWORD on the host; in a container it is the first line of stdin, which the
 * caller writes before any SQL.
 */
export function psqlSession(db: DbTarget, extra: string[] = []): Shell {
  const words = ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...extra, ...postgresConnection(db)]
  if (!db.container) return `${db.passwordVar ? `PGPASSWORD="\${${db.passwordVar}-}" ` : ''}${cmd(...words)}`
  const read = db.passwordVar ? 'IFS= read -r PGPASSWORD; export PGPASSWORD; ' : ''
  return inContainer(db.container, true, cmd('sh', '-c', `${read}exec "$@"`, 'sh', ...words))
}

/**
 * The dump plus per-table row counts and checksums of exactly the data it holds: a
 * REPEATABLE READ transaction exports its snapshot, pg_dump dumps that snapshot, and
 * the checksums are computed in the same transaction, at the same time, so writes by
 * the running app cannot make the two disagree.
 */
export function postgresCapture(db: DbTarget, file: string, what: string): Shell {
  return lines(
    `coproc snap_pg { ${psqlSession(db)}; }`,
    // Bash forgets the coprocess's variables once it has ended; keep our own copies.
    '# shellcheck disable=SC2154',
    'snap_pg_pid=$snap_pg_PID',
    'snap_pg_in=${snap_pg[1]}; snap_pg_out=${snap_pg[0]}',
    db.container && db.passwordVar ? `printf '%s\n' "\${${db.passwordVar}-}" >&"$snap_pg_in"` : '',
    `printf '%s\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;' 'SELECT pg_export_snapshot();' >&"$snap_pg_in"`,
    `IFS= read -r snap_pg_snapshot <&"$snap_pg_out" || snap_fail ${quote(`could not open a transaction on ${what}`)}`,
    // The sums run in this session while pg_dump reads the same snapshot in its own:
    // two backends, one wall-clock pass. COMMIT only once pg_dump is done with it.
    `printf '%s\n' ${quote(pgTableSumsSql())} '\\echo slipway-tables-end' >&"$snap_pg_in"`,
    postgresDump(db, file, 'snap_pg_snapshot'),
    `printf '%s\n' 'COMMIT;' '\\q' >&"$snap_pg_in"`,
    'snap_pg_end=',
    `: > "$snap_work/tables"`,
    'while IFS= read -r snap_line <&"$snap_pg_out"; do if [ "$snap_line" = slipway-tables-end ]; then snap_pg_end=1; break; fi; printf \'%s\\n\' "$snap_line" >> "$snap_work/tables"; done',
    'wait "$snap_pg_pid" || true',
    `[ -n "$snap_pg_end" ] || snap_fail ${quote(`could not compute the table checksums of ${what}`)}`,
    tablesExtra(),
  )
}

/**
 * Connect once before anything is written: proves the credentials (a wrong password
 * fails here, naming the database), reads the server version and estimates the dump
 * from the size of the tables (indexes are not dumped).
 */
export function postgresProbe(db: DbTarget, what: string): Shell {
  const query =
    "select current_setting('server_version'), coalesce(sum(pg_table_size(c.oid)), 0) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema')"
  return lines(
    `if ! snap_out=$(${withPgPassword(db, ['psql', '-X', '-q', '-A', '-t', '-F', '|', ...postgresConnection(db), '-c', query])} 2>"$snap_work/err"); then`,
    `  snap_fail ${quote(`cannot connect to ${what}:`)} "$(snap_oneline "$snap_work/err")"`,
    'fi',
    'snap_server_version=${snap_out%%|*}',
    addEstimate(what, '${snap_out##*|}'),
  )
}

export function postgresToolVersion(db: DbTarget): Shell {
  return `$(${inContainer(db.container, false, 'pg_dump --version')} | snap_first_line)`
}
