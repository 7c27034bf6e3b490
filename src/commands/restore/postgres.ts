// PostgreSQL: the whole restore is one transaction. pg_restore turns the dump into SQL,
// which psql runs after a prelude that empties the database's schemas, so the result is
// exactly the dump, whatever the live database gained or lost since (a table added by a
// later migration is gone afterwards, a dropped one is back), and either all of it
// happens or none of it does.
//
// psql commits at the end of its input when nothing failed, so a dump cut short would
// commit half a database: COMMIT is sent only after pg_restore has succeeded, and when
// it fails an error is raised instead, which rolls everything back and makes psql exit
// non-zero (ON_ERROR_STOP) with pg_restore's own error above it in the log.

import { pgTableSumsSql } from '../snapshot/checksums'
import { postgresConnection, psqlSession } from '../snapshot/postgres'
import { inContainer } from '../snapshot/runtime'
import type { DbTarget } from '../snapshot/types'
import { cmd, lines, quote, type Shell } from '../shell'

/**
 * Empties the database inside the transaction: every schema but public is dropped (the
 * dump creates it again); in public, the objects are dropped and the schema itself keeps
 * its owner and grants. Objects that belong to extensions stay (the dump says CREATE
 * EXTENSION IF NOT EXISTS). Whatever the user may not drop fails the transaction, and
 * nothing changes.
 */
export const PG_EMPTY_SQL = `BEGIN;
SET LOCAL client_min_messages = warning;
DO $slipway$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_namespace n
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname !~ '^pg_'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,
                  format('%I.%I', n.nspname, c.relname) AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END AS kind, p.oid::regprocedure::text AS name
           FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN SELECT format('%I.%I', 'public', t.typname) AS name FROM pg_type t
           WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r') AND t.typcategory <> 'A'
             AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.name);
  END LOOP;
  PERFORM lo_unlink(l.oid) FROM pg_largeobject_metadata l;
END
$slipway$;
SET LOCAL client_min_messages = notice;`

/** What psql gets instead of COMMIT when pg_restore failed. */
export const PG_ABORT_SQL = `DO $slipway$ BEGIN RAISE EXCEPTION 'slipway: pg_restore failed (its error is above); the transaction was rolled back and the database is unchanged'; END $slipway$;`

export const PG_RESTORE = ['pg_restore', '--no-owner', '--exit-on-error', '--file=-']

/**
 * Restore the dump at `file` into `db` (the live database, or a scratch one in a drill)
 * in one transaction. `format` is the manifest's: custom, or a tar of the directory
 * format (extracted into the script's work directory first; host only).
 */
export function postgresRestore(db: DbTarget, file: string, format: string): Shell {
  const apply = (input: Shell) => `{ printf '%s\\n' ${quote(PG_EMPTY_SQL)}; if ${input}; then printf 'COMMIT;\\n'; else printf '%s\\n' ${quote(PG_ABORT_SQL)}; fi; } | ${psqlSession(db)}`
  if (format === 'pg_dump directory (tar)') {
    return lines('rm -rf -- "$snap_work/pgdir"', 'mkdir -- "$snap_work/pgdir"', `tar -xf ${quote(file)} -C "$snap_work/pgdir"`, apply(`${cmd(...PG_RESTORE)} -- "$snap_work/pgdir"`), 'rm -rf -- "$snap_work/pgdir"')
  }
  if (!db.container) return apply(`${cmd(...PG_RESTORE)} -- ${quote(file)}`)
  // In the container, pg_restore reads the dump from stdin (after the password line).
  const read = db.passwordVar ? 'IFS= read -r PGPASSWORD; export PGPASSWORD; ' : ''
  const inner = `${read}{ printf '%s\\n' "$1"; if ${PG_RESTORE.join(' ')}; then echo 'COMMIT;'; else printf '%s\\n' "$2"; fi; } | { shift 2; exec psql "$@"; }`
  const feed = db.passwordVar ? `{ printf '%s\\n' "\${${db.passwordVar}-}"; cat -- ${quote(file)}; }` : `cat -- ${quote(file)}`
  return `${feed} | ${inContainer(db.container, true, cmd('sh', '-c', inner, 'sh', PG_EMPTY_SQL, PG_ABORT_SQL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...postgresConnection(db)))}`
}

/** SQL on stdin to psql, with the password handled as psqlSession does. */
export function psqlInput(db: DbTarget, sql: Shell, extra: string[] = []): Shell {
  const feed = db.container && db.passwordVar ? `printf '%s\\n' "\${${db.passwordVar}-}"; ` : ''
  return `{ ${feed}printf '%s\\n' ${sql}; } | ${psqlSession(db, extra)}`
}

/**
 * A scratch database beside `db` with its encoding and locale, created through a
 * connection to `db` itself (the user may connect to nothing else).
 */
export function postgresCreateScratch(db: DbTarget, scratch: string): Shell {
  const sql = `SELECT format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L', :'scratch', pg_encoding_to_char(encoding), datcollate, datctype) FROM pg_database WHERE datname = current_database() \\gexec`
  return psqlInput(db, quote(sql), ['-v', `scratch=${scratch}`])
}

export function postgresDropScratch(db: DbTarget, scratch: string): Shell {
  return psqlInput(db, quote(`DROP DATABASE IF EXISTS "${scratch.replace(/"/g, '""')}" WITH (FORCE);`))
}

/** Per-table sums of `db` as JSON lines into `out`, computed as the snapshot computed them. */
export function postgresTableSums(db: DbTarget, out: Shell): Shell {
  return `${psqlInput(db, quote(pgTableSumsSql()))} > ${out}`
}
