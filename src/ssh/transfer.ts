// Files between the runner and a server over the session's SFTP channel. A transfer
// lands under a `.partial` name and takes its real name only once its sha256 is
// checked, so an interrupted or corrupted transfer never looks like a finished one.
// Memory stays bounded: fastGet/fastPut stream in chunks, hashing reads the file in
// chunks too.

import { createHash } from 'crypto'
import { createReadStream } from 'fs'
import { rename, rm } from 'fs/promises'
import type { SFTPWrapper } from 'ssh2'
import { lines, quote } from '../commands/shell'
import { SlipwayError } from '../report/errors'
import type { Session } from './session'

export interface TransferOptions {
  /** Refuse the file unless its sha256 (hex) is this. */
  expectedSha256?: string
  /** Bytes done and total, as chunks complete. */
  onProgress?: (done: number, total: number) => void
  /** Parallel SFTP requests in flight; more hides latency. */
  concurrency?: number
  chunkSize?: number
}

export interface TransferResult {
  bytes: number
  sha256: string
  durationMs: number
}

// OpenSSH's sftp-server reads at most 255 KiB per request; asking for 256 KiB makes ssh2
// split every read into two, the second sent only after the first returns.
const DEFAULTS = { concurrency: 64, chunkSize: 255 * 1024 }

/** sha256 of a local file, read in chunks. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', chunk => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')))
  })
}

/** A transfer, or the connection's loss, whichever comes first. */
function raceLoss<T>(session: Session, transfer: Promise<T>): Promise<T> {
  return Promise.race([transfer, session.lostConnection])
}

function stat(sftp: SFTPWrapper, path: string): Promise<number> {
  return new Promise((resolve, reject) => sftp.stat(path, (err, s) => (err ? reject(err) : resolve(s.size))))
}

/** Download `remotePath` to `localPath`, verified. */
export async function download(session: Session, remotePath: string, localPath: string, options: TransferOptions = {}): Promise<TransferResult> {
  const started = Date.now()
  const sftp = await session.sftp()
  const partial = `${localPath}.partial`
  let total: number
  try {
    total = await stat(sftp, remotePath)
  } catch (err) {
    throw new SlipwayError(`${session.host.label}: cannot read ${remotePath} over SFTP: ${(err as Error).message}`)
  }
  try {
    // fastGet never calls back when the connection dies under it: race the loss.
    await raceLoss(session, new Promise<void>((resolve, reject) =>
      sftp.fastGet(
        remotePath,
        partial,
        {
          concurrency: options.concurrency ?? DEFAULTS.concurrency,
          chunkSize: options.chunkSize ?? DEFAULTS.chunkSize,
          step: (done, _chunk, t) => options.onProgress?.(done, t),
          mode: 0o600,
        },
        err => (err ? reject(err) : resolve()),
      ),
    ))
    session.ensureAlive(`download ${remotePath}`)
    // fastGet writes chunks out of order, so the file is hashed once it is complete.
    const sha256 = await sha256File(partial)
    if (options.expectedSha256 && sha256 !== options.expectedSha256) {
      throw new SlipwayError(
        `${session.host.label}: ${remotePath} arrived with sha256 ${sha256}, but the manifest says ${options.expectedSha256}`,
        'The file changed on the server or in transit; it was not kept. Take a new snapshot and download again.',
      )
    }
    await rename(partial, localPath)
    return { bytes: total, sha256, durationMs: Date.now() - started }
  } catch (err) {
    await rm(partial, { force: true })
    if (err instanceof SlipwayError) throw err
    throw new SlipwayError(`${session.host.label}: downloading ${remotePath} failed: ${(err as Error).message}`)
  }
}

/**
 * Upload `localPath` to `remotePath`, verified by the server's own sha256sum before it
 * takes its name. Missing directories are not created.
 */
export async function upload(session: Session, localPath: string, remotePath: string, options: TransferOptions = {}): Promise<TransferResult> {
  const started = Date.now()
  const sha256 = await sha256File(localPath)
  if (options.expectedSha256 && sha256 !== options.expectedSha256) {
    throw new SlipwayError(`${localPath} has sha256 ${sha256}, expected ${options.expectedSha256}; not uploading it`)
  }
  const sftp = await session.sftp()
  const partial = `${remotePath}.partial`
  let bytes = 0
  try {
    await raceLoss(session, new Promise<void>((resolve, reject) =>
      sftp.fastPut(
        localPath,
        partial,
        {
          concurrency: options.concurrency ?? DEFAULTS.concurrency,
          chunkSize: options.chunkSize ?? DEFAULTS.chunkSize,
          step: (done, _chunk, total) => {
            bytes = total
            options.onProgress?.(done, total)
          },
          mode: 0o600,
        },
        err => (err ? reject(err) : resolve()),
      ),
    ))
  } catch (err) {
    await removeRemote(session, partial)
    throw new SlipwayError(`${session.host.label}: uploading to ${remotePath} failed: ${(err as Error).message}`)
  }
  const r = await session.exec(
    {
      step: 'verify upload',
      strict: true,
      body: lines(
        `f=${quote(partial)}`,
        'sum=$(sha256sum < "$f"); sum=${sum%% *}',
        `if [ "$sum" != ${quote(sha256)} ]; then rm -f -- "$f"; echo "sha256 mismatch: $sum" >&2; exit 3; fi`,
        `mv -f -- "$f" ${quote(remotePath)}`,
      ),
    },
    { timeoutMs: 30 * 60_000 },
  )
  if (r.code !== 0) {
    throw new SlipwayError(`${session.host.label}: ${remotePath} did not arrive intact (${r.stderrTail.join(' / ') || `exit ${r.code}`}); it was not kept`)
  }
  return { bytes, sha256, durationMs: Date.now() - started }
}

async function removeRemote(session: Session, path: string): Promise<void> {
  try {
    const sftp = await session.sftp()
    await new Promise<void>(resolve => sftp.unlink(path, () => resolve()))
  } catch {
    /* the connection may be gone; the partial name never passes for the real file */
  }
}
