// Git on the runner: what to ship and how small the pack can be.

import type { Readable } from 'stream'
import { SlipwayError } from '../report/errors'
import { runLocal, startLocal } from './process'

export class LocalRepo {
  constructor(readonly dir: string) {}

  private async git(...args: string[]): Promise<string> {
    const r = await runLocal('git', args, { cwd: this.dir }).catch((err: Error) => {
      throw new SlipwayError(`git is not available on the runner: ${err.message}`)
    })
    if (r.code !== 0) throw new SlipwayError(`git ${args.join(' ')} failed in ${this.dir}: ${r.stderr.trim()}`)
    return r.stdout.trim()
  }

  async isRepository(): Promise<boolean> {
    return runLocal('git', ['rev-parse', '--git-dir'], { cwd: this.dir }).then(
      r => r.code === 0,
      () => false,
    )
  }

  /** The commit a ref names here, or undefined. */
  async resolve(ref: string): Promise<string | undefined> {
    for (const candidate of [ref, `origin/${ref}`]) {
      const r = await runLocal('git', ['rev-parse', '-q', '--verify', '--end-of-options', `${candidate}^{commit}`], { cwd: this.dir })
      if (r.code === 0) return r.stdout.trim()
    }
    return undefined
  }

  /** Of these commits, the ones this repository has (one git process for all). */
  async present(shas: string[]): Promise<string[]> {
    if (shas.length === 0) return []
    const r = await runLocal('git', ['cat-file', '--batch-check=%(objectname) %(objecttype)'], { cwd: this.dir, input: shas.map(s => `${s}\n`).join('') })
    return r.stdout
      .split('\n')
      .filter(l => l.endsWith(' commit'))
      .map(l => l.split(' ')[0])
  }

  /**
   * Make the server's live commit available here so the pack can leave out what the
   * server already has: actions/checkout clones with depth 1 by default.
   */
  async tryFetch(sha: string): Promise<boolean> {
    const r = await runLocal('git', ['fetch', '-q', '--no-tags', '--depth=1', 'origin', sha], { cwd: this.dir }).catch(() => undefined)
    return r?.code === 0
  }

  async isShallow(): Promise<boolean> {
    return (await this.git('rev-parse', '--is-shallow-repository')) === 'true'
  }

  /**
   * A thin pack with the commit and everything it needs that `haves` do not have.
   * stop() ends the packer when nobody will read the rest; it returns the packer's own
   * failure when it failed first (then that is the real cause of a server-side EOF).
   */
  pack(sha: string, haves: string[]): { stream: Readable; done: Promise<void>; stop: () => Error | undefined } {
    const { child, output } = startLocal('git', ['pack-objects', '--revs', '--thin', '--stdout', '-q', '--delta-base-offset'], {
      cwd: this.dir,
      input: [sha, ...haves.map(h => `^${h}`), ''].join('\n'),
    })
    let stderr = ''
    let failure: Error | undefined
    let exited = false
    child.stderr!.on('data', c => (stderr += c))
    const done = new Promise<void>((resolve, reject) =>
      child.on('close', code => {
        exited = true
        if (code === 0) return resolve()
        failure = new SlipwayError(`git pack-objects failed: ${stderr.trim() || `exit ${code}`}`)
        reject(failure)
      }),
    )
    done.catch(() => undefined)
    return {
      stream: output,
      done,
      stop: () => {
        if (!exited) child.kill()
        output.destroy()
        return failure
      },
    }
  }
}
