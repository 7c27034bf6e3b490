// Per-table row counts and checksums, and file listings of archives: recorded in the
// manifest when a snapshot is taken, and computed again by a restore drill on what it
// restored into scratch, so the drill proves the data, not just the bytes of the dump.
//
// Each checksum is computed by the database itself, the same way both times:
//   row hash   PostgreSQL: hashtextextended(t::text, 0), a 64-bit hash three times
//              cheaper than md5 on large tables (PostgreSQL 11 and later; older servers
//              record no sums); MariaDB: md5 of the hex of every column cast to binary,
//              NULL as N; SQLite: sha3 of the rows
//   table sum  sums of the row hashes (PostgreSQL: one exact numeric sum; elsewhere two
//              sums of 60-bit slices): independent of row order (no ORDER BY, no memory
//              per row) and of the physical layout, but any changed, added or removed row
//              changes it.
// Values come from information_schema/pg_catalog, never from our inputs, and are quoted
// by the database's own quote functions when they become SQL.

import { bash, type Shell } from './runtime'

/** Recorded in the manifest with the sums; a drill compares only sums of the same method. */
export const TABLE_SUM_METHOD = 'slipway-rows-2'

/** Session settings that make PostgreSQL's text output of a row the same in every session. */
export const PG_SUM_SETTINGS = [
  "SET TimeZone = 'UTC';",
  "SET DateStyle = 'ISO, YMD';",
  "SET IntervalStyle = 'postgres';",
  'SET extra_float_digits = 1;',
  "SET bytea_output = 'hex';",
].join(' ')

/**
 * psql input: one query per table (\gexec), each printing one JSON object. Tables that
 * belong to an extension are left out: pg_dump does not dump their rows.
 */
export function pgTableSumsSql(): string {
  return [
    PG_SUM_SETTINGS,
    'SELECT format($q$SELECT json_build_object(\'table\', %L, \'rows\', count(*), \'checksum\', coalesce(sum(hashtextextended(t::text, 0)), 0)::text) FROM %I.%I AS t$q$, n.nspname || \'.\' || c.relname, n.nspname, c.relname)',
    'FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace',
    "WHERE current_setting('server_version_num')::int >= 110000",
    "AND c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'",
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
    'ORDER BY n.nspname, c.relname',
    '\\gexec',
  ].join('\n')
}

/**
 * MariaDB/MySQL: a query that writes one SELECT per base table of the current database.
 * Each SELECT prints `<hex name>\t<sum JSON>\t<"changed" JSON>`: the snapshot compares
 * sums taken before and after the dump and keeps only those that did not move.
 */
export function mariadbTableSumsGenerator(): string {
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`
  const half = (from: number) => `COALESCE(SUM(CAST(CONV(SUBSTR(h, ${from}, 15), 16, 10) AS DECIMAL(20))), 0)`
  const column = `CONCAT(${lit('COALESCE(HEX(CAST(`')}, REPLACE(c.column_name, '\`', '\`\`'), ${lit('` AS BINARY)), ')}, ${lit("'N')")})`
  return [
    'SET SESSION group_concat_max_len = 16777216;',
    'SELECT CONCAT(',
    `  ${lit('SELECT ')}, QUOTE(HEX(t.table_name)),`,
    `  ${lit(", JSON_OBJECT('table', ")}, QUOTE(t.table_name), ${lit(`, 'rows', COUNT(*), 'checksum', CONCAT(${half(1)}, '-', ${half(16)})), JSON_OBJECT('table', `)}, QUOTE(t.table_name),`,
    `  ${lit(", 'changed', true) FROM (SELECT MD5(CONCAT_WS('|', ")}, GROUP_CONCAT(${column} ORDER BY c.ordinal_position SEPARATOR ', '),`,
    `  ${lit(')) AS h FROM `')}, REPLACE(t.table_name, '\`', '\`\`'), ${lit('`) AS s;')})`,
    'FROM information_schema.tables t JOIN information_schema.columns c ON c.table_schema = t.table_schema AND c.table_name = t.table_name',
    "WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE'",
    'GROUP BY t.table_name ORDER BY t.table_name;',
  ].join('\n')
}

/** SQLite: one SELECT per table, each printing one JSON object. */
export function sqliteTableSumsGenerator(): string {
  const ident = `'"' || replace(name, '"', '""') || '"'`
  return [
    "SELECT 'SELECT json_object(''table'', ' || quote(name) || ', ''rows'', (SELECT count(*) FROM ' || " + ident + " || '), ''checksum'', lower(hex(sha3_query(' || quote('SELECT * FROM ' || " + ident + ") || ', 256))));'",
    "FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name;",
  ].join('\n')
}

/**
 * `snap_listing`: reads a tar stream on stdin and prints a sorted fingerprint of it:
 * every member's type, mode and name (symlink targets included), and the sha256 of
 * every regular file. Owners and times are left out: an unprivileged restore cannot
 * reproduce them. The same function reads the snapshot's archive when it is taken and,
 * in a drill, a tar of what was extracted into scratch.
 */
export function listingFunction(): string {
  return bash`snap_listing() {
  local d pid
  d=$(mktemp -d)
  mkfifo -- "$d/stream"
  # shellcheck disable=SC2016
  tar -xf "$d/stream" --to-command='h=$(sha256sum); printf "sha256 %s %s\n" "\${h%% *}" "$TAR_FILENAME"' > "$d/hashes" &
  pid=$!
  tee -- "$d/stream" | tar -tvf - --quoting-style=escape --numeric-owner | awk '{ p = $1; sub(/^[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +/, ""); print "entry " p " " $0 }' > "$d/entries"
  wait "$pid"
  # Names as the volume sees them: podman volume export writes notes/1.txt, tar -C dir .
  # writes ./notes/1.txt plus an entry for the root itself (whose mode is the
  # extraction directory's), so strip ./ and drop the root to compare the two.
  LC_ALL=C sort -- "$d/entries" "$d/hashes" | sed -e 's#^\(entry [^ ]* \)\./#\1#' -e 's#^\(sha256 [^ ]* \)\./#\1#' -e '/^entry [^ ]* \.\{0,1\}$/d' | LC_ALL=C sort
  rm -rf -- "$d"
}`
}


/** The item's table sums for snap_record, from the JSON lines in "$snap_work/tables". */
export function tablesExtra(): Shell {
  return `snap_extra=",\\"tableSums\\":\\"${TABLE_SUM_METHOD}\\",\\"tables\\":[$(paste -sd, "$snap_work/tables")]"`
}

/** `06-volume-media.tar` → `06-volume-media.files`: the archive's listing, beside it. */
export function listingFileName(archiveBase: string): string {
  return archiveBase.replace(/\.tar$/, '') + '.files'
}

/**
 * `snap_list_record ARCHIVE LISTING`: the listing of an archive just written (read back
 * through the decompressor, so it describes what is stored), for the item's manifest
 * entry. Its size is not in the snapshot's `bytes`, which counts the items' files.
 */
export function listRecordFunction(): Shell {
  return bash`snap_list_record() {
  local bytes sha entries
  "\${snap_decompress[@]}" < "$snap_tmp/$1" | snap_listing > "$snap_tmp/$2"
  bytes=$(stat -c %s -- "$snap_tmp/$2")
  sha=$(sha256sum < "$snap_tmp/$2"); sha=\${sha%% *}
  entries=$(grep -c '^entry ' "$snap_tmp/$2" || true)
  snap_extra=",\"listing\":{\"file\":\"$2\",\"bytes\":$bytes,\"sha256\":\"$sha\",\"entries\":$entries}"
}`
}
