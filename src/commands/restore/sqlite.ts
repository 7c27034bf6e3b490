// SQLite: the backup is decompressed to a temporary name beside the live file, checked,
// and renamed over it, so the app sees the old database or the new one, never half of
// one. The live file's -wal and -shm belong to the old database: left in place, SQLite
// would apply the old WAL to the new file.

import { sqliteTableSums } from '../snapshot/sqlite'
import { atExit } from '../script'
import { lines, quote, type Shell } from '../shell'

export function sqliteRestore(path: string, file: string, decompress: string[], id: string): Shell {
  const tmp = `${path}.slipway-restore-${id}`
  return lines(
    `rst_db=${quote(path)}; rst_tmp=${quote(tmp)}`,
    atExit('rm -f -- "$rst_tmp"'),
    `${decompress.map(quote).join(' ')} < ${quote(file)} > "$rst_tmp"`,
    `[ "$(sqlite3 "$rst_tmp" 'pragma quick_check')" = ok ] || snap_fail ${quote(`the restored copy of ${path} does not pass sqlite's quick_check`)}`,
    'if [ -e "$rst_db" ]; then chmod --reference="$rst_db" -- "$rst_tmp"; fi',
    'rm -f -- "$rst_db-wal" "$rst_db-shm"',
    'mv -f -- "$rst_tmp" "$rst_db"',
    'rm -f -- "$rst_db-wal" "$rst_db-shm"',
  )
}

/** Drill: a scratch copy in the work directory, checked, its table sums into `out`. */
export function sqliteDrill(file: string, decompress: string[], out: Shell): Shell {
  return lines(
    `${decompress.map(quote).join(' ')} < ${quote(file)} > "$snap_work/drill.sqlite3"`,
    `[ "$(sqlite3 "$snap_work/drill.sqlite3" 'pragma quick_check')" = ok ] || snap_fail 'the restored copy does not pass sqlite'"'"'s quick_check'`,
    sqliteTableSums('"$snap_work/drill.sqlite3"', out),
    'rm -f -- "$snap_work/drill.sqlite3"',
  )
}
