// MariaDB and MySQL have no transactional DDL, so a restore cannot be one transaction.
// Instead the dump is loaded into a scratch database beside the live one first; a dump
// that is cut short or fails anywhere stops there, and the live database was never
// touched. Only a complete load is swapped in, by one RENAME TABLE statement that moves
// every live table out and every restored table in: MariaDB applies such a statement
// entirely or not at all. Tables the dump lacks leave with the old ones.
//
// Views, triggers, routines and events cannot be moved between databases by RENAME.
// When the dump or the live database has any, the dump (already proven to load) is
// loaded again into the emptied live database: not atomic, which the log says, and the
// safety snapshot taken before holds what was there.

import { mariadbClient, mariadbClientTool, mariadbConnection, mariadbTableSums } from '../snapshot/mariadb'
import type { DbTarget } from '../snapshot/types'
import { atExit } from '../script'
import { lines, quote, type Shell } from '../shell'

/** `name` as a MariaDB identifier. */
export function sqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``
}

/** `value` as a MariaDB string literal (backslashes are escapes there). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

function client(db: DbTarget, database: string): Shell {
  return mariadbClient(db, ['--batch', '--skip-column-names', '--raw', ...mariadbConnection(db), '--', database])
}

function run(db: DbTarget, sql: string, database = db.name): Shell {
  return `printf '%s\\n' ${quote(sql)} | ${client(db, database)}`
}

/** CREATE DATABASE `scratch` with the character set and collation of `db`. */
export function mariadbCreateScratch(db: DbTarget, scratch: string): string {
  return [
    `SET @s = (SELECT CONCAT('CREATE DATABASE ', ${sqlString(sqlIdent(scratch))}, ' CHARACTER SET ', default_character_set_name, ' COLLATE ', default_collation_name) FROM information_schema.schemata WHERE schema_name = ${sqlString(db.name)});`,
    'PREPARE s FROM @s; EXECUTE s; DEALLOCATE PREPARE s;',
  ].join('\n')
}

/** How many views, triggers, routines and events `a` and `b` have together. */
function otherObjects(a: string, b: string): string {
  const both = `IN (${sqlString(a)}, ${sqlString(b)})`
  return [
    `SELECT (SELECT COUNT(*) FROM information_schema.views WHERE table_schema ${both})`,
    `+ (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema ${both})`,
    `+ (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema ${both})`,
    `+ (SELECT COUNT(*) FROM information_schema.events WHERE event_schema ${both});`,
  ].join(' ')
}

/** One RENAME TABLE: live's tables to `old`, `fresh`'s tables to live. */
export function mariadbSwapSql(live: string, fresh: string, old: string): string {
  const q = (expr: string) => `CONCAT('\`', REPLACE(${expr}, '\`', '\`\`'), '\`')`
  const move = (from: string, to: string) => `SELECT CONCAT(${sqlString(sqlIdent(from))}, '.', ${q('table_name')}, ' TO ', ${sqlString(sqlIdent(to))}, '.', ${q('table_name')}) AS r, table_name FROM information_schema.tables WHERE table_schema = ${sqlString(from)} AND table_type = 'BASE TABLE'`
  return [
    'SET SESSION group_concat_max_len = 16777216;',
    `SET @r = (SELECT CONCAT('RENAME TABLE ', GROUP_CONCAT(r ORDER BY o, table_name SEPARATOR ', ')) FROM (SELECT 1 AS o, m.* FROM (${move(live, old)}) m UNION ALL SELECT 2, m.* FROM (${move(fresh, live)}) m) s);`,
    "SET @r = COALESCE(@r, 'DO 0');",
    'PREPARE r FROM @r; EXECUTE r; DEALLOCATE PREPARE r;',
  ].join('\n')
}

