// actions/run against the real test sshd, driven through dist/run/index.js exactly as
// the GitHub runner drives it.

import { createHmac, randomBytes } from 'crypto'
import { existsSync } from 'fs'
import { describe, expect, it } from 'vitest'
import { runAction } from './support/runner'
import { connection, freshAppDir, server, sh } from './support/server'

const marker = () => `/tmp/slipway-marker-${randomBytes(6).toString('hex')}`

describe('run action', () => {
  it('runs a script, streams its output and sets outputs and the summary', async () => {
    const dir = freshAppDir('run-ok')
    const r = await runAction('run', {
      ...connection(),
      path: dir,
      run: 'echo "in $(pwd) as $(whoami)"\necho second line >&2\necho done',
      capture: 'true',
    })
    expect(r.exitCode).toBe(0)
    expect(r.log).toContain(`in ${dir} as deploy`)
    expect(r.log).toContain('second line')
    expect(r.outputs['exit-code']).toBe('0')
    expect(r.outputs.stdout).toBe(`in ${dir} as deploy\ndone`)
    const hosts = JSON.parse(r.outputs.hosts)
    expect(hosts).toEqual([expect.objectContaining({ host: 'deploy@127.0.0.1:2222', status: 'ok', 'exit-code': 0 })])
    expect(r.summary).toMatch(/\| deploy@127\.0\.0\.1:2222 \| ✅ ok \|/)
  })

  it('fails the step at a failing line in the middle of a script and runs nothing after it', async () => {
    const after = marker()
    const r = await runAction('run', { ...connection(), run: `echo before\nls /definitely/not/here\ntouch ${after}` })
    expect(r.exitCode).toBe(1)
    expect(existsSync(after)).toBe(false)
    expect(r.outputs['exit-code']).toBe('2')
    expect(r.errors.join('\n')).toMatch(/step 'run' failed with exit code 2 at line 2: ls \/definitely\/not\/here/)
    expect(r.errors.join('\n')).toContain('No such file or directory')
  })

  it('a script with a syntax error runs none of its lines', async () => {
    const first = marker()
    const r = await runAction('run', { ...connection(), run: `touch ${first}\nif then fi (` })
    expect(r.exitCode).toBe(1)
    expect(existsSync(first)).toBe(false)
  })

  it('refuses an unpinned host before authenticating and prints its fingerprint and the input to add', async () => {
    const m = marker()
    const r = await runAction('run', { ...connection({ 'known-hosts': undefined }), run: `touch ${m}` })
    expect(r.exitCode).toBe(1)
    expect(existsSync(m)).toBe(false)
    expect(r.log).toContain(server.hostFingerprint)
    expect(r.log).toContain(`fingerprint: ${server.hostFingerprint}`)
    expect(r.log).toMatch(/known-hosts: \[127\.0\.0\.1\]:2222 ssh-ed25519 AAAA/)
    // Refused before authentication: sshd never saw a publickey attempt from this run.
  })

  it('refuses a host whose key does not match the pinned one, naming both', async () => {
    const m = marker()
    const wrong = sh(`ssh-keygen -lf ${server.state}/keys/impostor_host_ed25519.pub | awk '{print $2}'`).trim()
    const r = await runAction('run', { ...connection({ 'known-hosts': undefined, fingerprint: wrong }), run: `touch ${m}` })
    expect(r.exitCode).toBe(1)
    expect(existsSync(m)).toBe(false)
    expect(r.log).toContain('HOST KEY MISMATCH')
    expect(r.log).toContain(wrong)
    expect(r.log).toContain(server.hostFingerprint)
  })

  it('accepts a pinned fingerprint, and a hashed known_hosts entry', async () => {
    const byFp = await runAction('run', { ...connection({ 'known-hosts': undefined, fingerprint: `SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,${server.hostFingerprint}` }), run: 'true' })
    expect(byFp.exitCode).toBe(0)
    const salt = randomBytes(20)
    const hash = createHmac('sha1', salt).update('[127.0.0.1]:2222').digest('base64')
    const key = sh(`cut -d' ' -f1,2 ${server.state}/keys/host_ed25519.pub`).trim()
    const hashed = await runAction('run', { ...connection({ 'known-hosts': `|1|${salt.toString('base64')}|${hash} ${key}\r\n` }), run: 'true' })
    expect(hashed.exitCode).toBe(0)
  })

  it('with insecure-skip-host-key-check connects and warns with the key to pin', async () => {
    const r = await runAction('run', { ...connection({ 'known-hosts': undefined, 'insecure-skip-host-key-check': 'true' }), run: 'true' })
    expect(r.exitCode).toBe(0)
    expect(r.warnings.join('\n')).toContain(`host key NOT verified`)
    expect(r.warnings.join('\n')).toContain(server.hostFingerprint)
  })

  it('reports a rejected key as an authentication problem, not a host problem', async () => {
    const m = marker()
    const r = await runAction('run', { ...connection({ 'private-key': server.strangerKey }), run: `touch ${m}` })
    expect(r.exitCode).toBe(1)
    expect(existsSync(m)).toBe(false)
    expect(r.log).toMatch(/authentication as 'deploy' was rejected \(tried publickey \(ssh-ed25519 SHA256:/)
    expect(r.log).toContain('not the host')
  })

  it('uses a passphrase-protected PEM key with the right passphrase and names the input when it is wrong', async () => {
    const ok = await runAction('run', { ...connection({ 'private-key': server.passKey, passphrase: server.passphrase }), run: 'echo key-ok' })
    expect(ok.exitCode).toBe(0)
    expect(ok.log).toContain('key-ok')
    const bad = await runAction('run', { ...connection({ 'private-key': server.passKey, passphrase: 'not-the-passphrase' }), run: 'true' })
    expect(bad.exitCode).toBe(1)
    expect(bad.log).toContain("Input 'passphrase': does not decrypt 'private-key'")
    const none = await runAction('run', { ...connection({ 'private-key': server.passKey }), run: 'true' })
    expect(none.log).toContain("Input 'private-key': is encrypted")
  })

  it('accepts keys pasted with CRLF line endings, blank lines around and no final newline, and ECDSA keys', async () => {
    const mangled = `\r\n\r\n${server.key.trim().replace(/\n/g, '\r\n')}   \r\n\r\n`
    expect((await runAction('run', { ...connection({ 'private-key': mangled }), run: 'true' })).exitCode).toBe(0)
    expect((await runAction('run', { ...connection({ 'private-key': server.ecdsaKey.trim() }), run: 'true' })).exitCode).toBe(0)
  })

  it('authenticates with a password when no key is given', async () => {
    const r = await runAction('run', { ...connection({ 'private-key': undefined, password: server.password }), run: 'echo pw-ok' })
    expect(r.exitCode).toBe(0)
    expect(r.log).toContain('pw-ok')
  })

  it('reaches a host behind a jump host', async () => {
    const r = await runAction('run', {
      ...connection(),
      host: server.netnsHost(1),
      'jump-host': server.host,
      run: 'ip -o -4 addr show | grep -o "10\\.213\\.1\\.2" | head -1',
      capture: 'true',
    })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.stdout).toBe('10.213.1.2')
  })

  it('tells connection refused and unresolvable hosts apart', async () => {
    const refused = await runAction('run', { ...connection(), host: '127.0.0.1:2999', run: 'true' })
    expect(refused.log).toContain('connection refused on 127.0.0.1:2999')
    const unresolvable = await runAction('run', { ...connection(), host: 'no-such-host.invalid', run: 'true', 'connect-timeout': '5s' })
    expect(unresolvable.log).toContain("cannot resolve host name 'no-such-host.invalid'")
  })

  it('ends the whole remote process group when command-timeout runs out', async () => {
    const token = `slipway-timeout-${randomBytes(4).toString('hex')}`
    const r = await runAction('run', {
      ...connection(),
      'command-timeout': '2s',
      run: `bash -c 'exec -a ${token} sleep 300' &\nsleep 301`,
    })
    expect(r.exitCode).toBe(1)
    expect(r.log).toMatch(/timed out after 2\.0 s \(command-timeout\)/)
    await new Promise(res => setTimeout(res, 500))
    expect(sh(`pgrep -f '^${token}' || true`).trim()).toBe('')
    expect(sh(`pgrep -u deploy -f '^sleep 301' || true`).trim()).toBe('')
  })

  it('runs two hosts in parallel, with one summary row each', async () => {
    const stamp = `/tmp/slipway-par-${randomBytes(4).toString('hex')}`
    const r = await runAction('run', {
      ...connection(),
      host: `${server.host}\n${server.netnsHost(1)}`,
      'jump-host': server.host,
      run: `echo "$(date +%s.%N) start" >> ${stamp}; sleep 2; echo "$(date +%s.%N) end" >> ${stamp}`,
    })
    expect(r.exitCode).toBe(0)
    const events = sh(`cat ${stamp}`).trim().split('\n').map(l => l.split(' ')[1])
    // Both started before either ended.
    expect(events.slice(0, 2)).toEqual(['start', 'start'])
    expect(r.summary.match(/✅ ok/g)).toHaveLength(2)
    expect(r.durationMs).toBeLessThan(3900)
  })

  it('fails the step when one of several hosts fails, after all have finished', async () => {
    const r = await runAction('run', {
      ...connection(),
      host: `${server.host}, ${server.netnsHost(1)}`,
      'jump-host': server.host,
      run: 'sleep 1; ip -o -4 addr | grep -q 10.213.1.2 && exit 3 || true',
    })
    expect(r.exitCode).toBe(1)
    expect(r.summary).toMatch(/deploy@127\.0\.0\.1:2222 \| ✅ ok/)
    expect(r.summary).toMatch(/deploy@10\.213\.1\.2 \| ❌ failed/)
    expect(r.outputs['exit-code']).toBe('3')
  })

  it('keeps the passphrase and env secrets out of the log and the server process list', async () => {
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`
    const samples: string[] = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        samples.push(sh('ps -eo args'))
        await new Promise(res => setTimeout(res, 100))
      }
    })()
    const r = await runAction('run', {
      ...connection({ 'private-key': server.passKey, passphrase: server.passphrase }),
      env: `API_TOKEN=${secret}\nPLAIN=visible`,
      run: 'echo "token is $API_TOKEN"\necho "plain is $PLAIN"\nsleep 2\ntest -n "$API_TOKEN"',
      capture: 'true',
    })
    sampling = false
    await sampler
    expect(r.exitCode).toBe(0)
    expect(samples.length).toBeGreaterThan(5)
    // The script really ran with the secret (it echoed it; the log shows it masked).
    expect(r.log).toContain('token is ***')
    const allPs = samples.join('\n')
    expect(allPs).toContain('bash -se')
    for (const value of [secret, server.passphrase]) {
      expect(r.log).not.toContain(value)
      expect(r.summary).not.toContain(value)
      expect(JSON.stringify(r.outputs)).not.toContain(value)
      expect(allPs).not.toContain(value)
    }
  })

  it('rejects bad input with an error naming the input, before connecting', async () => {
    const r = await runAction('run', { ...connection(), host: 'deploy@web1;rm -rf /', run: 'true' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain("Input 'host': 'deploy@web1;rm -rf /' is not a host name or address")
    const env = await runAction('run', { ...connection(), env: 'not a pair', run: 'true' })
    expect(env.log).toContain("Input 'env': line 1 is not KEY=value")
  })
})
