// One SSH connection to one host, kept open for the whole action run. The only module
// besides keys.ts and transfer.ts that touches ssh2.

import { randomBytes } from 'crypto'
import type { Duplex, Readable } from 'stream'
import { Client, type AnyAuthMethod, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2'
import { killGroup, parseMarker, renderScript, REMOTE_SHELL, type RemoteScript } from '../commands/script'
import { SshError, StepError, type SshFailure } from '../report/errors'
import type { HostSpec } from '../inputs/connection'
import { formatDuration } from '../report/reporter'
import { keyType, knownHostsName, preferredHostKeyTypes, verifyHostKey, type HostKeyPolicy, type HostKeyVerdict } from './hostkeys'
import type { LoadedKey } from './keys'
import { LineSplitter, Tail } from './lines'

const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
]

export interface Credentials {
  privateKey?: LoadedKey
  password?: string
}

export interface OpenOptions {
  hostKeys: HostKeyPolicy
  connectTimeoutMs: number
  /** An already-open stream to the host (through a jump host). */
  sock?: Duplex
  /** How the host is reached, for messages: `via jump host deploy@bastion`. */
  via?: string
  /** Told once when the host key is accepted without pinning. */
  onInsecure?: (message: string) => void
}

export interface ExecOptions {
  timeoutMs: number
  onStdout?: (line: string) => void
  onStderr?: (line: string) => void
  /** A step marker was reached inside a multi-step script. */
  onStep?: (step: string, atMs: number) => void
  /** Data written after the script (the script sets `input: true` and reads it). */
  input?: Readable | Buffer
  /** Keep up to this many bytes of stdout in the result. */
  captureBytes?: number
}

export interface ExecResult {
  code: number | null
  signal?: string
  timedOut: boolean
  stdout: string
  stdoutTruncated: boolean
  stderrTail: string[]
  /** The first command that failed under `set -e`, as the ERR trap reported it. */
  failure?: { code: number; line: number; command: string }
  /** The last step marker seen (multi-step scripts). */
  lastStep?: string
  durationMs: number
}

/** A script still running on the server. */
export interface RunningScript {
  /** Write to the script's stdin (after the script text). */
  send(data: string | Buffer): void
  /** Close its stdin. */
  end(): void
  done: Promise<ExecResult>
  /** Also receive each stdout line (in addition to options.onStdout). */
  onStdout(fn: (line: string) => void): void
}

/** Counters for benchmarks and the summary: how chatty a run was. */
export interface SessionStats {
  channels: number
  bytesSent: number
  bytesReceived: number
}

export class Session {
  readonly stats: SessionStats = { channels: 0, bytesSent: 0, bytesReceived: 0 }
  private lost?: Error
  private sftpChannel?: Promise<SFTPWrapper>
  private readonly inFlight = new Set<(err: Error) => void>()
  private closing = false
  private rejectLost!: (err: Error) => void
  /** Rejects when the connection is lost; for operations ssh2 itself never fails (SFTP). */
  readonly lostConnection: Promise<never> = new Promise<never>((_, reject) => (this.rejectLost = reject))

  private constructor(
    readonly host: HostSpec,
    private readonly client: Client,
    /** How the host key was accepted, and its fingerprint. */
    readonly hostKey: Extract<HostKeyVerdict, { ok: true }>,
  ) {
    this.lostConnection.catch(() => undefined)
    client.on('close', () => this.onLost(new Error('the connection closed')))
    client.on('error', err => this.onLost(err))
  }

