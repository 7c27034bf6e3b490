// Security: an impostor on the pinned address, every string input fuzzed, path
// traversal in ids, secrets kept out of every place a user or another local user could
// read, safe modes, and a local user who tries to take the app lock.

import { execFileSync } from 'child_process'
import { randomBytes } from 'crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { cleanUpApps, fixtureRepo, newApp, type App } from '../integration/support/app'
import { asDeploy, createPgDatabase, makeAppRoot, writeLocalSettings } from '../integration/support/fixture'
import { type ActionName } from '../integration/support/runner'
import { connection, server, sh } from '../integration/support/server'
import { live } from './lib/app'
import { sampleProcessList, sleep, until } from './lib/remote'
import { Checks, kase } from './lib/report'
import { readActionYaml, runToEnd, startAction, why, type FaultRun } from './lib/run'

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const SECTION = 'Security'

beforeAll(() => {
  fixtureRepo()
})
afterAll(cleanUpApps)

describe('a different server on the pinned address', () => {
  kase(SECTION, 'impostor', 'an sshd with another host key answers on the pinned address', async note => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-impostor-'))
    const port = 20000 + Math.floor(Math.random() * 20000)
    const log = join(dir, 'sshd.log')
    writeFileSync(
      join(dir, 'sshd.conf'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${server.state}/keys/impostor_host_ed25519`,
        `PidFile ${dir}/sshd.pid`,
        'AuthorizedKeysFile .ssh/authorized_keys',
        'UsePAM no',
        'StrictModes no',
        'PasswordAuthentication yes',
        'AllowUsers deploy',
        // DEBUG1 logs every authentication request, so "none" is a measured fact.
        'LogLevel DEBUG1',
        '',
      ].join('\n'),
    )
    sh(`/usr/sbin/sshd -f ${dir}/sshd.conf -E ${log}`)
    const canary = `/tmp/slipway-impostor-canary-${randomBytes(4).toString('hex')}`
    try {
      await until(() => existsSync(`${dir}/sshd.pid`), 5_000)
      const genuine = readFileSync(`${server.state}/keys/host_ed25519.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
      const c = new Checks()
      // The genuine host's known_hosts line, for the address the impostor answers on; then
      // the same with a fingerprint pin, and with a password (sent only after auth starts).
      const variants: [string, Record<string, string>][] = [
        ['known-hosts', { 'known-hosts': `[127.0.0.1]:${port} ${genuine}` }],
        ['fingerprint', { 'known-hosts': '', fingerprint: server.hostFingerprint }],
        ['password', { 'known-hosts': `[127.0.0.1]:${port} ${genuine}`, 'private-key': '', password: server.password }],
      ]
      for (const [name, pin] of variants) {
        const r = await runToEnd('run', { ...connection(), host: `127.0.0.1:${port}`, ...pin, path: '/tmp', run: `touch ${canary}` })
        c.check(r.exitCode === 1, `${name}: exited ${r.exitCode}`)
        c.check(/HOST KEY MISMATCH/.test(r.errors.join('\n')), `${name}: no host key mismatch error: ${why(r)}`)
        const unmasked = r.raw.split('\n').filter(l => !l.startsWith('::add-mask::')).join('\n')
        c.check(!unmasked.includes(server.password), `${name}: the password shows in the output`)
      }
      await sleep(300)
      const text = readFileSync(log, 'utf8')
      const auth = text.split('\n').filter(l => /userauth-request|Accepted|Failed (publickey|password|none)|Postponed|input_userauth/i.test(l))
      c.check(auth.length === 0, `the impostor's log shows authentication: ${auth.slice(0, 2).join(' / ')}`)
      c.check(!existsSync(canary), 'the command ran')
      const closes = text.split('\n').filter(l => /preauth|Connection closed|disconnect/i.test(l)).length
      note(`impostor sshd log: ${auth.length} authentication lines, ${closes} pre-auth disconnects`)
      c.done()
      return 'refused before authentication with known-hosts, fingerprint and password'
    } finally {
      sh(`kill $(cat ${dir}/sshd.pid 2>/dev/null) 2>/dev/null || true`)
    }
  })
})

// ---------------------------------------------------------------- fuzzing every string input

