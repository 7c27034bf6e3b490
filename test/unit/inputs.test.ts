import { execFileSync } from 'child_process'
import { generateKeyPairSync, randomBytes } from 'crypto'
import { mkdtempSync, readFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { describe, expect, it } from 'vitest'
import { getConnectionSettings, parseHost } from '../../src/inputs/connection'
import { parseBoolean, parseDuration, parseEnvLines, parseRemotePath, splitList, splitWords } from '../../src/inputs/parse'
import { layered, mapInputs } from '../../src/inputs/source'
import { loadPrivateKey, normalizeKeyText } from '../../src/ssh/keys'

const dir = mkdtempSync(join(tmpdir(), 'keys-'))
function sshKey(type: string, passphrase = '', format?: string): string {
  const f = join(dir, `${type}-${randomBytes(3).toString('hex')}`)
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-f', f, ...(format ? ['-m', format] : [])])
  return readFileSync(f, 'utf8')
}

describe('parseHost', () => {
  it('reads [user@]host[:port] and IPv6', () => {
    expect(parseHost('web1', 'host', 'deploy', 22)).toEqual({ host: 'web1', port: 22, user: 'deploy', label: 'deploy@web1' })
    expect(parseHost('app@10.0.0.5:2222', 'host', 'deploy', 22)).toMatchObject({ host: '10.0.0.5', port: 2222, user: 'app' })
    expect(parseHost('[::1]:2200', 'host', 'deploy', 22)).toMatchObject({ host: '::1', port: 2200, label: 'deploy@[::1]:2200' })
    expect(parseHost('fe80::1', 'host', 'deploy', 22)).toMatchObject({ host: 'fe80::1', port: 22 })
  })
  it('names the input and the item when it is wrong', () => {
    expect(() => parseHost('web1;id', 'host', 'deploy', 22)).toThrow("Input 'host': 'web1;id' is not a host name or address")
    expect(() => parseHost('-oProxyCommand=x', 'host', 'deploy', 22)).toThrow(/not a host name/)
    expect(() => parseHost('web1:ssh', 'host', 'deploy', 22)).toThrow(/'ssh' in 'web1:ssh' is not a port number/)
    expect(() => parseHost('web1:70000', 'host', 'deploy', 22)).toThrow(/out of range/)
    expect(() => parseHost('$(id)@web1', 'host', 'deploy', 22)).toThrow(/not a valid user name/)
  })
})

describe('value parsers', () => {
  it('splits lists on commas and newlines', () => {
    expect(splitList('a, b\n\nc\n# note\n')).toEqual(['a', 'b', 'c'])
  })
  it('parses durations', () => {
    expect(parseDuration('90', 'x', 0)).toBe(90_000)
    expect(parseDuration('1h30m', 'x', 0)).toBe(5_400_000)
    expect(parseDuration('250ms', 'x', 0)).toBe(250)
    expect(() => parseDuration('soon', 'command-timeout', 0)).toThrow("Input 'command-timeout': 'soon' is not a duration")
  })
  it('parses booleans strictly', () => {
    expect(parseBoolean('True', 'x', false)).toBe(true)
    expect(parseBoolean(undefined, 'x', true)).toBe(true)
    expect(() => parseBoolean('yes please', 'capture', false)).toThrow("Input 'capture'")
  })
  it('parses env lines with values containing = and quotes', () => {
    expect(parseEnvLines('A=1\n# c\n\nexport B="x=y"\nC=\'it is\'\nD=', 'env')).toEqual({ A: '1', B: 'x=y', C: 'it is', D: '' })
    expect(() => parseEnvLines('A=1\nbad line', 'env')).toThrow("Input 'env': line 2 is not KEY=value")
    expect(() => parseEnvLines('1A=1', 'env')).toThrow(/line 1/)
  })
  it('accepts only absolute, traversal-free paths', () => {
    expect(parseRemotePath('/srv/app/', 'path')).toBe('/srv/app')
    expect(() => parseRemotePath('srv/app', 'path')).toThrow(/absolute/)
    expect(() => parseRemotePath('/srv/../etc', 'path')).toThrow(/'\.\.'/)
    expect(() => parseRemotePath('/srv/a\nb', 'path')).toThrow(/control/)
  })
  it('splits manage arguments like a shell, without expanding anything', () => {
    expect(splitWords(`migrate app 0003 --database "other db" '$(id)'`, 'manage')).toEqual(['migrate', 'app', '0003', '--database', 'other db', '$(id)'])
    expect(() => splitWords('shell -c "print(1)', 'manage')).toThrow(/unclosed " quote/)
  })
})

describe('private keys', () => {
  const ed = sshKey('ed25519')
  it('repairs CRLF, blank lines, missing final newline, squashed and \\n-escaped keys', () => {
    expect(normalizeKeyText(`\r\n\r\n${ed.trim().replace(/\n/g, '\r\n')}  `)).toBe(ed)
    expect(normalizeKeyText(ed.trim().replace(/\n/g, ' '))).toBe(ed)
    expect(normalizeKeyText(ed.trim().replace(/\n/g, '\\n'))).toBe(ed)
  })
  it('loads OpenSSH, PEM and PKCS#8 keys of every common type', () => {
    for (const k of [ed, sshKey('ecdsa'), sshKey('rsa'), sshKey('rsa', '', 'PEM'), sshKey('ecdsa', '', 'PEM')]) {
      expect(loadPrivateKey(k, undefined, 'private-key', 'passphrase').fingerprint).toMatch(/^SHA256:/)
    }
    for (const type of ['ed25519', 'rsa', 'ec'] as const) {
      const { privateKey } = generateKeyPairSync(type as 'rsa', { modulusLength: 2048, namedCurve: 'P-256' } as never)
      const pem = (privateKey as unknown as { export(o: object): string }).export({ type: 'pkcs8', format: 'pem' })
      expect(loadPrivateKey(pem, undefined, 'private-key', 'passphrase').type).toMatch(/ed25519|rsa|ecdsa/)
    }
  })
  it('decrypts with the passphrase and names the right input when it is missing or wrong', () => {
    const enc = sshKey('ed25519', 'correct horse')
    expect(loadPrivateKey(enc, 'correct horse', 'private-key', 'passphrase').type).toBe('ssh-ed25519')
    expect(() => loadPrivateKey(enc, undefined, 'private-key', 'passphrase')).toThrow("Input 'private-key': is encrypted")
    expect(() => loadPrivateKey(enc, 'wrong', 'private-key', 'passphrase')).toThrow("Input 'passphrase': does not decrypt 'private-key'")
    const pem = sshKey('rsa', 'pem-passphrase', 'PEM')
    expect(() => loadPrivateKey(pem, 'wrong', 'private-key', 'passphrase')).toThrow("Input 'passphrase'")
  })
  it('explains a public key pasted by mistake', () => {
    expect(() => loadPrivateKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7 me@x', undefined, 'private-key', 'passphrase')).toThrow(/holds a public key/)
  })
})

describe('connection settings', () => {
  const key = sshKey('ed25519')
  it('requires a host, a credential, and valid known-hosts; masks secrets first', () => {
    const masked: string[] = []
    const s = getConnectionSettings(mapInputs({ host: 'web1, app@web2:2200', 'private-key': key, fingerprint: 'SHA256:' + 'A'.repeat(43), env: 'TOKEN=abc123' }), v => masked.push(v))
    expect(s.hosts.map(h => h.label)).toEqual(['deploy@web1', 'app@web2:2200'])
    expect(s.parallel).toBe(2)
    expect(masked).toContain(key)
    expect(masked).toContain('abc123')
    expect(() => getConnectionSettings(mapInputs({ 'private-key': key }), () => {})).toThrow("Input 'host': is required")
    expect(() => getConnectionSettings(mapInputs({ host: 'web1' }), () => {})).toThrow("Input 'private-key': is required")
    expect(() => getConnectionSettings(mapInputs({ host: 'web1', 'private-key': key, 'known-hosts': 'web1 ssh-ed25519' }), () => {})).toThrow("Input 'known-hosts': line 1")
    expect(() => getConnectionSettings(mapInputs({ host: 'web1,web1', 'private-key': key }), () => {})).toThrow(/listed twice/)
  })
  it('lets explicit inputs override a lower source', () => {
    const src = layered(mapInputs({ host: 'web2' }), mapInputs({ host: 'web1', user: 'app' }, n => `'${n}' (slipway.yml)`))
    expect(src.get('host')).toBe('web2')
    expect(src.get('user')).toBe('app')
    expect(src.describe('user')).toBe("'user' (slipway.yml)")
  })
})
