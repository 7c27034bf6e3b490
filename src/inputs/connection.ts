// The inputs every action shares: which hosts, as whom, trusting which host keys.

import { parseFingerprint, parseKnownHosts, type HostKeyPolicy } from '../ssh/hostkeys'
import { loadPrivateKey, type LoadedKey } from '../ssh/keys'
import { InputError } from '../report/errors'
import { Input } from './names'
import { parseBoolean, parseDuration, parseEnvLines, parseInteger, printable, splitList } from './parse'
import type { InputSource } from './source'

export interface HostSpec {
  host: string
  port: number
  user: string
  /** How the log and summary name this host: `deploy@web1:2222`. */
  label: string
}

export interface ConnectionSettings {
  /** Target hosts, in the order given; a rolling release goes in this order. */
  hosts: HostSpec[]
  /** The deploy key, parsed and validated before any connection. */
  privateKey?: LoadedKey
  password?: string
  hostKeys: HostKeyPolicy
  /** A bastion that can reach the hosts; the runner connects only to it. */
  jump?: { host: HostSpec; privateKey?: LoadedKey; password?: string }
  connectTimeoutMs: number
  /** Per remote command; the whole process group is ended when it runs out. */
  commandTimeoutMs: number
  /** How many hosts are worked on at once. */
  parallel: number
  /** After a host fails, start no further hosts (those in flight finish). */
  failFast: boolean
  /** Exported inside every remote script; values masked. */
  env: Record<string, string>
}

const HOSTNAME = /^(?!-)[A-Za-z0-9._-]{1,253}$/
const USERNAME = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}\$?$/

/** One `[user@]host[:port]` item; IPv6 addresses go in brackets when a port follows. */
export function parseHost(item: string, input: string, defaultUser: string, defaultPort: number): HostSpec {
  let rest = item.trim()
  let user = defaultUser
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    user = rest.slice(0, at)
    rest = rest.slice(at + 1)
    if (!USERNAME.test(user)) throw new InputError(input, `'${printable(user)}' in '${printable(item)}' is not a valid user name`)
  }
  let host = rest
  let port = defaultPort
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(rest)
  if (bracketed) {
    host = bracketed[1]
    if (bracketed[2]) port = Number(bracketed[2])
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    const [h, p] = rest.split(':')
    host = h
    if (!/^\d+$/.test(p)) throw new InputError(input, `'${printable(p)}' in '${printable(item)}' is not a port number`)
    port = Number(p)
  } else if (rest.includes(':') && !/^[0-9A-Fa-f:.]+$/.test(rest)) {
    throw new InputError(input, `'${printable(item)}' is not [user@]host[:port]`)
  }
  const ipv6 = host.includes(':') && /^[0-9A-Fa-f:.]+$/.test(host)
  if (!ipv6 && !HOSTNAME.test(host)) {
    throw new InputError(input, `'${printable(item)}' is not a host name or address`, 'Expected [user@]host[:port], e.g. deploy@app.example.org:22.')
  }
  if (port < 1 || port > 65535) throw new InputError(input, `port ${port} in '${printable(item)}' is out of range`)
  const shown = host.includes(':') ? `[${host}]` : host
  return { host, port, user, label: `${user}@${shown}${port === 22 ? '' : `:${port}`}` }
}

/** Register a value that must never be shown (core.setSecret plus our own redaction). */
export type SecretSink = (value: string) => void

export function getConnectionSettings(source: InputSource, secret: SecretSink): ConnectionSettings {
  const name = (n: string) => source.describe(n)
  // Mask secrets first: nothing below may print them, but an error message might quote.
  for (const s of [Input.PrivateKey, Input.Passphrase, Input.Password, Input.JumpPrivateKey, Input.JumpPassphrase]) {
    const v = source.get(s)
    if (v !== undefined) secret(v)
  }
  const env = parseEnvLines(source.get(Input.Env), name(Input.Env))
  Object.values(env).forEach(secret)

  const user = source.get(Input.User)?.trim() ?? 'deploy'
  if (!USERNAME.test(user)) throw new InputError(name(Input.User), `'${printable(user)}' is not a valid user name`)
  const port = parseInteger(source.get(Input.Port), name(Input.Port), 22, 1, 65535)
  const hostItems = splitList(source.get(Input.Host))
  if (hostItems.length === 0) throw new InputError(name(Input.Host), 'is required', 'Give one or more hosts, e.g. deploy@app.example.org.')
  const hosts = hostItems.map(h => parseHost(h, name(Input.Host), user, port))
  const seen = new Set<string>()
  for (const h of hosts) {
    if (seen.has(h.label)) throw new InputError(name(Input.Host), `${h.label} is listed twice`)
    seen.add(h.label)
  }

  const passphrase = source.get(Input.Passphrase)
  const keyText = source.get(Input.PrivateKey)
  const privateKey = keyText === undefined ? undefined : loadPrivateKey(keyText, passphrase, name(Input.PrivateKey), name(Input.Passphrase))
  const password = source.get(Input.Password)
  if (!privateKey && password === undefined) {
    throw new InputError(name(Input.PrivateKey), 'is required (or a password)', 'Store the deploy key in a secret and pass it as private-key.')
  }

  const knownHostsText = source.get(Input.KnownHosts)
  const known = parseKnownHosts(knownHostsText ?? '')
  if (known.invalid.length) {
    const first = known.invalid[0]
    throw new InputError(name(Input.KnownHosts), `line ${first.line}: ${first.reason}`, 'Paste lines as `ssh-keyscan -p PORT HOST` prints them.')
  }
  const fingerprints = splitList(source.get(Input.Fingerprint)).map(f => {
    const fp = parseFingerprint(f)
    if (!fp) throw new InputError(name(Input.Fingerprint), `'${printable(f)}' is not a SHA256 fingerprint`, 'Expected SHA256: followed by 43 base64 characters, as `ssh-keygen -lf` prints.')
    return fp
  })
  const skip = parseBoolean(source.get(Input.InsecureSkipHostKeyCheck), name(Input.InsecureSkipHostKeyCheck), false)

  const jumpItem = source.get(Input.JumpHost)
  let jump: ConnectionSettings['jump']
  if (jumpItem !== undefined) {
    const jumpKeyText = source.get(Input.JumpPrivateKey)
    jump = {
      host: parseHost(jumpItem, name(Input.JumpHost), user, 22),
      privateKey:
        jumpKeyText === undefined
          ? privateKey
          : loadPrivateKey(jumpKeyText, source.get(Input.JumpPassphrase), name(Input.JumpPrivateKey), name(Input.JumpPassphrase)),
      password,
    }
  }

  return {
    hosts,
    privateKey,
    password,
    hostKeys: { knownHosts: known.entries, fingerprints, skip },
    jump,
    connectTimeoutMs: parseDuration(source.get(Input.ConnectTimeout), name(Input.ConnectTimeout), 30_000),
    commandTimeoutMs: parseDuration(source.get(Input.CommandTimeout), name(Input.CommandTimeout), 30 * 60_000),
    parallel: parseInteger(source.get(Input.Parallel), name(Input.Parallel), hosts.length, 1, 1000),
    failFast: parseBoolean(source.get(Input.FailFast), name(Input.FailFast), true),
    env,
  }
}
