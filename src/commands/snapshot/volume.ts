// Volumes: a directory (media uploads) or a named docker/podman volume, archived with
// tar so that modes, owners, symlinks and any file name survive.

import { cmd, lines, quote, type Shell } from '../shell'
import { addEstimate, bash, itemPath } from './runtime'

/**
 * GNU tar of a directory. Exit status 1 means "a file changed while it was read",
 * normal for a live media directory, so only 2 (a file could not be read) fails.
 */
export function directoryArchive(path: string, file: string): Shell {
  return `{ ${cmd('tar', '-C', path, '--warning=no-file-changed', '-cf', '-', '.')} || [ $? -eq 1 ]; } | "\${snap_compress[@]}" > ${itemPath(`${quote(file)}"$snap_ext"`)}`
}

export function directoryProbe(path: string, what: string): Shell {
  return lines(
    `[ -d ${quote(path)} ] || snap_fail ${quote(`${what} does not exist (or is not a directory)`)}`,
    addEstimate(what, `$(snap_du ${quote(path)})`),
  )
}

/**
 * A named volume. podman exports it directly; docker has no export, but `docker cp`
 * streams a tar of a path from any container (running or stopped) that mounts it.
 * Sets snap_volume_format for the manifest, which restore reads.
 */
export function containerVolumeArchive(name: string, file: string): Shell {
  const out = itemPath(`${quote(file)}"$snap_ext"`)
  return lines(
    `snap_v=${quote(name)}`,
    'if [ "${snap_cli[-1]}" = podman ]; then',
    '  snap_volume_format="podman volume export"',
    `  "\${snap_cli[@]}" volume export "$snap_v" | "\${snap_compress[@]}" > ${out}`,
    'else',
    bash`  snap_volume_format="docker cp"
  snap_c=$("\${snap_cli[@]}" ps -a --filter "volume=$snap_v" --format '{{.Names}}' | head -n 1)
  [ -n "$snap_c" ] || snap_fail "no container uses volume $snap_v: docker reads a volume only through a container that mounts it"
  snap_dest=$("\${snap_cli[@]}" container inspect --format "{{range .Mounts}}{{if eq .Name \"$snap_v\"}}{{.Destination}}{{end}}{{end}}" "$snap_c")
  [ -n "$snap_dest" ] || snap_fail "cannot find where container $snap_c mounts volume $snap_v"`,
    `  "\${snap_cli[@]}" cp "$snap_c:$snap_dest/." - | "\${snap_compress[@]}" > ${out}`,
    'fi',
  )
}

/** The volume must exist; its size counts when its mountpoint is readable from here. */
export function containerVolumeProbe(name: string, what: string): Shell {
  return lines(
    `snap_mp=$("\${snap_cli[@]}" volume inspect --format '{{.Mountpoint}}' ${quote(name)}) || snap_fail ${quote(`${what} does not exist`)}`,
    addEstimate(what, '$(snap_du "$snap_mp")'),
  )
}

export function volumeToolVersion(kind: 'directory' | 'container-volume'): Shell {
  return kind === 'directory' ? '$(tar --version | snap_first_line)' : '$("${snap_cli[@]}" --version | snap_first_line)'
}