  static open(host: HostSpec, credentials: Credentials, options: OpenOptions): Promise<Session> {
    const client = new Client()
    let verdict: HostKeyVerdict | undefined
    let lastKey: Buffer | undefined
    const tried: string[] = []
    let offered: string[] | undefined
    const queue: AnyAuthMethod[] = []
    if (credentials.privateKey) {
      const k = credentials.privateKey
      queue.push({ type: 'publickey', username: host.user, key: k.privateKey, passphrase: k.passphrase })
    }
    if (credentials.password !== undefined) {
      const password = credentials.password
      queue.push({ type: 'password', username: host.user, password })
      queue.push({
        type: 'keyboard-interactive',
        username: host.user,
        prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)),
      })
    }

    const config: ConnectConfig = {
      host: options.sock ? undefined : host.host,
      port: options.sock ? undefined : host.port,
      sock: options.sock,
      username: host.user,
      readyTimeout: options.connectTimeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: preferredHostKeyTypes(options.hostKeys, host.host, host.port, HOST_KEY_ALGORITHMS) as never },
      hostVerifier: (key: Buffer) => {
        verdict = verifyHostKey(options.hostKeys, host.host, host.port, key)
        if (!verdict.ok) lastKey = key
        return verdict.ok
      },
      authHandler: (methodsLeft, _partial, next) => {
        if (methodsLeft) offered = methodsLeft
        while (queue.length) {
          const m = queue.shift()!
          if (offered && !offered.includes(m.type)) continue
          tried.push(m.type === 'publickey' ? `publickey (${credentials.privateKey!.type} ${credentials.privateKey!.fingerprint})` : m.type)
          return next(m)
        }
        return next(false as never)
      },
    }
    return new Promise((resolve, reject) => {
      let settled = false
      const fail = (err: Error & { level?: string; code?: string }) => {
        if (settled) return
        settled = true
        client.end()
        reject(classifyConnectError(host, options, err, verdict, lastKey, tried, offered))
      }
      client.once('ready', () => {
        if (settled) return
        settled = true
        client.removeListener('error', fail)
        const accepted = verdict as Extract<HostKeyVerdict, { ok: true }>
        if (accepted.how === 'skipped') {
          options.onInsecure?.(
            `${host.label}: host key NOT verified (insecure-skip-host-key-check). It presented ${accepted.fingerprint}; pin it with fingerprint: ${accepted.fingerprint}`,
          )
        }
        resolve(new Session(host, client, accepted))
      })
      client.on('error', fail)
      client.once('close', () => fail(new Error('the connection closed during the handshake')))
      try {
        client.connect(config)
      } catch (err) {
        fail(err as Error)
      }
    })
  }

  private onLost(err: Error): void {
    if (this.lost || this.closing) return
    this.lost = err
    for (const abort of this.inFlight) abort(err)
    this.rejectLost(this.lostError())
  }

  private channel(): Promise<ClientChannel> {
    if (this.lost) return Promise.reject(this.lostError())
    this.stats.channels++
    return new Promise((resolve, reject) =>
      this.client.exec(REMOTE_SHELL, (err, stream) => (err ? reject(new SshError(this.host.label, 'protocol', `could not start a remote shell: ${err.message}`)) : resolve(stream))),
    )
  }

  lostError(during?: string): SshError {
    const why = this.lost?.message ?? 'unknown reason'
    return new SshError(
      this.host.label,
      'connection-lost',
      `the SSH connection was lost${during ? ` during step '${during}'` : ''} (${why})`,
      'The server may have rebooted or the network dropped. Commands already running on the server may have finished or not; slipway checks and recovers on the next run.',
    )
  }

  /** Run a script; resolves with how it ended (non-zero exits included). */
  async exec(script: RemoteScript, options: ExecOptions): Promise<ExecResult> {
    const running = await this.start(script, options)
    if (options.input === undefined) running.end()
    return running.done
  }

  /**
   * Start a script and return while it runs: the caller may send more lines to its
   * stdin (the script set `input: true`) and ends it with end(). The app lock's
   * guardian is such a script: it lives exactly as long as this connection.
   */
  async start(script: RemoteScript, options: ExecOptions): Promise<RunningScript> {
    const nonce = randomBytes(8).toString('hex')
    const text = renderScript(script, { nonce })
    const started = Date.now()
    const stream = await this.channel()
    let onStdoutLine: ((line: string) => void) | undefined
    const done = new Promise<ExecResult>((resolve, reject) => {
      let pgid: number | undefined
      let failure: ExecResult['failure']
      let lastStep: string | undefined
      let code: number | null = null
      let signal: string | undefined
      let timedOut = false
      let stdout = ''
      let stdoutTruncated = false
      const limit = options.captureBytes ?? 0
      const tail = new Tail(20)

      const out = new LineSplitter(line => {
        if (limit > 0) {
          if (stdout.length + line.length + 1 <= limit) stdout += `${line}\n`
          else stdoutTruncated = true
        }
        options.onStdout?.(line)
        onStdoutLine?.(line)
      })
      const err = new LineSplitter(line => {
        const marker = parseMarker(line, nonce)
        if (!marker) {
          tail.push(line)
          options.onStderr?.(line)
          return
        }
        if (marker.kind === 'pgid') pgid = marker.pgid
        else if (marker.kind === 'fail') failure ??= marker
        else if (marker.kind === 'step') {
          lastStep = marker.step
          options.onStep?.(marker.step, Date.now() - started)
        }
      })

      const abort = (e: Error) => {
        finished = true
        clearTimeout(timer)
        this.inFlight.delete(abort)
        reject(e instanceof SshError ? e : this.lostError(lastStep ?? script.step))
      }
      this.inFlight.add(abort)

      let finished = false
      const finish = () => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        clearTimeout(giveUp)
        this.inFlight.delete(abort)
        out.end()
        err.end()
        if (this.lost && code === null && !timedOut) {
          reject(this.lostError(lastStep ?? script.step))
          return
        }
        resolve({ code, signal, timedOut, stdout, stdoutTruncated, stderrTail: tail.lines, failure, lastStep, durationMs: Date.now() - started })
      }
      let giveUp: NodeJS.Timeout | undefined
      const timer = setTimeout(() => {
        timedOut = true
        // Closing the channel alone would leave the commands running on the server.
        const kill = pgid === undefined ? Promise.resolve() : this.killRemoteGroup(pgid)
        void kill.finally(() => {
          stream.close()
          // A process that survived the kill (under sudo, say) keeps the channel open;
          // report the timeout anyway rather than hang the workflow.
          giveUp = setTimeout(finish, 5_000)
        })
      }, options.timeoutMs)

      stream.on('data', (chunk: Buffer) => {
        this.stats.bytesReceived += chunk.length
        out.push(chunk)
      })
      stream.stderr.on('data', (chunk: Buffer) => {
        this.stats.bytesReceived += chunk.length
        err.push(chunk)
      })
      stream.on('exit', (c: number | null, s?: string) => {
        code = c
        signal = s ?? undefined
      })
      stream.on('error', () => {
        /* a write after the remote end closed; the close handler reports the outcome */
      })
      stream.on('close', finish)

      this.stats.bytesSent += Buffer.byteLength(text)
      stream.write(text)
      const input = options.input
      if (input === undefined) return
      if (Buffer.isBuffer(input)) {
        this.stats.bytesSent += input.length
        stream.end(input)
      } else {
        input.on('data', (c: Buffer) => (this.stats.bytesSent += c.length))
        input.on('error', e => {
          stream.close()
          abort(new SshError(this.host.label, 'protocol', `reading the data for step '${script.step}' failed: ${e.message}`))
        })
        input.pipe(stream)
      }
    })
    // Keep an unobserved failure from crashing the process; callers await `done`.
    done.catch(() => undefined)
    return {
      send: data => {
        this.stats.bytesSent += Buffer.byteLength(data)
        stream.write(data)
      },
      end: () => stream.end(),
      done,
      onStdout: fn => (onStdoutLine = fn),
    }
  }

  /** Run a script and throw a StepError naming the host, step, line and exit status when it fails. */
  async run(script: RemoteScript, options: ExecOptions): Promise<ExecResult> {
    const r = await this.exec(script, options)
    if (r.timedOut || r.code !== 0) throw stepError(this.host.label, script.step, r, options.timeoutMs)
    return r
  }

  private async killRemoteGroup(pgid: number): Promise<void> {
    try {
      await this.exec({ step: 'end timed-out command', body: killGroup(pgid) }, { timeoutMs: 10_000 })
    } catch {
      /* the connection may be gone; nothing more we can do from here */
    }
  }

  /** A TCP stream from this host to another (this session is the jump host). */
  forward(host: string, port: number): Promise<Duplex> {
    return new Promise((resolve, reject) =>
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream))),
    )
  }

  sftp(): Promise<SFTPWrapper> {
    if (this.lost) return Promise.reject(this.lostError())
    this.sftpChannel ??= new Promise((resolve, reject) => {
      this.stats.channels++
      this.client.sftp((err, sftp) => (err ? reject(new SshError(this.host.label, 'protocol', `SFTP is not available: ${err.message}`, 'Enable the sftp subsystem in sshd_config.')) : resolve(sftp)))
    })
    return this.sftpChannel
  }

  /** Fail if the connection was lost (for callers that do not run commands themselves). */
  ensureAlive(during?: string): void {
    if (this.lost) throw this.lostError(during)
  }

  close(): void {
    this.closing = true
    this.client.end()
  }
}

