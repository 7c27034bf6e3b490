// Volumes. A directory is extracted beside the live one (`<dir>.slipway-restore-<id>`)
// while the app still runs; only then are the stop-containers stopped and each
// directory swapped in with two renames, the old one kept as
// `<dir>.slipway-replaced-<id>`. If anything fails before the end, every swap already
// made is undone (the old directories go back) before the containers start again; on
// success the old directories are removed. Containers are started again however the
// script ends.
//
// A named volume is replaced through a short-lived container of the image of a container
// that mounts it (the volume's mountpoint belongs to the container runtime): the archive
// is extracted into a directory inside the volume, and only when that worked are the old
// contents removed and the new ones moved up.

import { containerStopStart } from '../snapshot/runtime'
import { listingFunction } from '../snapshot/checksums'
import { atExit } from '../script'
import { lines, quote, type Shell } from '../shell'

export type VolumeTarget = { kind: 'directory'; path: string } | { kind: 'container-volume'; name: string }

export interface VolumeRestoreItem {
  volume: VolumeTarget
  /** The archive in the snapshot. */
  file: string
  decompress: string[]
}

const unpack = (i: VolumeRestoreItem, dir: Shell) => `${i.decompress.map(quote).join(' ')} < ${quote(i.file)} | tar -x -p -f - -C ${dir}`

/** Runs inside the helper container, as root, with the volume at /slipway-volume and the archive on stdin. */
export const VOLUME_IMPORT_SH = [
  'set -e',
  'cd /slipway-volume',
  'rm -rf .slipway-restore && mkdir .slipway-restore',
  'tar -xf - -C .slipway-restore',
  'for e in * .[!.]* ..?*; do if [ -e "$e" ] || [ -L "$e" ]; then if [ "$e" != .slipway-restore ]; then rm -rf -- "$e"; fi; fi; done',
  'cd .slipway-restore',
  'for e in * .[!.]* ..?*; do if [ -e "$e" ] || [ -L "$e" ]; then mv -- "$e" ..; fi; done',
  'cd .. && rmdir .slipway-restore',
].join('\n')

