// Private keys as users paste them into GitHub secrets: CRLF line endings, blank lines
// around, a missing final newline, a key squashed onto one line, literal "\n"s, PKCS#8
// PEM that ssh2 cannot read. All of these should just work; anything else gets an
// error that says which input is wrong and why.

import { createPrivateKey, randomBytes, type KeyObject } from 'crypto'
import { utils } from 'ssh2'
import { InputError } from '../report/errors'
import { fingerprint } from './hostkeys'

const ARMOR = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/

/** Repair the ways a key gets mangled on its way into a secret store. */
export function normalizeKeyText(text: string): string {
  let t = text.replace(/\r\n?/g, '\n')
  // A key pasted as one line with literal backslash-n separators.
  if (!t.includes('\n', t.indexOf('-----BEGIN') + 1) && t.includes('\\n')) t = t.replace(/\\n/g, '\n')
  const m = ARMOR.exec(t)
  if (m) {
    const label = m[1]
    const inner = m[2].trim()
    // PEM headers ("Proc-Type: 4,ENCRYPTED") keep their lines; the base64 body may have
    // lost its line breaks (spaces instead), so rewrap it at 64 or 70 columns as found.
    const innerLines = inner.split('\n').map(l => l.trim())
    const headers: string[] = []
    while (innerLines.length && /^[A-Za-z-]+:/.test(innerLines[0])) headers.push(innerLines.shift()!)
    if (headers.length && innerLines[0] === '') innerLines.shift()
    const body = innerLines.join('').replace(/\s+/g, '')
    const width = label === 'OPENSSH PRIVATE KEY' ? 70 : 64
    const wrapped = body.match(new RegExp(`.{1,${width}}`, 'g')) ?? []
    const head = headers.length ? `${headers.join('\n')}\n\n` : ''
    return `-----BEGIN ${label}-----\n${head}${wrapped.join('\n')}\n-----END ${label}-----\n`
  }
  t = t.trim()
  return t === '' ? '' : `${t}\n`
}

export interface LoadedKey {
  /** What ssh2 gets: OpenSSH or traditional PEM text. */
  privateKey: string
  passphrase?: string
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, ... */
  type: string
  /** Fingerprint of the public half, so errors can say which key was offered. */
  fingerprint: string
}

/**
 * Parse and validate a private key before connecting anywhere, so a bad key or a
 * wrong passphrase is reported against the input, not as a vague auth failure.
 */
export function loadPrivateKey(text: string, passphrase: string | undefined, input: string, passphraseInput: string): LoadedKey {
  let key = normalizeKeyText(text)
  if (key === '') throw new InputError(input, 'is empty')
  if (/^(ssh-|ecdsa-)\S+ [A-Za-z0-9+/=]+/.test(key) || key.includes('BEGIN SSH2 PUBLIC KEY')) {
    throw new InputError(input, 'holds a public key', 'Paste the private key (the file without .pub) into the secret.')
  }
  const label = ARMOR.exec(key)?.[1]
  if (label === 'PRIVATE KEY' || label === 'ENCRYPTED PRIVATE KEY') {
    key = fromPkcs8(key, passphrase, input, passphraseInput)
    passphrase = undefined
  }
  const parsed = utils.parseKey(key, passphrase)
  if (parsed instanceof Error) {
    const msg = parsed.message
    if (/no passphrase given|encrypted/i.test(msg) && !passphrase) {
      throw new InputError(input, 'is encrypted', `Set '${passphraseInput}' to the key's passphrase.`)
    }
    if (/bad passphrase|decrypt|Failed to/i.test(msg) && passphrase) {
      throw new InputError(passphraseInput, `does not decrypt '${input}'`, 'Check the passphrase secret.')
    }
    throw new InputError(input, `is not a private key ssh can use (${msg})`, 'Supported: OpenSSH and PEM keys (RSA, ECDSA, Ed25519).')
  }
  const k = Array.isArray(parsed) ? parsed[0] : parsed
  if (k.isPrivateKey && !k.isPrivateKey()) throw new InputError(input, 'holds a public key')
  return { privateKey: key, passphrase, type: k.type, fingerprint: fingerprint(k.getPublicSSH()) }
}

/** PKCS#8 ("BEGIN PRIVATE KEY") is what openssl writes by default; ssh2 cannot read it. */
function fromPkcs8(pem: string, passphrase: string | undefined, input: string, passphraseInput: string): string {
  let keyObject: KeyObject
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem', passphrase })
  } catch (err) {
    const msg = (err as Error).message
    if (/passphrase/i.test(msg) && !passphrase) throw new InputError(input, 'is encrypted', `Set '${passphraseInput}'.`)
    if (passphrase) throw new InputError(passphraseInput, `does not decrypt '${input}'`)
    throw new InputError(input, `is not a readable PKCS#8 key (${msg})`)
  }
  switch (keyObject.asymmetricKeyType) {
    case 'rsa':
      return keyObject.export({ type: 'pkcs1', format: 'pem' }).toString()
    case 'ec':
      return keyObject.export({ type: 'sec1', format: 'pem' }).toString()
    case 'ed25519':
      return ed25519ToOpenSsh(keyObject)
    default:
      throw new InputError(input, `holds a ${keyObject.asymmetricKeyType} key, which SSH cannot use`)
  }
}

function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b) : b
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  return Buffer.concat([len, data])
}

/** Write an unencrypted openssh-key-v1 container for an Ed25519 key. */
function ed25519ToOpenSsh(keyObject: KeyObject): string {
  const jwk = keyObject.export({ format: 'jwk' })
  const seed = Buffer.from(jwk.d!, 'base64url')
  const pub = Buffer.from(jwk.x!, 'base64url')
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)])
  const check = randomBytes(4)
  let priv = Buffer.concat([check, check, pubBlob, sshString(Buffer.concat([seed, pub])), sshString('')])
  const pad = Buffer.from(Array.from({ length: (8 - (priv.length % 8)) % 8 }, (_, i) => i + 1))
  priv = Buffer.concat([priv, pad])
  const count = Buffer.alloc(4)
  count.writeUInt32BE(1)
  const blob = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    count,
    sshString(pubBlob),
    sshString(priv),
  ])
  return normalizeKeyText(`-----BEGIN OPENSSH PRIVATE KEY-----\n${blob.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----`)
}