/** Inputs whose value is bash by design (documented as commands to run). */
const CODE_INPUTS = new Set(['run', 'restart', 'before-switch', 'after-switch', 'proxy-test', 'proxy-reload'])

function payloads(canary: string): { name: string; value?: string; raw?: Buffer }[] {
  const touch = `touch ${canary}`
  const meta = `v'"\`${touch}\`$(${touch});${touch}|${touch}&&${touch}\n${touch}\n#`
  const long = Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(`$(${touch});\`${touch}\`;'"`.repeat(Math.ceil(100_000 / 40)).slice(0, 100_000))])
  return [
    { name: 'metacharacters, quotes, $(), backticks, newlines', value: meta },
    { name: '100 KB, non-UTF-8', raw: long },
    { name: 'option injection', value: `--upload-pack=${touch}` },
  ]
}

interface Outcome {
  action: ActionName
  input: string
  payload: string
  exitCode: number | null
  named: boolean
  crash?: string
  error: string
}

/** Runs `jobs` at most `n` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++
        out[i] = await jobs[i]()
      }
    }),
  )
  return out
}

describe('every string input, fuzzed', () => {
  const canary = `/tmp/slipway-fuzz-canary-${randomBytes(4).toString('hex')}`
  const bases: Record<string, () => Record<string, string>> = {}
  const roots: string[] = []
  let app: App

  beforeAll(async () => {
    // Base inputs that make a run short but real: it connects and runs on the server.
    app = await newApp('fuzz')
    const r = await app.release('v1')
    expect(r.exitCode, why(r)).toBe(0)
    const r2 = await app.release('v2')
    expect(r2.exitCode, why(r2)).toBe(0)
    // Release fuzz runs in parallel, each on its own app (the lock would serialise them).
    for (let i = 0; i < 4; i++) {
      const root = makeAppRoot(`fuzz-rel${i}`)
      asDeploy(`mkdir -p ${root}/shared/fixture`)
      writeLocalSettings(`${root}/shared/fixture/local_settings.py`, { db: app.db, mediaRoot: `${root}/shared/media` })
      roots.push(root)
    }
    let turn = 0
    const lean = { migrate: 'false', collectstatic: 'false', restart: '', proxy: 'none', 'health-url': '', 'health-timeout': '2s', 'lock-timeout': '2m' }
    bases.release = () => ({ ...(app.inputs({ ref: 'v2', force: 'true', ...lean }) as Record<string, string>), path: roots[turn++ % roots.length] })
    const { shared: _s, 'working-directory': _w, 'system-site-packages': _p, ref: _r, ...common } = app.inputs() as Record<string, string>
    bases.rollback = () => ({ ...common, 'dry-run': 'true', 'health-timeout': '2s' })
    bases.run = () => ({ ...connection(), path: app.root, run: 'true' } as Record<string, string>)
    bases.snapshot = () => ({ ...connection(), path: roots[turn++ % roots.length], volumes: `- ${app.root}/shared/media`, compression: 'none' } as Record<string, string>)
  })

  for (const action of ['run', 'snapshot', 'rollback', 'release'] as const) {
    kase(SECTION, `fuzz-${action}`, `every string input of ${action === 'release' ? 'action.yml' : `actions/${action}/action.yml`} fuzzed`, async note => {
      const declared = Object.keys(readActionYaml(action).inputs ?? {})
      const fuzzed = declared.filter(i => !CODE_INPUTS.has(i))
      const jobs: (() => Promise<Outcome>)[] = []
      for (const input of fuzzed) {
        for (const p of payloads(canary)) {
          jobs.push(async () => {
            const base = bases[action]()
            if (input === 'manage') delete base.run
            const inputs = { ...base, [input]: p.value ?? '' }
            const r: FaultRun = await runToEnd(action, inputs, { rawInputs: p.raw ? { [input]: p.raw } : undefined, timeoutMs: 120_000 })
            const text = `${r.errors.join('\n')}\n${r.log}`
            // A JavaScript error escaping to the user instead of a message about the input.
            const crash = /TypeError|RangeError|ReferenceError|SyntaxError|Cannot read properties|is not a function|Maximum call stack|a NUL byte cannot be passed|Unhandled|^Node\.js v/m.exec(text)?.[0]
            // "shared entries missing on the server: <path>" names the input by its meaning.
            const named = text.includes(`'${input}'`) || (input === 'shared' && /shared entries missing on the server/.test(text))
            return { action, input, payload: p.name, exitCode: r.exitCode, named, crash, error: why(r) }
          })
        }
      }
      const outcomes = await pool(jobs, 4)
      const c = new Checks()
      c.check(!existsSync(canary), `EXECUTED: the canary ${canary} exists`)
      const refused = outcomes.filter(o => o.exitCode !== 0)
      // Values that passed validation as data and then failed on the server (manage.py
      // refusing an unknown command) say which step ran them; only refusals made by
      // slipway itself must name the input.
      const onServer = refused.filter(o => !o.named && /step '.*' failed/.test(o.error))
      const unnamed = refused.filter(o => !o.named && !onServer.includes(o))
      const crashes = outcomes.filter(o => o.crash)
      c.check(crashes.length === 0, `uncaught errors: ${crashes.slice(0, 3).map(o => `${o.input} (${o.payload}): ${o.error}`).join(' / ')}`)
      const byInput = [...new Set(unnamed.map(o => o.input))].map(i => {
        const o = unnamed.find(u => u.input === i)!
        return `${i} (${o.payload}): "${o.error.slice(0, 90)}"`
      })
      c.check(unnamed.length === 0, `${unnamed.length} refusals do not name the input: ${byInput.join(' / ')}`)
      note(`${fuzzed.length} inputs × 3 payloads = ${outcomes.length} runs; ${refused.length - onServer.length - unnamed.length} refused naming the input, ${onServer.length} ran as data and failed on the server (${[...new Set(onServer.map(o => o.input))].join(', ') || 'none'}), ${outcomes.length - refused.length} accepted as data; canary never created; not fuzzed (bash by design): ${declared.filter(i => CODE_INPUTS.has(i)).join(', ') || 'none'}`)
      c.done()
      return ''
    }, 900_000)
  }

  kase(SECTION, 'fuzz-nul', 'a NUL byte in an input', async note => {
    // The runner passes inputs as environment variables, which cannot hold a NUL; a
    // config file can (YAML "\0"), so that is where one reaches slipway.
    let envRefused = false
    try {
      await runToEnd('run', { ...connection(), path: `/tmp\0x`, run: 'true' })
    } catch {
      envRefused = true
    }
    const dir = mkdtempSync(join(tmpdir(), 'slipway-nul-'))
    const c = new Checks()
    for (const [key, value] of [
      ['path', '"/tmp\\0; touch /tmp/slipway-nul-canary"'],
      ['manage', '"check\\0--settings=x"'],
    ] as const) {
      writeFileSync(join(dir, 'slipway.yml'), `${key}: ${value}\n`)
      const base = { ...connection(), path: key === 'path' ? undefined : app.root, run: key === 'manage' ? undefined : 'true', config: join(dir, 'slipway.yml') }
      const r = await runToEnd('run', base, { cwd: dir })
      c.check(r.exitCode === 1, `${key} with NUL: exited ${r.exitCode}`)
      c.check(r.log.includes(`'${key}'`), `${key} with NUL: the error does not name it: ${why(r)}`)
      note(`${key}: ${why(r)}`)
    }
    c.check(!existsSync('/tmp/slipway-nul-canary'), 'EXECUTED')
    c.done()
    return envRefused ? 'an environment variable cannot carry NUL (spawn refuses); through slipway.yml it is refused naming the key' : 'refused naming the key'
  })
})

// ---------------------------------------------------------------- path traversal

describe('path traversal in release and snapshot ids', () => {
  let app: App
  beforeAll(async () => {
    app = await newApp('traversal')
    expect((await app.release('v1')).exitCode).toBe(0)
    expect((await app.release('v2')).exitCode).toBe(0)
  })

  kase(SECTION, 'traversal-ids', "release ids (rollback 'to') and snapshot labels with ../, absolute paths, newlines", async note => {
    const { shared: _s, 'working-directory': _w, 'system-site-packages': _p, ref: _r, ...common } = app.inputs() as Record<string, string>
    const c = new Checks()
    const before = live(app.root)
    for (const to of ['../../etc', '/etc/passwd', '20200101T000000Z-abcdef0/../../..', '20200101T000000Z-abcdef0\n../x', '..', 'releases/../current']) {
      const r = await runToEnd('rollback', { ...common, to, force: 'true' })
      c.check(r.exitCode === 1 && r.log.includes("Input 'to'"), `to=${JSON.stringify(to)}: ${r.exitCode === 0 ? 'ACCEPTED' : why(r)}`)
    }
    for (const label of ['../../x', '/abs', 'a/b', '..', 'x\n../y']) {
      const r = await runToEnd('snapshot', { ...connection(), path: app.root, volumes: `- ${app.root}/shared/media`, label })
      c.check(r.exitCode === 1 && r.log.includes("'label'"), `label=${JSON.stringify(label)}: ${r.exitCode === 0 ? `ACCEPTED as ${r.outputs.snapshot}` : why(r)}`)
    }
    c.check(live(app.root) === before, 'the live release changed')
    const outside = readdirSync(app.root).filter(n => !['current', 'releases', 'shared', 'venvs', 'repo', 'snapshots', '.slipway'].includes(n))
    c.check(outside.length === 0, `unexpected entries in the app root: ${outside.join(', ')}`)
    note('6 rollback targets and 5 labels tried')
    c.done()
    return 'all refused naming the input'
  })

  kase(SECTION, 'traversal-symlinks', 'symlinks planted in snapshots/ and releases/ pointing outside', async note => {
    const victim = `/srv/slipway/victim-${randomBytes(4).toString('hex')}`
    const c = new Checks()
    try {
      // Outside the app, readable and writable by deploy: what a careless rm -rf or a
      // followed link would destroy or leak.
      asDeploy(`mkdir -p ${victim}/data && echo precious > ${victim}/data/file && printf '%s' '{"format":1,"id":"20200101T000000Z","time":"2020-01-01T00:00:00Z","host":"x","bytes":0,"durationMs":0,"items":[]}' > ${victim}/manifest.json`)
      asDeploy(`mkdir -p ${app.root}/snapshots && ln -sfn ${victim} ${app.root}/snapshots/20200101T000000Z && ln -sfn ${victim} ${app.root}/snapshots/.tmp-20200101T000001Z`)
      asDeploy(`ln -sfn ${victim} ${app.root}/releases/20200101T000000Z-abcdef0`)
      const download = mkdtempSync(join(tmpdir(), 'slipway-trav-dl-'))
      const snap = await runToEnd('snapshot', { ...connection(), path: app.root, volumes: `- ${app.root}/shared/media`, keep: 'last=1', download })
      c.check(snap.exitCode === 0, `the snapshot failed: ${why(snap)}`)
      note(`snapshot with keep last=1: ${snap.outputs.pruned ?? ''} pruned`)
      const rel = await app.release('v1')
      c.check(rel.exitCode === 0, `the release failed: ${why(rel)}`)
      c.check(existsSync(`${victim}/data/file`) && readFileSync(`${victim}/data/file`, 'utf8') === 'precious\n', 'the directory outside the app was deleted or changed through a planted link')
      const leaked = readdirSync(download, { recursive: true }).map(String).filter(f => f.includes('victim') || f.includes('data/file'))
      c.check(leaked.length === 0, `downloaded from outside: ${leaked.join(', ')}`)
      note(`outside directory intact; links left: ${['snapshots/20200101T000000Z', 'releases/20200101T000000Z-abcdef0'].filter(l => { try { return statSync(`${app.root}/${l}`) && true } catch { return false } }).join(', ') || 'none'}`)
    } finally {
      sh(`rm -rf ${victim}`)
    }
    c.done()
    return 'nothing outside the app was followed'
  })
})

// ---------------------------------------------------------------- secrets

/** Every text a secret must not appear in, besides the process list. */
function exposures(r: FaultRun, secret: string, files: Record<string, string>): string[] {
  const raw = r.raw
    .split('\n')
    .filter(l => !l.startsWith('::add-mask::'))
    .join('\n')
  return Object.entries({ 'step log': r.log, 'raw stdout': raw, summary: r.summary, outputs: JSON.stringify(r.outputs), ...files })
    .filter(([, text]) => text.includes(secret))
    .map(([where]) => where)
}

