// A Host connected to the real test sshd, for component tests of remote builders
// (the lock, the release steps) below the level of a whole action.
import { Host } from '../../../src/fleet/host'
import { parseHost } from '../../../src/inputs/connection'
import { parseKnownHosts } from '../../../src/ssh/hostkeys'
import { loadPrivateKey } from '../../../src/ssh/keys'
import { Session } from '../../../src/ssh/session'
import { ConsoleReporter } from '../../../src/report/reporter'
import { server } from './server'

/** Collects what a component logs, instead of printing it. */
export class MemoryReporter extends ConsoleReporter {
  readonly lines: string[] = []
  override info(m: string): void {
    this.lines.push(this.redactor.redact(m))
  }
  override warning(m: string): void {
    this.lines.push(`warning: ${this.redactor.redact(m)}`)
  }
  override error(m: string): void {
    this.lines.push(`error: ${this.redactor.redact(m)}`)
  }
  get text(): string {
    return this.lines.join('\n')
  }
}

export async function openHost(reporter = new MemoryReporter()): Promise<{ host: Host; session: Session; reporter: MemoryReporter }> {
  const spec = parseHost(server.host, 'host', server.user, 22)
  const session = await Session.open(
    spec,
    { privateKey: loadPrivateKey(server.key, undefined, 'private-key', 'passphrase') },
    { hostKeys: { knownHosts: parseKnownHosts(server.knownHosts()).entries, fingerprints: [], skip: false }, connectTimeoutMs: 10_000 },
  )
  const host = new Host(spec, session, reporter, { env: {}, timeoutMs: 60_000, prefixLines: false })
  return { host, session, reporter }
}
