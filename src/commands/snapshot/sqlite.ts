// SQLite: the online backup API (`sqlite3 .backup`) gives a consistent copy of a live
// database, which copying the file does not (a write in flight, a WAL not yet merged).

import { cmd, lines, quote, type Shell } from '../shell'
import { sqliteTableSumsGenerator, tablesExtra } from './checksums'
import { addEstimate, itemPath } from './runtime'
import type { DbTarget } from './types'

export function sqliteDump(db: DbTarget, file: string): Shell {
  const raw = itemPath(quote(file))
  return lines(
    // .backup takes a file name in sqlite's own quoting; run it in the snapshot
    // directory so the name is ours (safe characters) whatever the path is.
    `(cd -- "$snap_tmp" && ${cmd('sqlite3', '-bail', '-cmd', '.timeout 30000', db.name, `.backup main '${file}'`)})`,
    `[ "$(sqlite3 ${raw} 'pragma quick_check')" = ok ] || snap_fail ${quote(`the backup of ${db.name} does not pass sqlite's quick_check`)}`,
    // Sums of the backup itself: exactly what the snapshot holds.
    sqliteTableSums(raw, '"$snap_work/tables"'),
    tablesExtra(),
    `if [ -n "$snap_ext" ]; then "\${snap_compress[@]}" < ${raw} > ${raw}"$snap_ext" && rm -f -- ${raw}; fi`,
  )
}

export function sqliteProbe(db: DbTarget, what: string): Shell {
  return lines(
    `[ -f ${quote(db.name)} ] || snap_fail ${quote(`${what} does not exist (or is not a file)`)}`,
    `[ -r ${quote(db.name)} ] || snap_fail ${quote(`${what} is not readable by $(id -un)`)}`,
    'snap_server_version=',
    addEstimate(what, `$(( $(stat -c %s -- ${quote(db.name)}) + $(stat -c %s -- ${quote(`${db.name}-wal`)} 2>/dev/null || echo 0) ))`),
  )
}

export function sqliteToolVersion(): Shell {
  return `sqlite3 $(sqlite3 --version | cut -d' ' -f1)`
}

/** One JSON line per table of the SQLite file `file` into `out`. */
export function sqliteTableSums(file: Shell, out: Shell): Shell {
  return `sqlite3 -bail ${file} ${quote(sqliteTableSumsGenerator())} | sqlite3 -bail ${file} > ${out}`
}
