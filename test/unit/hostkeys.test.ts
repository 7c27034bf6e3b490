import { execFileSync } from 'child_process'
import { createHmac, randomBytes } from 'crypto'
import { mkdtempSync, readFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { describe, expect, it } from 'vitest'
import { fingerprint, hostFieldMatches, keyType, parseFingerprint, parseKnownHosts, preferredHostKeyTypes, verifyHostKey } from '../../src/ssh/hostkeys'

const dir = mkdtempSync(join(tmpdir(), 'hk-'))
function makeKey(type: string): { blob: Buffer; line: string; fp: string } {
  const f = join(dir, `${type}-${randomBytes(3).toString('hex')}`)
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', f])
  const line = readFileSync(`${f}.pub`, 'utf8').trim()
  const fp = execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]
  return { blob: Buffer.from(line.split(' ')[1], 'base64'), line: line.split(' ').slice(0, 2).join(' '), fp }
}
const ed = makeKey('ed25519')
const rsa = makeKey('rsa')
const other = makeKey('ed25519')

describe('fingerprint', () => {
  it('matches ssh-keygen -lf', () => {
    expect(fingerprint(ed.blob)).toBe(ed.fp)
    expect(fingerprint(rsa.blob)).toBe(rsa.fp)
    expect(keyType(rsa.blob)).toBe('ssh-rsa')
  })
  it('parses user-given fingerprints, padded or not', () => {
    expect(parseFingerprint(`${ed.fp}=`)).toBe(ed.fp)
    expect(parseFingerprint(' ' + ed.fp + '\n')).toBe(ed.fp)
    expect(parseFingerprint('MD5:aa:bb')).toBeUndefined()
    expect(parseFingerprint('SHA256:short')).toBeUndefined()
  })
})

describe('known_hosts', () => {
  it('parses plain, port, hashed, marker and comment lines, and reports bad ones', () => {
    const salt = randomBytes(20)
    const hash = createHmac('sha1', salt).update('[web1]:2222').digest('base64')
    const text = [
      '# comment',
      `web1,10.0.0.1 ${ed.line}`,
      `|1|${salt.toString('base64')}|${hash} ${rsa.line}`,
      `@revoked * ${other.line}`,
      'garbage',
      `web2 ssh-ed25519 AAAA`,
    ].join('\r\n')
    const p = parseKnownHosts(text)
    expect(p.entries.map(e => e.line)).toEqual([2, 3, 4])
    expect(p.invalid.map(i => i.line)).toEqual([5, 6])
    expect(hostFieldMatches(p.entries[1].hosts, 'web1', 2222)).toBe(true)
    expect(hostFieldMatches(p.entries[1].hosts, 'web1', 22)).toBe(false)
  })
  it('matches wildcards and negations like OpenSSH', () => {
    expect(hostFieldMatches('*.example.org,!bad.example.org', 'app.example.org', 22)).toBe(true)
    expect(hostFieldMatches('*.example.org,!bad.example.org', 'bad.example.org', 22)).toBe(false)
    expect(hostFieldMatches('web?', 'web1', 22)).toBe(true)
    expect(hostFieldMatches('[web1]:2222', 'web1', 2222)).toBe(true)
    expect(hostFieldMatches('web1', 'web1', 2222)).toBe(false)
  })
})

describe('verifyHostKey', () => {
  const known = parseKnownHosts(`web1 ${ed.line}\n@revoked * ${other.line}`).entries
  it('accepts the pinned key and refuses others, saying which was expected', () => {
    expect(verifyHostKey({ knownHosts: known, fingerprints: [], skip: false }, 'web1', 22, ed.blob)).toMatchObject({ ok: true, how: 'known-hosts' })
    const v = verifyHostKey({ knownHosts: known, fingerprints: [], skip: false }, 'web1', 22, rsa.blob)
    expect(v).toMatchObject({ ok: false, reason: 'mismatch', fingerprint: rsa.fp, expected: [`ssh-ed25519 ${ed.fp}`] })
  })
  it('accepts any of several fingerprints (key rotation)', () => {
    expect(verifyHostKey({ knownHosts: [], fingerprints: [other.fp, rsa.fp], skip: false }, 'x', 22, rsa.blob)).toMatchObject({ ok: true, how: 'fingerprint' })
  })
  it('refuses unpinned hosts unless skipping is explicit, and revoked keys always', () => {
    expect(verifyHostKey({ knownHosts: [], fingerprints: [], skip: false }, 'x', 22, ed.blob)).toMatchObject({ ok: false, reason: 'unpinned' })
    expect(verifyHostKey({ knownHosts: [], fingerprints: [], skip: true }, 'x', 22, ed.blob)).toMatchObject({ ok: true, how: 'skipped' })
    expect(verifyHostKey({ knownHosts: known, fingerprints: [], skip: true }, 'web9', 22, other.blob)).toMatchObject({ ok: false, reason: 'revoked' })
  })
  it('offers the pinned key types first', () => {
    const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
    const policy = { knownHosts: parseKnownHosts(`web1 ${rsa.line}`).entries, fingerprints: [], skip: false }
    expect(preferredHostKeyTypes(policy, 'web1', 22, all)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256'])
    expect(preferredHostKeyTypes(policy, 'web2', 22, all)).toEqual(all)
  })
})
