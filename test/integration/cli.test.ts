// The `slipway` command (bin/slipway.js -> dist/cli/index.js) against the real test
// sshd, from a terminal's point of view: log on stderr, outputs on stdout, exit status;
// and slipway.yml as both the CLI and the action bundle read it.

import { spawn } from 'child_process'
import { randomBytes } from 'crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join, resolve } from 'path'
import { describe, expect, it } from 'vitest'
import { ACTIONS } from '../../src/actions/index'
import { ACTION_NAMES } from '../../src/inputs/schema'
import { readActionYaml, runAction } from './support/runner'
import { freshAppDir, server } from './support/server'

const ROOT = resolve(__dirname, '../..')
const KEY_FILE = server.env.SLIPWAY_TEST_KEY
/** The test sshd's host key, as ssh-keyscan prints it. */
const KNOWN_HOSTS = `[127.0.0.1]:2222 ${readFileSync(`${server.state}/keys/host_ed25519.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`

interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/** A fresh terminal: an empty home, a working directory, and only PATH and HOME set. */
function terminal(): { home: string; cwd: string; env: Record<string, string> } {
  const base = mkdtempSync(join(tmpdir(), 'slipway-cli-'))
  const home = join(base, 'home')
  const cwd = join(base, 'work')
  mkdirSync(home)
  mkdirSync(cwd)
  return { home, cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home } }
}

function slipway(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<CliRun> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/slipway.js'), ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', c => (stdout += c))
  child.stderr.on('data', c => (stderr += c))
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  return new Promise(done =>
    child.on('close', code => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    }),
  )
}

const marker = () => `/tmp/slipway-cli-marker-${randomBytes(6).toString('hex')}`

describe('slipway CLI', () => {
  it('runs a command on the server: the log on stderr, outputs as name=value on stdout', async () => {
    const t = terminal()
    writeFileSync(join(t.cwd, 'known_hosts'), KNOWN_HOSTS)
    const r = await slipway(
      ['run', '--host', '127.0.0.1:2222', '--user', 'deploy', '--private-key-file', KEY_FILE, '--known-hosts-file', 'known_hosts', '--run', 'echo hi', '--capture'],
      t,
    )
    expect(r.stderr).toContain('hi')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe('exit-code=0')
    expect(lines[1]).toBe('stdout=hi')
    expect(JSON.parse(lines[2].replace(/^hosts=/, ''))).toEqual([expect.objectContaining({ host: 'deploy@127.0.0.1:2222', status: 'ok', stdout: 'hi\n' })])
    expect(r.stderr).not.toContain('exit-code=')
  })

  it('exits 1 when the script fails, with the exit code as an output and the reason on stderr', async () => {
    const t = terminal()
    writeFileSync(join(t.cwd, 'kh'), KNOWN_HOSTS)
    const r = await slipway(['run', '--host', server.host, '--user', 'deploy', '--private-key-file', KEY_FILE, '--known-hosts-file', 'kh', '--run', 'echo before\nexit 3'], t)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('exit-code=3\n')
    expect(r.stderr).toMatch(/error: .*deploy@127\.0\.0\.1:2222: step 'run' failed with exit code 3/)
  })

  it("uses ~/.ssh/id_ed25519 and ~/.ssh/known_hosts when neither is given, as ssh would", async () => {
    const t = terminal()
    mkdirSync(join(t.home, '.ssh'))
    copyFileSync(KEY_FILE, join(t.home, '.ssh/id_ed25519'))
    writeFileSync(join(t.home, '.ssh/known_hosts'), `# from ssh-keyscan\n@cert-authority *.example.org ssh-ed25519 AAAAnot-a-key\n${KNOWN_HOSTS}`)
    const r = await slipway(['run', '--host', 'deploy@127.0.0.1:2222', '--run', 'whoami', '--capture'], t)
    expect(r.stderr).toContain('Using the key ~/.ssh/id_ed25519')
    expect(r.stderr).toContain('Host keys from ~/.ssh/known_hosts')
    expect(r.stderr).toContain('warning: ~/.ssh/known_hosts: skipped line 2, which slipway cannot read')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('stdout=deploy\n')
  })

  it('reads secrets from SLIPWAY_* variables, and warns when one is typed as an option', async () => {
    const t = terminal()
    writeFileSync(join(t.cwd, 'kh'), KNOWN_HOSTS)
    const fromEnv = await slipway(['run', '--host', server.host, '--user', 'deploy', '--known-hosts-file', 'kh', '--run', 'echo key-from-env'], {
      ...t,
      env: { ...t.env, SLIPWAY_PRIVATE_KEY: server.key },
    })
    expect(fromEnv.code).toBe(0)
    expect(fromEnv.stderr).toContain('key-from-env')
    expect(fromEnv.stderr).not.toContain('warning')

    const typed = await slipway(['run', '--host', server.host, '--user', 'deploy', '--known-hosts-file', 'kh', '--password', server.password, '--run', 'echo pw-ok'], t)
    expect(typed.code).toBe(0)
    expect(typed.stderr).toContain('warning: --password was given on the command line, where other users see it (ps)')
    expect(typed.stderr).toContain('pw-ok')
    expect(typed.stderr + typed.stdout).not.toContain(server.password)
  })

  it('takes settings from slipway.yml in the current directory; options override them', async () => {
    const t = terminal()
    const app = freshAppDir('cli-config')
    const other = freshAppDir('cli-config-other')
    writeFileSync(join(t.cwd, 'slipway.yml'), [`host: [${server.host}]`, 'user: deploy', 'known-hosts: |', `  ${KNOWN_HOSTS.trim()}`, `path: ${app}`, 'env:', '  GREETING: hello-from-config', ''].join('\n'))
    const args = ['run', '--private-key-file', KEY_FILE, '--run', 'echo "$PWD $GREETING $EXTRA"', '--capture']

    const fromFile = await slipway([...args, '--env', 'EXTRA=extra-from-flag'], t)
    expect(fromFile.stderr).toContain('Settings from slipway.yml: host, user, known-hosts, path, env (options override them)')
    expect(fromFile.code).toBe(0)
    // env values are masked like secrets; the exported variables reach the script.
    expect(fromFile.stdout).toContain(`stdout=${app} *** ***\n`)

    const overridden = await slipway([...args, '--path', other], t)
    expect(overridden.code).toBe(0)
    expect(overridden.stdout).toContain(`stdout=${other} ***`)
  })

  it('reports a misspelt key in slipway.yml with file and line, before connecting', async () => {
    const t = terminal()
    const m = marker()
    writeFileSync(join(t.cwd, 'slipway.yml'), `# deploy settings\nuser: deploy\nhots: ${server.host}\n`)
    const r = await slipway(['run', '--private-key-file', KEY_FILE, '--run', `touch ${m}`], t)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("error: slipway.yml:3: key 'hots' is not a slipway setting (did you mean 'host'?)")
    expect(r.stdout).toBe('')
    expect(existsSync(m)).toBe(false)
  })

  it("names the file and line of a value the action rejects, from --config", async () => {
    const t = terminal()
    mkdirSync(join(t.cwd, 'deploy'))
    writeFileSync(join(t.cwd, 'deploy/prod.yml'), `host: ${server.host}\nuser: deploy\npath: srv/app\n`)
    const r = await slipway(['run', '--config', 'deploy/prod.yml', '--private-key-file', KEY_FILE, '--run', 'true'], t)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("'path' (deploy/prod.yml line 3)")
    expect(r.stderr).toContain("'srv/app' must be an absolute path")
  })

  it('refuses a secret in slipway.yml without printing it', async () => {
    const t = terminal()
    const m = marker()
    writeFileSync(join(t.cwd, 'slipway.yml'), `host: ${server.host}\nuser: deploy\npassword: ${server.password}\n`)
    const r = await slipway(['run', '--run', `touch ${m}`], t)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("error: slipway.yml:3: 'password' is a secret, and a config file is committed with the code")
    expect(r.stderr).toContain('--password-file PATH or SLIPWAY_PASSWORD')
    expect(r.stderr).not.toContain(server.password)
    expect(existsSync(m)).toBe(false)
  })

  it('--help lists the inputs of actions/run/action.yml with their descriptions, and the terminal defaults', async () => {
    const t = terminal()
    const r = await slipway(['run', '--help'], t)
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const flat = r.stdout.replace(/\s+/g, ' ')
    for (const [name, input] of Object.entries(readActionYaml('run').inputs ?? {})) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}--(no-)?${name}\\b`, 'm'))
      expect(flat).toContain(String((input as { description: string }).description).replace(/\s+/g, ' '))
    }
    expect(flat).toContain('From a terminal: ~/.ssh/known_hosts when neither known-hosts nor fingerprint is given')
    expect(flat).toContain('the first of ~/.ssh/id_ed25519, ~/.ssh/id_ecdsa, ~/.ssh/id_rsa that exists')
  })

  it('rejects an unknown option with a suggestion and exit status 2, running nothing', async () => {
    const t = terminal()
    const r = await slipway(['run', '--hots', server.host, '--run', 'true'], t)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('slipway: unknown option --hots (did you mean --host?)\n  → See slipway run --help.\n')
  })

  it('says cleanly when an action is not available yet', async () => {
    const missing = ACTION_NAMES.find(a => !ACTIONS[a])
    if (!missing) return // every action has landed
    const r = await slipway([missing, '--host', 'x'], terminal())
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(new RegExp(`^slipway: 'slipway ${missing}' is not available yet in this version\\n {2}→ Available now: .*run`))
  })
})

describe('slipway.yml in an action step', () => {
  function workspace(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-ws-'))
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true })
      writeFileSync(join(dir, path), text)
    }
    return dir
  }
  const settings = (path: string) => [`host: ${server.host}`, 'user: deploy', 'known-hosts: |', `  ${KNOWN_HOSTS.trim()}`, `path: ${path}`, ''].join('\n')

  it('reads slipway.yml from GITHUB_WORKSPACE; inputs override it', async () => {
    const app = freshAppDir('action-config')
    const other = freshAppDir('action-config-other')
    const dir = workspace({ 'slipway.yml': settings(app) })
    const r = await runAction('run', { 'private-key': server.key, run: 'pwd', capture: 'true' }, { cwd: dir, env: { GITHUB_WORKSPACE: dir } })
    expect(r.log).toContain('Settings from slipway.yml: host, user, known-hosts, path (inputs override them)')
    expect(r.exitCode).toBe(0)
    expect(r.outputs.stdout).toBe(app)

    const overridden = await runAction('run', { 'private-key': server.key, run: 'pwd', capture: 'true', path: other }, { cwd: dir })
    expect(overridden.exitCode).toBe(0)
    expect(overridden.outputs.stdout).toBe(other)
  })

  it('reads the file named by the config input, and fails when it is missing', async () => {
    const app = freshAppDir('action-config-named')
    const dir = workspace({ 'deploy/production.yml': settings(app) })
    const r = await runAction('run', { 'private-key': server.key, run: 'pwd', capture: 'true', config: 'deploy/production.yml' }, { cwd: dir })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.stdout).toBe(app)

    const missing = await runAction('run', { 'private-key': server.key, run: 'true', config: 'deploy/staging.yml' }, { cwd: dir })
    expect(missing.exitCode).toBe(1)
    expect(missing.errors.join('\n')).toContain(`Input 'config': deploy/staging.yml does not exist (looked in ${dir})`)
  })

  it('fails the step on a bad key or a secret in the file, naming file and line', async () => {
    const m = marker()
    const bad = workspace({ 'slipway.yml': `${settings('/tmp')}parallel: two\n` })
    const r = await runAction('run', { 'private-key': server.key, run: `touch ${m}` }, { cwd: bad })
    expect(r.exitCode).toBe(1)
    expect(r.errors).toEqual(["slipway.yml:6: 'parallel' must be a whole number"])
    expect(existsSync(m)).toBe(false)

    const secret = workspace({ 'slipway.yml': `${settings('/tmp')}private-key: |\n  ${server.key.trim().split('\n').join('\n  ')}\n` })
    const s = await runAction('run', { run: `touch ${m}` }, { cwd: secret })
    expect(s.exitCode).toBe(1)
    expect(s.errors.join('\n')).toContain("slipway.yml:6: 'private-key' is a secret, and a config file is committed with the code")
    expect(s.raw).not.toContain(server.key.split('\n')[1])
    expect(existsSync(m)).toBe(false)
  })
})
