// Opens and remembers one session per host for an action run, through the jump host
// when there is one, and closes them all at the end so the process can exit.

import type { ConnectionSettings, HostSpec } from '../inputs/connection'
import { SshError } from '../report/errors'
import { Session } from './session'

export class Connector {
  private readonly sessions = new Map<string, Promise<Session>>()
  private jump?: Promise<Session>

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly onInsecure: (message: string) => void,
  ) {}

  /** The session for a host, opened on first use. */
  connect(host: HostSpec): Promise<Session> {
    let s = this.sessions.get(host.label)
    if (!s) {
      s = this.open(host)
      this.sessions.set(host.label, s)
      // A failed attempt is not cached: a later call (a retry) opens a new one.
      s.catch(() => this.sessions.delete(host.label))
    }
    return s
  }

  private async open(host: HostSpec): Promise<Session> {
    const { settings } = this
    const credentials = { privateKey: settings.privateKey, password: settings.password }
    const base = { hostKeys: settings.hostKeys, connectTimeoutMs: settings.connectTimeoutMs, onInsecure: this.onInsecure }
    if (!settings.jump) return Session.open(host, credentials, base)
    const jumpSpec = settings.jump
    this.jump ??= Session.open(jumpSpec.host, { privateKey: jumpSpec.privateKey, password: jumpSpec.password }, base)
    const bastion = await this.jump
    const sock = await bastion.forward(host.host, host.port).catch((err: Error) => {
      throw new SshError(host.label, 'refused', `the jump host ${jumpSpec.host.label} could not open a connection to ${host.host}:${host.port} (${err.message})`, 'Can the jump host reach that address and port? Does its sshd allow TCP forwarding?')
    })
    return Session.open(host, credentials, { ...base, sock, via: `via jump host ${jumpSpec.host.label}` })
  }

  /** Sessions opened so far (for counting connections in benchmarks). */
  async opened(): Promise<Session[]> {
    const all = await Promise.allSettled([...this.sessions.values(), ...(this.jump ? [this.jump] : [])])
    return all.flatMap(r => (r.status === 'fulfilled' ? [r.value] : []))
  }

  async closeAll(): Promise<void> {
    for (const s of await this.opened()) s.close()
  }
}
