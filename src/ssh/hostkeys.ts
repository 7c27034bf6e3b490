// Host key verification: the one decision that stands between a deploy key and an
// impostor. Pure functions over raw key blobs, so every rule has a unit test.

import { createHash, createHmac } from 'crypto'

/** OpenSSH's fingerprint: `SHA256:` + unpadded base64 of sha256(key blob). */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`
}

/** The algorithm name at the start of an SSH public key blob (`ssh-ed25519`, ...). */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown'
  const len = keyBlob.readUInt32BE(0)
  return len > 0 && len < 64 && keyBlob.length >= 4 + len ? keyBlob.subarray(4, 4 + len).toString('latin1') : 'unknown'
}

/** Normalise a user-supplied fingerprint; undefined when it is not one. */
export function parseFingerprint(text: string): string | undefined {
  const m = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(text.trim())
  return m ? `SHA256:${m[1]}` : undefined
}

export interface KnownHostEntry {
  marker?: 'cert-authority' | 'revoked'
  /** Comma-separated patterns, or a hashed `|1|salt|hash` entry. */
  hosts: string
  type: string
  key: Buffer
  /** 1-based line number in the input, for messages. */
  line: number
}

export interface KnownHostsParse {
  entries: KnownHostEntry[]
  /** Lines that are neither comments nor valid entries, with the reason. */
  invalid: { line: number; reason: string }[]
}

/** Parse known_hosts text as `ssh-keyscan` and `~/.ssh/known_hosts` produce it. */
export function parseKnownHosts(text: string): KnownHostsParse {
  const entries: KnownHostEntry[] = []
  const invalid: { line: number; reason: string }[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const fields = line.split(/\s+/)
    let marker: KnownHostEntry['marker']
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!.slice(1)
      if (m !== 'cert-authority' && m !== 'revoked') {
        invalid.push({ line: i + 1, reason: `unknown marker @${m}` })
        return
      }
      marker = m
    }
    const [hosts, type, b64] = fields
    if (!hosts || !type || !b64) {
      invalid.push({ line: i + 1, reason: 'expected "<hosts> <key type> <base64 key>"' })
      return
    }
    const key = Buffer.from(b64, 'base64')
    if (key.length === 0 || keyType(key) !== type) {
      invalid.push({ line: i + 1, reason: `the key does not decode as ${type}` })
      return
    }
    entries.push({ marker, hosts, type, key, line: i + 1 })
  })
  return { entries, invalid }
}

/** How known_hosts names a host: `name` on port 22, `[name]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function globToRegExp(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 'i')
}

/** Does the host field of an entry name this host (hashed entries, wildcards, negation)? */
export function hostFieldMatches(field: string, host: string, port: number): boolean {
  const name = knownHostsName(host, port)
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|')
    if (!salt || !hash) return false
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
    return digest === hash
  }
  let matched = false
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!')
    const p = negated ? pattern.slice(1) : pattern
    if (globToRegExp(p).test(name)) {
      if (negated) return false
      matched = true
    }
  }
  return matched
}

/** What the user told us to trust, for one connection. */
export interface HostKeyPolicy {
  knownHosts: KnownHostEntry[]
  fingerprints: string[]
  /** insecure-skip-host-key-check: accept anything, loudly. */
  skip: boolean
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; how: 'known-hosts' | 'fingerprint' | 'skipped' }
  | { ok: false; fingerprint: string; reason: 'unpinned' | 'mismatch' | 'revoked'; expected: string[] }

/** Decide whether the key a server presented is the one the user pinned. */
export function verifyHostKey(policy: HostKeyPolicy, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const fp = fingerprint(keyBlob)
  const forHost = policy.knownHosts.filter(e => hostFieldMatches(e.hosts, host, port))
  if (forHost.some(e => e.marker === 'revoked' && e.key.equals(keyBlob))) {
    return { ok: false, fingerprint: fp, reason: 'revoked', expected: [] }
  }
  const pinned = forHost.filter(e => e.marker === undefined)
  if (pinned.some(e => e.key.equals(keyBlob))) return { ok: true, fingerprint: fp, how: 'known-hosts' }
  if (policy.fingerprints.includes(fp)) return { ok: true, fingerprint: fp, how: 'fingerprint' }
  const expected = [...pinned.map(e => `${e.type} ${fingerprint(e.key)}`), ...policy.fingerprints]
  if (policy.skip) return { ok: true, fingerprint: fp, how: 'skipped' }
  return { ok: false, fingerprint: fp, reason: expected.length ? 'mismatch' : 'unpinned', expected }
}

/**
 * Host key algorithms to offer, those pinned for this host first. Like OpenSSH, this
 * makes the server present the key the user pinned when it has several.
 */
export function preferredHostKeyTypes(policy: HostKeyPolicy, host: string, port: number, all: string[]): string[] {
  const pinnedTypes = new Set(
    policy.knownHosts.filter(e => !e.marker && hostFieldMatches(e.hosts, host, port)).flatMap(e => algorithmsFor(e.type)),
  )
  if (pinnedTypes.size === 0) return all
  return [...all.filter(a => pinnedTypes.has(a)), ...all.filter(a => !pinnedTypes.has(a))]
}

/** RSA keys are negotiated under the rsa-sha2 names; the blob still says ssh-rsa. */
function algorithmsFor(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]
}
