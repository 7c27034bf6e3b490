// The read-only first step of every restore and drill: the snapshot directory and each
// file the restore will read are real (no symlink planted in their place), and their
// sizes and sha256 are reported for the runner to compare with the manifest.

import { lines, quote, type Shell } from '../shell'

/** Prints `file <name> <bytes> <sha256>`, or `bad <name> <why>`, one line per file. */
export function verifyScript(dir: string, files: string[]): Shell {
  return lines(
    `d=${quote(dir)}`,
    'if [ -L "$d" ] || [ ! -d "$d" ]; then echo "$d is not a directory (or is a symlink); refusing to read it" >&2; exit 1; fi',
    `for f in ${files.map(quote).join(' ')}; do`,
    '  p="$d/$f"',
    '  if [ -L "$p" ]; then echo "bad $f is a symlink"; continue; fi',
    '  if [ ! -f "$p" ]; then echo "bad $f is missing"; continue; fi',
    '  sha=$(sha256sum < "$p"); echo "file $f $(stat -c %s -- "$p") ${sha%% *}"',
    'done',
  )
}

export interface FileCheck {
  file: string
  bytes?: number
  sha256?: string
  problem?: string
}

export function parseVerify(stdout: string): Map<string, FileCheck> {
  const out = new Map<string, FileCheck>()
  for (const line of stdout.split('\n')) {
    const m = /^file (\S+) (\d+) ([0-9a-f]{64})$/.exec(line)
    if (m) out.set(m[1], { file: m[1], bytes: Number(m[2]), sha256: m[3] })
    const b = /^bad (\S+) (.*)$/.exec(line)
    if (b) out.set(b[1], { file: b[1], problem: b[2] })
  }
  return out
}
