import { spawnSync } from 'child_process'
import { describe, expect, it } from 'vitest'
import { parseMarker, renderScript, stepMarker, killGroup } from '../../src/commands/script'
import { cmd, combine, exportVar, heredoc, quote } from '../../src/commands/shell'

/** Run bash locally on a script (the same bash semantics the server has). */
function bash(script: string, stdin = ''): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-se'], { input: script + stdin, encoding: 'utf8' })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

describe('quote', () => {
  it('leaves plain words readable', () => {
    expect(quote('releases/20260101T000000Z-abc1234')).toBe('releases/20260101T000000Z-abc1234')
    expect(cmd('git', '--git-dir', '/srv/app/repo', 'rev-parse', 'HEAD')).toBe('git --git-dir /srv/app/repo rev-parse HEAD')
  })
  it('single-quotes everything else so that nothing is ever executed', () => {
    expect(quote("it's")).toBe(`'it'\\''s'`)
    expect(quote('')).toBe("''")
    for (const evil of ['$(touch /tmp/x)', '`id`', 'a;b', 'a\nb', "'; rm -rf / #", '$HOME', '*', '-rf', '\\', 'é ü', '\x01']) {
      expect(bash(`printf '%s' ${quote(evil)}`).stdout).toBe(evil)
    }
  })
  it('refuses NUL bytes', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/)
  })
  it('combines and exports', () => {
    expect(combine('a', '', 'b')).toBe('a && b')
    expect(exportVar('TOKEN', "x'y")).toBe(`export TOKEN='x'\\''y'`)
    expect(() => exportVar('BAD-NAME', 'x')).toThrow(/not a valid environment variable name/)
    expect(bash(heredoc('cat', 'line $HOME `id`\nSLIPWAY_EOF\nend')).stdout).toBe('line $HOME `id`\nSLIPWAY_EOF\nend\n')
  })
})

describe('renderScript', () => {
  const nonce = 'n0nce'
  it('runs the body under set -e and reports the failing line of the body', () => {
    const r = bash(renderScript({ step: 's', body: 'echo one\nfalse\necho two' }, { nonce }))
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('one\n')
    const fail = r.stderr.split('\n').map(l => parseMarker(l, nonce)).find(m => m?.kind === 'fail')
    expect(fail).toEqual({ kind: 'fail', code: 1, line: 2, command: 'false' })
  })
  it('reports the process group id first', () => {
    const r = bash(renderScript({ step: 's', body: 'true' }, { nonce }))
    expect(parseMarker(r.stderr.split('\n')[0], nonce)).toMatchObject({ kind: 'pgid' })
  })
  it('runs nothing when the script has a syntax error anywhere', () => {
    const r = bash(renderScript({ step: 's', body: 'echo ran\nif then (' }, { nonce }))
    expect(r.code).not.toBe(0)
    expect(r.stdout).toBe('')
  })
  it('keeps commands that read stdin from eating the rest of the script', () => {
    const r = bash(renderScript({ step: 's', body: 'cat\necho after' }, { nonce }))
    expect(r.stdout).toBe('after\n')
  })
  it('hands data after the script to the body when input is set', () => {
    const r = bash(renderScript({ step: 's', body: 'wc -c', input: true }, { nonce }), 'x'.repeat(1000))
    expect(r.stdout.trim()).toBe('1000')
  })
  it('exports env inside the stream, and redacts it for display', () => {
    const script = { step: 's', body: 'echo "$SECRET"', env: { SECRET: "p@ss w'rd" } }
    expect(bash(renderScript(script, { nonce })).stdout).toBe("p@ss w'rd\n")
    expect(renderScript(script, { nonce, redact: true })).not.toContain('p@ss')
  })
  it('changes directory first and fails when it is missing', () => {
    expect(bash(renderScript({ step: 's', body: 'pwd', cwd: '/tmp' }, { nonce })).stdout).toBe('/tmp\n')
    expect(bash(renderScript({ step: 's', body: 'echo no', cwd: '/no/such/dir' }, { nonce })).code).not.toBe(0)
  })
  it('uses set -u for our builders but not for user scripts', () => {
    expect(bash(renderScript({ step: 's', body: 'echo "${UNSET_VAR_X}"' }, { nonce })).code).not.toBe(0)
    expect(bash(renderScript({ step: 's', body: 'echo "${UNSET_VAR_X}"', strict: false }, { nonce })).code).toBe(0)
  })
  it('marks steps so one script can run several', () => {
    const r = bash(renderScript({ step: 's', body: `${stepMarker('migrate')}\necho x` }, { nonce }))
    const steps = r.stderr.split('\n').map(l => parseMarker(l, nonce)).filter(m => m?.kind === 'step')
    expect(steps).toEqual([{ kind: 'step', step: 'migrate' }])
    // A marker with another nonce (printed by a user's command) is ordinary output.
    expect(parseMarker('\x1eslipway:other:step:x', nonce)).toBeUndefined()
  })
  it('builds the kill command for a process group', () => {
    expect(killGroup(1234)).toBe('kill -TERM -- -1234 2>/dev/null; sleep 2; kill -KILL -- -1234 2>/dev/null; true')
  })
})