/** Text of every file slipway writes under the app root (release log, manifests, lock, meta). */
function serverFiles(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const list = execFileSync('bash', ['-c', `find ${q(`${root}/.slipway`)} ${q(`${root}/snapshots`)} -type f \\( -name '*.json' -o -name '*.jsonl' -o -name '*.sh' -o -name '*.log' -o -name 'holder' -o -name 'migrations' \\) 2>/dev/null || true`], { encoding: 'utf8' })
  for (const f of list.split('\n').filter(Boolean)) out[f.slice(root.length + 1)] = readFileSync(f, 'utf8')
  return out
}

describe('secrets', () => {
  kase(SECTION, 'secrets', 'private key, passphrase, password and database passwords stay out of logs, summary, outputs, ps and server files', async note => {
    const app = await newApp('secrets')
    const db = createPgDatabase()
    const envSecret = `env-secret-${randomBytes(8).toString('hex')}`
    const keyLines = server.passKey.split('\n').filter(l => l.length > 40 && !l.startsWith('-----'))
    const secrets: Record<string, string> = {
      passphrase: server.passphrase,
      password: server.password,
      'database password': server.dbPassword,
      'env value': envSecret,
      'private key (a line of it)': keyLines[Math.floor(keyLines.length / 2)],
    }
    const ps = sampleProcessList(50)
    const c = new Checks()
    const runs: [string, FaultRun][] = []
    try {
      runs.push(['release v1 (key + passphrase)', await runToEnd('release', app.inputs({ ref: 'v1', 'private-key': server.passKey, passphrase: server.passphrase, env: `SECRET_TOKEN=${envSecret}` }))])
      // The pre-release snapshot of a PostgreSQL database with a password.
      runs.push([
        'release v2 with a snapshot (password auth)',
        await runToEnd(
          'release',
          app.inputs({
            ref: 'v2',
            'private-key': '',
            password: server.password,
            env: `SECRET_TOKEN=${envSecret}`,
            databases: `- engine: postgres\n  name: ${db.name}\n  host: 127.0.0.1\n  user: app\n  password: ${server.dbPassword}`,
          }),
        ),
      ])
      runs.push([
        'snapshot',
        await runToEnd('snapshot', {
          ...connection(),
          'private-key': server.passKey,
          passphrase: server.passphrase,
          path: app.root,
          databases: `- engine: postgres\n  name: ${db.name}\n  host: 127.0.0.1\n  user: app\n  password: ${server.dbPassword}`,
        }),
      ])
    } finally {
      const sampled = ps.stop()
      for (const [name, r] of runs) c.check(r.exitCode === 0, `${name} failed: ${why(r)}`)
      const files = serverFiles(app.root)
      for (const [what, secret] of Object.entries(secrets)) {
        for (const [name, r] of runs) {
          const where = exposures(r, secret, files)
          c.check(where.length === 0, `${what} in ${name}: ${where.join(', ')}`)
        }
        c.check(!sampled.text.includes(secret), `${what} in the server's process list`)
      }
      note(`${runs.length} runs; process list sampled ${sampled.samples} times; ${Object.keys(files).length} server files checked (${Object.keys(files).slice(0, 6).join(', ')}…)`)
      db.drop()
    }
    c.done()
    return 'no secret found anywhere'
  })
})