/** The error for a script that ran and did not succeed. */
export function stepError(host: string, step: string, r: ExecResult, timeoutMs: number): StepError {
  const at = r.lastStep ?? step
  if (r.timedOut) {
    return new StepError(host, at, `timed out after ${formatDuration(timeoutMs)} (command-timeout); its processes on the server were ended`, r.stderrTail, 'Raise command-timeout if the step needs longer.')
  }
  if (r.signal) return new StepError(host, at, `was killed by signal ${r.signal}`, r.stderrTail)
  const where = r.failure ? ` at line ${r.failure.line}: ${r.failure.command}` : ''
  return new StepError(host, at, `failed with exit code ${r.code ?? 'unknown'}${where}`, r.stderrTail)
}

function classifyConnectError(
  host: HostSpec,
  options: OpenOptions,
  err: Error & { level?: string; code?: string },
  verdict: HostKeyVerdict | undefined,
  presented: Buffer | undefined,
  tried: string[],
  offered: string[] | undefined,
): SshError {
  const at = `${host.host}:${host.port}${options.via ? ` (${options.via})` : ''}`
  const e = (failure: SshFailure, message: string, hint?: string) => new SshError(host.label, failure, message, hint)
  if (verdict && !verdict.ok) {
    const type = presented ? keyType(presented) : 'unknown'
    const line = presented ? `${knownHostsName(host.host, host.port)} ${type} ${presented.toString('base64')}` : ''
    if (verdict.reason === 'unpinned') {
      return e(
        'host-key',
        `refused to connect: no host key is pinned for ${at}. The server presented ${type} ${verdict.fingerprint}.`,
        `Check that fingerprint on the server itself (ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-sha2.*$/g, '')}_key.pub), then add to the step:\n      fingerprint: ${verdict.fingerprint}\n    or\n      known-hosts: ${line}`,
      )
    }
    if (verdict.reason === 'revoked') return e('host-key', `refused to connect: ${at} presented a key marked @revoked in known-hosts (${verdict.fingerprint}).`)
    return e(
      'host-key',
      `HOST KEY MISMATCH for ${at}: expected ${verdict.expected.join(' or ')}, but the server presented ${type} ${verdict.fingerprint}. Nothing was sent to it.`,
      'Another machine may be answering on this address. If the host key was changed on purpose, update known-hosts or fingerprint.',
    )
  }
  if (err.level === 'client-authentication') {
    const how = tried.length ? `tried ${tried.join(', ')}` : 'no credential the server accepts was given'
    return e(
      'auth',
      `authentication as '${host.user}' was rejected (${how}; the server offers ${offered?.join(', ') ?? 'unknown methods'}). The host key was verified, so this is about the user's credentials, not the host.`,
      `Check that the public key of private-key is in ~${host.user}/.ssh/authorized_keys on the server and that '${host.user}' is the right user.`,
    )
  }
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return e('resolve', `cannot resolve host name '${host.host}'`, 'Check the spelling, or use an IP address.')
    case 'ECONNREFUSED':
      return e('refused', `connection refused on ${at}`, 'Is sshd running and listening on that port?')
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return e('unreachable', `no route to ${at}`)
    case 'ETIMEDOUT':
      return e('timeout', `connecting to ${at} timed out`, 'A firewall may be dropping packets; is the port right?')
  }
  if (err.level === 'client-timeout' || /timed out/i.test(err.message)) {
    return e('timeout', `no SSH handshake from ${at} within ${formatDuration(options.connectTimeoutMs)} (connect-timeout)`, 'A firewall may be dropping packets, or the server is overloaded.')
  }
  if (/Connection refused|open failed|administratively prohibited/i.test(err.message) && options.via) {
    return e('refused', `the jump host could not open a connection to ${host.host}:${host.port}: ${err.message}`)
  }
  return e('protocol', `SSH connection to ${at} failed: ${err.message}`)
}