export function volumeRestoreScript(items: VolumeRestoreItem[], stopContainers: string[], id: string): Shell {
  const dirs = items.map((item, n) => ({ item, n })).filter(x => x.item.volume.kind === 'directory')
  const named = items.filter(i => i.volume.kind === 'container-volume')
  return lines(
    'rst_swapped=()',
    'rst_done=',
    // Undo the swaps made so far, newest first, so the containers start on the old data.
    'rst_undo() {',
    '  local i n live replaced',
    '  for ((i = ${#rst_swapped[@]} - 1; i >= 0; i--)); do',
    '    n=${rst_swapped[i]}',
    '    eval "live=\\$rst_live_$n replaced=\\$rst_replaced_$n"',
    `    mv -T -- "$live" "$live.slipway-failed-"${quote(id)} && { [ ! -e "$replaced" ] || mv -T -- "$replaced" "$live"; } && rm -rf -- "$live.slipway-failed-"${quote(id)} && snap_say "put $live back as it was"`,
    '  done',
    '  rst_swapped=()',
    '}',
    stopContainers.length ? lines(containerStopStart(stopContainers), atExit('snap_start_containers || true')) : '',
    atExit('if [ -z "$rst_done" ]; then rst_undo; fi'),
    ...dirs.map(({ item, n }) => {
      const path = (item.volume as { path: string }).path
      return lines(
        `snap_step ${quote(`extract ${path}`)}`,
        `rst_live_${n}=${quote(path)}`,
        // The snapshot archived what the path points to; put it back there.
        `if [ -L "$rst_live_${n}" ]; then rst_live_${n}=$(readlink -f -- "$rst_live_${n}"); fi`,
        `rst_stage_${n}="$rst_live_${n}".slipway-restore-${quote(id)}; rst_replaced_${n}="$rst_live_${n}".slipway-replaced-${quote(id)}`,
        `if mountpoint -q -- "$rst_live_${n}" 2>/dev/null; then snap_fail "$rst_live_${n} is a mount point, which cannot be swapped by renaming; nothing was changed"; fi`,
        `mkdir -p -- "$(dirname -- "$rst_live_${n}")"`,
        // Left by a run that was cut off between its two renames: the old data goes back first.
        `if [ ! -e "$rst_live_${n}" ] && [ -d "$rst_replaced_${n}" ]; then mv -T -- "$rst_replaced_${n}" "$rst_live_${n}"; snap_say "put $rst_live_${n} back from an interrupted restore"; fi`,
        `rm -rf -- "$rst_stage_${n}" "$rst_replaced_${n}"`,
        atExit(`rm -rf -- "$rst_stage_${n}"`),
        `mkdir -- "$rst_stage_${n}"`,
        unpack(item, `"$rst_stage_${n}"`),
      )
    }),
    stopContainers.length ? lines('snap_current="stop containers"', 'snap_stop_containers') : '',
    ...dirs.map(({ item, n }) =>
      lines(
        `snap_step ${quote(`swap in ${(item.volume as { path: string }).path}`)}`,
        `if [ -e "$rst_live_${n}" ]; then mv -T -- "$rst_live_${n}" "$rst_replaced_${n}"; fi`,
        `rst_swapped+=(${n})`,
        `mv -T -- "$rst_stage_${n}" "$rst_live_${n}"`,
      ),
    ),
    ...named.map(item => {
      const name = (item.volume as { name: string }).name
      return lines(
        `snap_step ${quote(`import volume ${name}`)}`,
        `rst_image=$("\${snap_cli[@]}" ps -a --filter ${quote(`volume=${name}`)} --format '{{.Image}}' | head -n 1)`,
        `[ -n "$rst_image" ] || snap_fail ${quote(`no container uses volume ${name}: slipway replaces a volume's contents through a container of the image that uses it`)}`,
        `${item.decompress.map(quote).join(' ')} < ${quote(item.file)} | "\${snap_cli[@]}" run --rm -i --network none --user 0 --entrypoint sh -v ${quote(`${name}:/slipway-volume`)} "$rst_image" -c ${quote(VOLUME_IMPORT_SH)}`,
      )
    }),
    stopContainers.length ? lines('snap_current="start containers again"', 'snap_start_containers') : '',
    'rst_done=1',
    ...dirs.map(({ n }) => `rm -rf -- "$rst_replaced_${n}"`),
  )
}

/**
 * Drill: extract into the work directory and compare a listing of what landed on disk
 * with the one recorded at snapshot time. Prints `listing ok|differs|none <entries>`.
 */
export function volumeDrill(item: VolumeRestoreItem, listing: string | undefined): Shell {
  return lines(
    listingFunction(),
    'rm -rf -- "$snap_work/drill" && mkdir -- "$snap_work/drill"',
    unpack(item, '"$snap_work/drill"'),
    `tar -C "$snap_work/drill" -cf - . | snap_listing > "$snap_work/drill.files"`,
    `rst_entries=$(grep -c '^entry ' "$snap_work/drill.files" || true)`,
    listing === undefined
      ? 'echo "listing none $rst_entries" >&3'
      : lines(
          `if cmp -s -- ${quote(listing)} "$snap_work/drill.files"; then echo "listing ok $rst_entries" >&3; else`,
          `  snap_say 'what was extracted differs from the listing recorded at snapshot time (- recorded, + extracted):'`,
          `  diff -- ${quote(listing)} "$snap_work/drill.files" | grep '^[<>]' | sed 's/^</-/; s/^>/+/' | head -n 20 >&2 || true`,
          '  echo "listing differs $rst_entries" >&3',
          'fi',
        ),
    'rm -rf -- "$snap_work/drill" "$snap_work/drill.files"',
  )
}