// ---------------------------------------------------------------- modes and another local user

describe('file modes and a hostile local user', () => {
  let app: App
  beforeAll(async () => {
    app = await newApp('modes')
    expect((await app.release('v1')).exitCode).toBe(0)
    const s = await runToEnd('snapshot', { ...connection(), path: app.root, volumes: `- ${app.root}/shared/media` })
    expect(s.exitCode, why(s)).toBe(0)
  })

  kase(SECTION, 'modes', 'modes of what slipway creates on the server', async note => {
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8).padStart(4, '0')
    const snapshot = readdirSync(`${app.root}/snapshots`).find(n => !n.startsWith('.'))!
    const item = readdirSync(`${app.root}/snapshots/${snapshot}`)[0]
    const listed: [string, string, string][] = [
      ['.slipway', mode(`${app.root}/.slipway`), '0700'],
      ['.slipway/releases.jsonl', mode(`${app.root}/.slipway/releases.jsonl`), ''],
      ['snapshots', mode(`${app.root}/snapshots`), '0700'],
      [`snapshots/<id>`, mode(`${app.root}/snapshots/${snapshot}`), '0700'],
      [`snapshots/<id>/${item.replace(/^\d+-/, '*-')}`, mode(`${app.root}/snapshots/${snapshot}/${item}`), '0600'],
      ['releases', mode(`${app.root}/releases`), ''],
      ['repo', mode(`${app.root}/repo`), ''],
    ]
    // The lock directory exists only during a run: look while one holds it.
    const slow = startAction('run', { ...connection(), path: app.root, run: 'sleep 3' })
    await sleep(200)
    const r = startAction('release', app.inputs({ ref: 'v2', 'before-switch': 'sleep 2' }))
    const seen = await until(() => existsSync(`${app.root}/.slipway/lock/pid`), 20_000, 20)
    if (seen !== undefined) listed.push(['.slipway/lock', mode(`${app.root}/.slipway/lock`), '0700'], ['.slipway/lock/holder', mode(`${app.root}/.slipway/lock/holder`), ''])
    await until(() => existsSync(`${app.root}/.slipway/lock/recovery.sh`), 20_000, 20)
    if (existsSync(`${app.root}/.slipway/lock/recovery.sh`)) listed.push(['.slipway/lock/recovery.sh', mode(`${app.root}/.slipway/lock/recovery.sh`), '0700 or 0600'])
    await Promise.all([slow.done, r.done])
    const c = new Checks()
    // The boundaries other users meet must be closed; what lies inside .slipway (0700)
    // may be 0755/0644, but nothing anywhere may be writable by group or others.
    for (const [path, m, want] of listed) {
      if (want && !path.startsWith('.slipway/')) c.check(want.split(' or ').includes(m), `${path} is ${m}, expected ${want}`)
      c.check((parseInt(m, 8) & 0o022) === 0, `${path} is ${m}: writable by group or others`)
    }
    note(listed.map(([p, m]) => `${p} ${m}`).join(', '))
    c.done()
    return ''
  })

  kase(SECTION, 'intruder', "another local user (intruder) tries to take, replace or plant into the app lock", async note => {
    const asIntruder = (cmd: string) => {
      try {
        execFileSync('su', ['-s', '/bin/bash', 'intruder', '-c', cmd], { stdio: 'pipe' })
        return true
      } catch {
        return false
      }
    }
    const meta = `${app.root}/.slipway`
    const attempts: [string, string][] = [
      ['create the lock', `mkdir ${meta}/lock`],
      ['replace the lock', `rm -rf ${meta}/lock; mkdir ${meta}/lock && echo 1 > ${meta}/lock/pid`],
      ['plant recovery.sh', `mkdir -p ${meta}/lock && echo 'touch /tmp/slipway-intruder-canary' > ${meta}/lock/recovery.sh`],
      ['read the holder', `cat ${meta}/lock/holder`],
      ['read the release log', `cat ${meta}/releases.jsonl`],
      ['write the release log', `echo x >> ${meta}/releases.jsonl`],
      ['list snapshots', `ls ${app.root}/snapshots`],
      ['replace current', `ln -sfn /tmp ${app.root}/current.x && mv -T ${app.root}/current.x ${app.root}/current`],
      ['write into releases/', `touch ${app.root}/releases/x`],
    ]
    const c = new Checks()
    // During a run too, when the lock directory exists.
    const r = startAction('release', app.inputs({ ref: 'v1', force: 'true', 'before-switch': 'sleep 3' }))
    await until(() => existsSync(`${meta}/lock/recovery.sh`), 20_000, 20)
    for (const [what, cmd] of attempts) c.check(!asIntruder(cmd), `intruder could ${what}`)
    const run = await r.done
    c.check(run.exitCode === 0, `the release failed: ${why(run)}`)
    c.check(!existsSync('/tmp/slipway-intruder-canary'), 'the planted recovery ran')
    note(`${attempts.length} attempts, during a release: ${attempts.map(a => a[0]).join(', ')}`)
    c.done()
    return 'every attempt refused'
  })
})