/** Statements that drop every table, view, routine and event of the current database. */
export const MARIADB_EMPTY_GENERATOR = [
  "SELECT CONCAT('DROP VIEW IF EXISTS `', REPLACE(table_name, '`', '``'), '`;') FROM information_schema.views WHERE table_schema = DATABASE()",
  "UNION ALL SELECT CONCAT('DROP TABLE IF EXISTS `', REPLACE(table_name, '`', '``'), '`;') FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
  "UNION ALL SELECT CONCAT('DROP ', routine_type, ' IF EXISTS `', REPLACE(routine_name, '`', '``'), '`;') FROM information_schema.routines WHERE routine_schema = DATABASE()",
  "UNION ALL SELECT CONCAT('DROP EVENT IF EXISTS `', REPLACE(event_name, '`', '``'), '`;') FROM information_schema.events WHERE event_schema = DATABASE();",
].join('\n')

/** Names of this run's scratch databases: within MariaDB's 64 characters. */
export function mariadbScratchName(name: string, purpose: 'new' | 'old' | 'drill', token: string): string {
  return `${name.slice(0, 40)}_slipway_${purpose}_${token}`
}

/**
 * A dump cut short between two statements loads without an error, as a smaller
 * database. mariadb-dump and mysqldump end every complete dump with this comment.
 */
export function mariadbDumpComplete(file: string, decompress: string[]): Shell {
  return `${decompress.map(quote).join(' ')} < ${quote(file)} | tail -n 1 | grep -q '^-- Dump completed' || snap_fail ${quote(`${file.split('/').pop()} is incomplete: it does not end with the '-- Dump completed' line that mariadb-dump writes last (cut short?); nothing was changed`)}`
}

/** Restore the (decompressed) dump into the live database: scratch load, then swap. */
export function mariadbRestore(db: DbTarget, file: string, decompress: string[], token: string): Shell {
  const fresh = mariadbScratchName(db.name, 'new', token)
  const old = mariadbScratchName(db.name, 'old', token)
  const load = (database: string) => `${decompress.map(quote).join(' ')} < ${quote(file)} | ${client(db, database)}`
  return lines(
    mariadbDumpComplete(file, decompress),
    mariadbClientTool(db),
    // Until the swap, `new` holds the restore and `old` nothing; after it, `new` is empty
    // and `old` holds what was live. Either way both go.
    atExit(run(db, `DROP DATABASE IF EXISTS ${sqlIdent(fresh)}; DROP DATABASE IF EXISTS ${sqlIdent(old)};`)),
    run(db, mariadbCreateScratch(db, fresh)),
    `snap_say ${quote(`loading the dump into scratch database ${fresh}`)}`,
    load(fresh),
    `rst_other=$(${run(db, otherObjects(db.name, fresh))})`,
    'if [ "$rst_other" = 0 ]; then',
    `  ${run(db, mariadbCreateScratch(db, old))}`,
    `  ${run(db, mariadbSwapSql(db.name, fresh, old))}`,
    `  snap_say ${quote(`swapped the restored tables into ${db.name} in one RENAME TABLE`)}`,
    'else',
    `  snap_say ${quote(`${db.name} has views, triggers, routines or events, which RENAME TABLE cannot move: the dump loaded cleanly into scratch, so it is now loaded into the emptied live database (not atomic; the safety snapshot holds the previous state)`)}`,
    `  { echo 'SET foreign_key_checks = 0;'; ${run(db, MARIADB_EMPTY_GENERATOR)}; } | ${client(db, db.name)}`,
    `  ${load(db.name)}`,
    'fi',
  )
}

/** Drill: load into a scratch database, print its table sums (JSON lines) into `out`, drop it. */
export function mariadbDrill(db: DbTarget, file: string, decompress: string[], token: string, out: Shell): Shell {
  const scratch = mariadbScratchName(db.name, 'drill', token)
  return lines(
    mariadbDumpComplete(file, decompress),
    mariadbClientTool(db),
    atExit(run(db, `DROP DATABASE IF EXISTS ${sqlIdent(scratch)};`)),
    run(db, mariadbCreateScratch(db, scratch)),
    `${decompress.map(quote).join(' ')} < ${quote(file)} | ${client(db, scratch)}`,
    mariadbTableSums(db, '"$snap_work/drill-sums"', scratch),
    `cut -f2 "$snap_work/drill-sums" > ${out}`,
    run(db, `DROP DATABASE IF EXISTS ${sqlIdent(scratch)};`),
  )
}
