// MariaDB and MySQL: mariadb-dump or mysqldump in one consistent transaction, with
// routines, triggers and events. The password goes in an option file read from stdin
// (--defaults-extra-file=/dev/stdin): it never touches a disk or a command line, and
// works the same inside a container.

import { cmd, lines, quote, type Shell } from '../shell'
import { mariadbTableSumsGenerator, tablesExtra } from './checksums'
import { addEstimate, inContainer, itemPath } from './runtime'
import type { DbTarget } from './types'

export const DUMP_OPTIONS = ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--no-tablespaces', '--default-character-set=utf8mb4']

/** Which client and dump tool, most specific first. */
export function mariadbTools(db: DbTarget): { dump: string[]; client: string[] } {
  return db.engine === 'mysql' ? { dump: ['mysqldump', 'mariadb-dump'], client: ['mysql', 'mariadb'] } : { dump: ['mariadb-dump', 'mysqldump'], client: ['mariadb', 'mysql'] }
}

export function mariadbConnection(db: DbTarget): string[] {
  return [
    ...(db.host?.startsWith('/') ? ['--socket', db.host] : db.host ? ['--host', db.host] : []),
    ...(db.port ? ['--port', String(db.port)] : []),
    ...(db.user ? ['--user', db.user] : []),
  ]
}

/**
 * `tool args...` with the password option file on stdin. `tools` are alternatives
 * (mariadb-dump, mysqldump): on the host the first installed was chosen into a
 * variable; in a container the choice is made there.
 */
function withMyPassword(db: DbTarget, tools: string[], args: string[]): Shell {
  const extra = db.passwordVar ? ['--defaults-extra-file=/dev/stdin'] : []
  const feed = db.passwordVar ? `snap_mycnf "\${${db.passwordVar}-}" | ` : ''
  if (!db.container) return `${feed}"$snap_my_tool" ${cmd(...extra, ...args)}`
  const pick = `for t in ${tools.join(' ')}; do if command -v "$t" >/dev/null 2>&1; then exec "$t" ${extra.join(' ')} "$@"; fi; done; echo "none of ${tools.join(', ')} in the container" >&2; exit 127`
  return `${feed}${inContainer(db.container, Boolean(db.passwordVar), cmd('sh', '-c', pick, 'sh', ...args))}`
}

/** The option file: the value quoted so that `#`, `;` and spaces survive. */
export function mycnfFunction(): Shell {
  return `snap_mycnf() { local p=$1; p=\${p//\\\\/\\\\\\\\}; p=\${p//\\"/\\\\\\"}; printf '[client]\\npassword="%s"\\n' "$p"; }`
}

export function mariadbDump(db: DbTarget, file: string): Shell {
  const tools = mariadbTools(db)
  return lines(
    db.container ? '' : `snap_my_tool=$(snap_tool ${tools.dump.join(' ')})`,
    `${withMyPassword(db, tools.dump, [...DUMP_OPTIONS, ...mariadbConnection(db), '--', db.name])} | "\${snap_compress[@]}" > ${itemPath(`${quote(file)}"$snap_ext"`)}`,
  )
}

export function mariadbProbe(db: DbTarget, what: string): Shell {
  const tools = mariadbTools(db)
  const query = 'select version(), coalesce(sum(data_length), 0) from information_schema.tables where table_schema = database()'
  return lines(
    db.container ? '' : `snap_my_tool=$(snap_tool ${tools.client.join(' ')})`,
    `if ! snap_out=$(${withMyPassword(db, tools.client, ['--batch', '--skip-column-names', ...mariadbConnection(db), '--execute', query, '--', db.name])} 2>"$snap_work/err"); then`,
    `  snap_fail ${quote(`cannot connect to ${what}:`)} "$(snap_oneline "$snap_work/err")"`,
    'fi',
    "snap_server_version=${snap_out%%$'\\t'*}",
    addEstimate(what, "${snap_out##*$'\\t'}"),
  )
}

export function mariadbToolVersion(db: DbTarget): Shell {
  const tools = mariadbTools(db).dump
  if (!db.container) return `$("$(snap_tool ${tools.join(' ')})" --version | snap_first_line)`
  return `$(${inContainer(db.container, false, cmd('sh', '-c', `for t in ${tools.join(' ')}; do command -v "$t" >/dev/null 2>&1 && exec "$t" --version; done`))} | snap_first_line)`
}

/** Sets snap_my_client on the host (in a container the client is chosen there). */
export function mariadbClientTool(db: DbTarget): Shell {
  return db.container ? '' : `snap_my_client=$(snap_tool ${mariadbTools(db).client.join(' ')})`
}

/**
 * The client reading SQL from stdin. stdin is taken, so the password travels another
 * way: on the host an option file on fd 4 (a pipe from snap_mycnf, never a file or an
 * argument); in a container the first line of stdin, read into MYSQL_PWD there.
 */
export function mariadbClient(db: DbTarget, args: string[]): Shell {
  const tools = mariadbTools(db).client
  if (!db.container) {
    if (!db.passwordVar) return `"$snap_my_client" ${cmd(...args)}`
    return `"$snap_my_client" --defaults-extra-file=/dev/fd/4 ${cmd(...args)} 4< <(snap_mycnf "\${${db.passwordVar}-}")`
  }
  const read = db.passwordVar ? 'IFS= read -r MYSQL_PWD; export MYSQL_PWD; ' : ''
  const pick = `${read}for t in ${tools.join(' ')}; do if command -v "$t" >/dev/null 2>&1; then exec "$t" "$@"; fi; done; echo "none of ${tools.join(', ')} in the container" >&2; exit 127`
  const feed = db.passwordVar ? `{ printf '%s\\n' "\${${db.passwordVar}-}"; cat; } | ` : ''
  return `${feed}${inContainer(db.container, true, cmd('sh', '-c', pick, 'sh', ...args))}`
}

/** Table sums of database `name` (default: the item's) as lines `<hex name>\t<JSON>\t<changed JSON>` into `out`. */
export function mariadbTableSums(db: DbTarget, out: Shell, name = db.name): Shell {
  const client = mariadbClient(db, ['--batch', '--skip-column-names', '--raw', ...mariadbConnection(db), '--', name])
  return lines(`printf '%s\\n' ${quote(mariadbTableSumsGenerator())} | ${client} > "$snap_work/sums.sql"`, `cat -- "$snap_work/sums.sql" | ${client} > ${out}`)
}

/**
 * MariaDB cannot share mariadb-dump's snapshot with another session, so the sums are
 * taken before and after the dump: a table whose sums agree was not written to while
 * the dump ran, so the dump holds exactly those rows. A table that moved is recorded as
 * `changed` and a drill does not compare its rows.
 */
export function mariadbCapture(db: DbTarget, file: string): Shell {
  return lines(
    mariadbClientTool(db),
    mariadbTableSums(db, '"$snap_work/sums-before"'),
    mariadbDump(db, file),
    mariadbTableSums(db, '"$snap_work/sums-after"'),
    `awk -F '\\t' 'NR == FNR { before[$1] = $2; next } { print (($1 in before) && before[$1] == $2) ? $2 : $3 }' "$snap_work/sums-before" "$snap_work/sums-after" > "$snap_work/tables"`,
    tablesExtra(),
  )
}
