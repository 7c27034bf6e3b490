// Listing and pruning the snapshots of an app, and the releases that pin them.

import { lines, quote, type Shell } from '../shell'

/** Record separator lines between the parts of the listing. */
export const LIST_MARK = '\x1esnapshot'

/**
 * Every snapshot directory with its manifest, then the releases that exist. Names come
 * back as they are; the runner validates every id before it acts on one.
 */
export function listSnapshotsScript(root: string): Shell {
  return lines(
    `snap_root=${quote(root)}`,
    'if [ -d "$snap_root/snapshots" ]; then',
    '  for d in "$snap_root"/snapshots/*/; do',
    '    [ -d "$d" ] || continue',
    '    d=${d%/}; d=${d##*/}',
    `    printf '\\036snapshot %s\\n' "$d"`,
    '    cat -- "$snap_root/snapshots/$d/manifest.json" 2>/dev/null || true',
    "    printf '\\n'",
    '  done',
    'fi',
    `printf '\\036snapshot-releases\\n'`,
    'if [ -d "$snap_root/releases" ]; then ls -1A -- "$snap_root/releases"; fi',
  )
}

/**
 * Remove snapshots: each is first renamed out of the snapshot namespace, so a removal
 * cut short leaves a `.deleting-` directory (cleared by the next snapshot), never a
 * half-deleted snapshot that looks whole.
 */
export function pruneSnapshotsScript(root: string, ids: string[]): Shell {
  return lines(
    `cd -- ${quote(`${root}/snapshots`)}`,
    ...ids.map(id => `mv -T -- ${quote(id)} ${quote(`.deleting-${id}`)} && rm -rf -- ${quote(`.deleting-${id}`)} && echo ${quote(`removed snapshot ${id}`)}`),
  )
}
