// PostgreSQL: pg_dump's custom format (compressed by pg_dump, restorable table by table
// with pg_restore), or the directory format with parallel jobs for large databases.
// The password reaches libpq as PGPASSWORD in pg_dump's environment; inside a
// container it is read from stdin, because `exec -e` through sudo would lose it.

import { cmd, lines, quote, type Shell } from '../shell'
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

/** `pg_dump` into the snapshot: custom format, or a tar of the directory format. */
export function postgresDump(db: DbTarget, file: string): Shell {
  const connection = postgresConnection(db)
  if (db.jobs > 1) {
    const dir = `"$snap_tmp"/${quote(`.${file}.d`)}`
    return lines(
      withPgPassword(db, ['pg_dump', '--format=directory', `--jobs=${db.jobs}`, ...connection, '--file']) + ` ${dir}`,
      // One file per item keeps checksums and downloads simple; the directory format's
      // files are already compressed, so the tar is not.
      `tar -C ${dir} -cf ${itemPath(quote(file))} .`,
      `rm -rf -- ${dir}`,
    )
  }
  if (db.container) return `${withPgPassword(db, ['pg_dump', '--format=custom', ...connection])} > ${itemPath(quote(file))}`
  return `${withPgPassword(db, ['pg_dump', '--format=custom', ...connection, '--file'])} ${itemPath(quote(file))}`
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
