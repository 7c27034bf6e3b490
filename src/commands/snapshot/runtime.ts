// Bash functions every snapshot script starts with: JSON escaping, recording an item,
// choosing compression and the container CLI, stopping and starting containers, and
// the free-space check. Values only ever arrive as arguments or variables, never
// pasted into these bodies, so the text is the same for every snapshot.

import type { Compression, ContainerCli } from '../../inputs/snapshot'
import { lines, quote, type Shell } from '../shell'

export type { Shell }

/** Where an item's file is written while the snapshot is incomplete. */
export function itemPath(file: Shell): Shell {
  return `"$snap_tmp"/${file}`
}

/**
 * Bash text taken literally: backslashes stay as written, and `\${` (escaped only so
 * that JavaScript does not interpolate) becomes `${`. No placeholders: values go in
 * through quote() in the builders, never into these bodies.
 */
export function bash(text: TemplateStringsArray): Shell {
  return text.raw.join('').replace(/\\\$\{/g, '${')
}

export function runtimeFunctions(): Shell {
  return bash`snap_ms() { date +%s%3N; }
snap_json() { local s=$1; s=\${s//\\/\\\\}; s=\${s//\"/\\\"}; printf '%s' "$s" | tr -d '\000-\037'; }
snap_say() { printf 'slipway: %s\n' "$*" >&2; }
snap_step() { snap_current=$*; if declare -F __slipway_step >/dev/null; then __slipway_step "$*"; else snap_say "── $*"; fi; }
snap_fail() { printf 'slipway: %s\n' "$*" >&2; exit 1; }
snap_tool() { local t; for t in "$@"; do if command -v "$t" >/dev/null 2>&1; then printf '%s' "$t"; return 0; fi; done; snap_fail "none of $* is installed on this server"; }
snap_first_line() { local l; IFS= read -r l || true; printf '%s' "$l"; }
snap_record() {
  local f="$snap_tmp/$3" bytes sha tool=$5
  [ "$4" = none ] || tool="$tool; $snap_compress_version"
  bytes=$(stat -c %s -- "$f")
  sha=$(sha256sum < "$f"); sha=\${sha%% *}
  snap_total=$((snap_total + bytes))
  printf '%s,"format":"%s","file":"%s","compression":"%s","bytes":%s,"sha256":"%s","toolVersion":"%s","serverVersion":"%s","durationMs":%s%s}\n' \
    "$1" "$(snap_json "$2")" "$3" "$4" "$bytes" "$sha" "$(snap_json "$tool")" "$(snap_json "$6")" "$(( $(snap_ms) - $7 ))" "$snap_extra" >> "$snap_work/items"
  snap_extra=
  snap_say "   $3: $(snap_human "$bytes"), sha256 $sha"
}
snap_du() { local s; s=$(du -sb -- "$1" 2>/dev/null | cut -f1 | tail -n 1) || true; printf '%s' "\${s:-0}"; }
snap_oneline() { local s; s=$(tr '\n' ' ' < "$1"); printf '%s' "\${s% }"; }
snap_human() { numfmt --to=iec-i --suffix=B -- "$1" 2>/dev/null || printf '%s bytes' "$1"; }`
}

/** Sets snap_compress (a command reading stdin), snap_ext and snap_compression. */
export function chooseCompression(compression: Compression): Shell {
  return lines(
    `snap_compression=${quote(compression)}`,
    'if [ "$snap_compression" = auto ]; then if command -v zstd >/dev/null 2>&1; then snap_compression=zstd; else snap_compression=gzip; fi; fi',
    'case $snap_compression in',
    '  zstd) command -v zstd >/dev/null 2>&1 || snap_fail "compression zstd was asked for, but zstd is not installed (apt-get install zstd, or compression: auto)"',
    '        snap_compress=(zstd -q -T0 -3 -c); snap_decompress=(zstd -q -dc); snap_ext=.zst; snap_compress_version=$(zstd -V | snap_first_line) ;;',
    // pigz is gzip on every core, with the same output format.
    '  gzip) if command -v pigz >/dev/null 2>&1; then snap_compress=(pigz -c); else snap_compress=(gzip -c); fi; snap_decompress=(gzip -dc)',
    '        snap_ext=.gz; snap_compress_version=$("${snap_compress[0]}" --version 2>&1 | snap_first_line) ;;',
    '  none) snap_compress=(cat); snap_decompress=(cat); snap_ext=; snap_compress_version= ;;',
    'esac',
  )
}

/**
 * Sets snap_cli (an array: `podman`, `sudo -n podman`, ...) to the first CLI that can
 * see every container and volume the snapshot names. Root's containers are invisible
 * to a rootless CLI, so each candidate is also tried through `sudo -n`.
 */
export function chooseContainerCli(configured: ContainerCli | undefined, containers: string[], volumes: string[]): Shell {
  const candidates = configured
    ? configured.startsWith('sudo ')
      ? [`sudo -n ${configured.slice(5)}`]
      : [configured, `sudo -n ${configured}`]
    : ['docker', 'sudo -n docker', 'podman', 'sudo -n podman']
  return lines(
    `snap_containers=(${containers.map(quote).join(' ')})`,
    `snap_volumes=(${volumes.map(quote).join(' ')})`,
    'snap_cli=()',
    `for snap_c in ${candidates.map(quote).join(' ')}; do`,
    '  read -r -a snap_try <<< "$snap_c"',
    '  [ "${snap_try[0]}" = sudo ] && { command -v sudo >/dev/null 2>&1 || continue; }',
    '  command -v "${snap_try[-1]}" >/dev/null 2>&1 || continue',
    '  snap_ok=1',
    '  for snap_o in "${snap_containers[@]}"; do "${snap_try[@]}" container inspect "$snap_o" >/dev/null 2>&1 || { snap_ok=; break; }; done',
    '  if [ -n "$snap_ok" ]; then for snap_o in "${snap_volumes[@]}"; do "${snap_try[@]}" volume inspect "$snap_o" >/dev/null 2>&1 || { snap_ok=; break; }; done; fi',
    '  if [ -n "$snap_ok" ]; then snap_cli=("${snap_try[@]}"); break; fi',
    'done',
    `[ \${#snap_cli[@]} -gt 0 ] || snap_fail ${quote(`no container CLI here can see ${[...containers.map(c => `container ${c}`), ...volumes.map(v => `volume ${v}`)].join(', ')} (tried ${candidates.join(', ')})`)}`,
    'snap_say "container CLI: ${snap_cli[*]}"',
  )
}

/**
 * Stop the running ones among `names`; snap_start_containers starts exactly those
 * again. The EXIT trap calls it too, so a failing archive never leaves them down.
 * `start` gets no fd 3 (the step's stdout): a runtime helper that stays in the
 * background must not keep the step's channel open.
 */
export function containerStopStart(names: string[]): Shell {
  return lines(
    'snap_stopped=()',
    'snap_start_containers() {',
    '  local c rc=0',
    '  for c in "${snap_stopped[@]}"; do',
    '    if "${snap_cli[@]}" start "$c" >/dev/null 3>&-; then snap_say "started container $c again"; else snap_say "could not start container $c again"; rc=1; fi',
    '  done',
    '  snap_stopped=()',
    '  return $rc',
    '}',
    'snap_stop_containers() {',
    '  local c',
    `  for c in ${names.map(quote).join(' ')}; do`,
    '    if [ "$("${snap_cli[@]}" container inspect --format \'{{.State.Running}}\' "$c")" = true ]; then',
    '      snap_stopped+=("$c")',
    '      snap_say "stopping container $c"',
    '      "${snap_cli[@]}" stop "$c" >/dev/null',
    '    else',
    '      snap_say "container $c is not running; it stays stopped"',
    '    fi',
    '  done',
    '}',
  )
}

/**
 * Fail before writing anything when the estimate does not fit. The estimate is the
 * uncompressed size of what will be dumped, so it errs on the safe side.
 */
export function freeSpaceCheck(): Shell {
  return lines(
    'snap_avail=$(df -P -B1 -- "$snap_dir" | awk \'NR == 2 { print $4 }\')',
    'snap_say "free space in $snap_dir: $(snap_human "$snap_avail"); this snapshot needs about $(snap_human "$snap_need")"',
    'if [ "$snap_avail" -lt "$snap_need" ]; then',
    '  snap_fail "not enough free space in $snap_dir: about $(snap_human "$snap_need") needed (${snap_sizes%; }), $(snap_human "$snap_avail") available. Nothing was written."',
    'fi',
  )
}

/** Add an item's estimated size to snap_need, with a line for the error message. */
export function addEstimate(what: string, size: Shell): Shell {
  return lines(`snap_size=${size}`, 'snap_size=${snap_size:-0}', 'snap_need=$((snap_need + snap_size))', `snap_sizes+=${quote(`${what}: `)}"$(snap_human "$snap_size"); "`)
}

/** A command in a container, or on the host when `container` is undefined. */
export function inContainer(container: string | undefined, interactive: boolean, command: Shell): Shell {
  if (!container) return command
  return `"\${snap_cli[@]}" exec${interactive ? ' -i' : ''} ${quote(container)} ${command}`
}

