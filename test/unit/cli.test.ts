import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ACTIONS } from '../../src/actions/index'
import { parseCommandLine, type CommandLine, type CommandSpec } from '../../src/cli/args'
import { ACTION_META, actionHelp, commandSpecs, TERMINAL_DEFAULTS, usage } from '../../src/cli/help'
import { cliSettings, type Terminal } from '../../src/cli/source'
import { parseEnvLines } from '../../src/inputs/parse'
import { ACTION_NAMES, SETTINGS, type ActionName } from '../../src/inputs/schema'

const ROOT = join(__dirname, '../..')

const spec: CommandSpec = {
  inputs: {
    host: { kind: 'list', secret: false },
    path: { kind: 'string', secret: false },
    'private-key': { kind: 'multiline', secret: true },
    password: { kind: 'string', secret: true },
    passphrase: { kind: 'string', secret: true },
    'known-hosts': { kind: 'multiline', secret: false },
    fingerprint: { kind: 'list', secret: false },
    user: { kind: 'string', secret: false },
    env: { kind: 'env', secret: false },
    capture: { kind: 'boolean', secret: false },
    run: { kind: 'multiline', secret: false },
    config: { kind: 'string', secret: false },
    parallel: { kind: 'integer', secret: false },
  },
}
const specs = { run: spec }
const parsed = (...argv: string[]) => parseCommandLine(argv, specs) as Extract<CommandLine, { kind: 'run' }>
const usageError = (...argv: string[]): string => {
  try {
    parseCommandLine(argv, specs)
  } catch (err) {
    expect(err).toHaveProperty('name', 'UsageError')
    return (err as { describe(): string }).describe()
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`)
}

describe('parseCommandLine', () => {
  it('reads --input VALUE and --input=VALUE; repeatable inputs collect every occurrence', () => {
    const line = parsed('run', '--host', 'web1', '--host=web2', '--path', '/srv/app', '--env', 'A=1', '--env=B=x=y', '--run', '--', '--verbose')
    expect(line).toEqual({
      kind: 'run',
      command: 'run',
      verbose: true,
      warnings: [],
      flags: {
        host: [
          { flag: '--host', value: 'web1' },
          { flag: '--host', value: 'web2' },
        ],
        path: [{ flag: '--path', value: '/srv/app' }],
        env: [
          { flag: '--env', value: 'A=1' },
          { flag: '--env', value: 'B=x=y' },
        ],
        run: [{ flag: '--run', value: '--' }],
      },
    })
  })

  it('reads switches as --capture, --no-capture, --capture=false and --capture false', () => {
    expect(parsed('run', '--capture').flags.capture).toEqual([{ flag: '--capture', value: 'true' }])
    expect(parsed('run', '--no-capture').flags.capture).toEqual([{ flag: '--no-capture', value: 'false' }])
    expect(parsed('run', '--capture=false').flags.capture).toEqual([{ flag: '--capture', value: 'false' }])
    expect(parsed('run', '--capture', 'false', '--path', '/x').flags).toEqual({ capture: [{ flag: '--capture', value: 'false' }], path: [{ flag: '--path', value: '/x' }] })
  })

  it('reads --input-file PATH for any input with a value', () => {
    expect(parsed('run', '--private-key-file', '~/.ssh/id_ed25519', '--known-hosts-file=kh').flags).toEqual({
      'private-key': [{ flag: '--private-key-file', file: '~/.ssh/id_ed25519' }],
      'known-hosts': [{ flag: '--known-hosts-file', file: 'kh' }],
    })
  })

  it('warns when a secret is typed on the command line, not when it is read from a file', () => {
    expect(parsed('run', '--password', 'hunter2').warnings).toEqual([
      '--password was given on the command line, where other users see it (ps) and your shell history keeps it; use --password-file PATH or SLIPWAY_PASSWORD instead.',
    ])
    expect(parsed('run', '--password-file', '/run/pw', '--private-key-file', 'k').warnings).toEqual([])
  })

  it('rejects unknown options with a suggestion, and options of other actions by name', () => {
    expect(usageError('run', '--hots', 'web1')).toBe('unknown option --hots (did you mean --host?)\n  → See slipway run --help.')
    expect(usageError('run', '--privat-key-file', 'k')).toMatch(/^unknown option --privat-key-file \(did you mean --private-key-file\?\)/)
    expect(usageError('run', '--no-captur')).toMatch(/did you mean --no-capture\?/)
    expect(usageError('run', '--databases-file', 'db.yml')).toMatch(/^--databases-file is not an option of 'slipway run'; it belongs to release, snapshot, restore, rollback/)
    expect(usageError('run', '--frobnicate')).toBe('unknown option --frobnicate\n  → See slipway run --help.')
    // A switch has no file form, and the config file is named directly.
    expect(usageError('run', '--capture-file', 'x')).toMatch(/^unknown option --capture-file/)
    expect(usageError('run', '--config-file', 'x')).toMatch(/^unknown option --config-file/)
  })

  it('rejects a single-value input given twice, also as a value and a file', () => {
    expect(usageError('run', '--path', '/a', '--path', '/b')).toMatch(/^--path conflicts with --path given before it: path takes one value/)
    expect(usageError('run', '--private-key-file', 'a', '--private-key-file', 'b')).toMatch(/private-key takes one value/)
    expect(usageError('run', '--password-file', 'a', '--password', 'b')).toMatch(/^--password conflicts with --password-file/)
    expect(usageError('run', '--capture', '--no-capture')).toMatch(/^--no-capture conflicts with --capture/)
  })

  it('explains missing values and stray arguments', () => {
    expect(usageError('run', '--path')).toBe('--path needs a value')
    expect(usageError('run', '--path', '--host', 'x')).toBe('--path needs a value\n  → To pass a value that starts with --, write --path=--host.')
    expect(usageError('run', '--capture=maybe')).toMatch(/^--capture is true or false, not 'maybe'/)
    expect(usageError('run', '--no-capture=true')).toBe('--no-capture takes no value')
    expect(usageError('run', 'echo hi')).toMatch(/^unexpected argument 'echo hi'\n {2}→ Every value belongs to an option, e.g. --run 'echo hi'/)
    expect(usageError('run', '--capture', 'yes')).toMatch(/--capture is a switch: write --capture, --no-capture or --capture=false/)
    expect(usageError('run', '-host', 'x')).toMatch(/Options start with two dashes, e.g. --host/)
  })

  it('finds the action first, and says when it is not available yet', () => {
    expect(usageError('deploi')).toMatch(/^unknown action 'deploi'/)
    expect(usageError('rnu')).toMatch(/^unknown action 'rnu' \(did you mean 'run'\?\)/)
    expect(usageError('snapshot', '--host', 'x')).toBe("'slipway snapshot' is not available yet in this version\n  → Available now: run.")
    expect(usageError('--host', 'x', 'run')).toMatch(/^expected an action before the options/)
  })

  it('answers help in every usual form', () => {
    expect(parseCommandLine([], specs)).toEqual({ kind: 'help', bare: true })
    expect(parseCommandLine(['--help'], specs)).toEqual({ kind: 'help', command: undefined })
    expect(parseCommandLine(['help', 'run'], specs)).toEqual({ kind: 'help', command: 'run' })
    expect(parseCommandLine(['run', '--hots', 'x', '-h'], specs)).toEqual({ kind: 'help', command: 'run' })
  })
})

describe('the CLI and the action.yml files', () => {
  it('src/cli/actions.json is what the action.yml files say (run node scripts/cli-inputs.mjs)', () => {
    const expected: Record<string, unknown> = {}
    const files = [...readdirSync(join(ROOT, 'actions')).sort().map(n => `actions/${n}/action.yml`), 'action.yml'].filter(f => existsSync(join(ROOT, f)))
    for (const file of files) {
      type Described = { description?: string; required?: boolean }
      const y = parse(readFileSync(join(ROOT, file), 'utf8')) as { description: string; runs: { main: string }; inputs?: Record<string, Described>; outputs?: Record<string, Described> }
      const name = /dist\/([^/]+)\/index\.js$/.exec(y.runs.main)![1]
      if (expected[name]) continue
      expected[name] = {
        file,
        description: String(y.description).trim(),
        inputs: Object.fromEntries(Object.entries(y.inputs ?? {}).map(([k, v]) => [k, { description: String(v.description).trim(), ...(v.required ? { required: true } : {}) }])),
        outputs: Object.fromEntries(Object.entries(y.outputs ?? {}).map(([k, v]) => [k, String(v.description).trim()])),
      }
    }
    expect(ACTION_META, 'src/cli/actions.json is out of date: run node scripts/cli-inputs.mjs').toEqual(expected)
  })

  it('can run every registered action, and knows the inputs of each from its action.yml', () => {
    const available = commandSpecs()
    for (const name of Object.keys(ACTIONS) as ActionName[]) {
      expect(ACTION_META[name], `${name} is registered in src/actions/index.ts but has no action.yml (run node scripts/cli-inputs.mjs)`).toBeDefined()
      expect(Object.keys(available[name]!.inputs)).toEqual(Object.keys(ACTION_META[name]!.inputs))
      for (const [input, { kind, secret }] of Object.entries(available[name]!.inputs)) {
        expect({ kind, secret }).toEqual({ kind: SETTINGS[input].kind, secret: SETTINGS[input].secret === true })
      }
    }
  })

  it("--help lists every input with action.yml's description, and the terminal defaults", () => {
    const available = commandSpecs()
    for (const name of Object.keys(available) as ActionName[]) {
      const help = actionHelp(name, available[name]!)
      const flat = help.replace(/\s+/g, ' ')
      for (const [input, { description }] of Object.entries(ACTION_META[name]!.inputs)) {
        expect(help).toMatch(new RegExp(`^ {2}--(no-)?${input}\\b`, 'm'))
        expect(flat).toContain(description.replace(/\s+/g, ' '))
      }
      for (const [output, description] of Object.entries(ACTION_META[name]!.outputs)) {
        expect(help).toMatch(new RegExp(`^ {2}${output} `, 'm'))
        expect(flat).toContain(description.replace(/\s+/g, ' '))
      }
    }
    const run = actionHelp('run', available.run!)
    expect(run).toContain('  --private-key-file PATH  (secret: or SLIPWAY_PRIVATE_KEY)')
    expect(run).toContain('  --capture, --no-capture')
    expect(run).toContain('  --host LIST  (repeatable)')
    expect(run.replace(/\s+/g, ' ')).toContain('From a terminal: ~/.ssh/known_hosts when neither known-hosts nor fingerprint is given')
    for (const input of Object.keys(TERMINAL_DEFAULTS)) expect(SETTINGS).toHaveProperty([input])
  })

  it('lists every action in the usage, marking those not available yet', () => {
    const text = usage()
    for (const name of ACTION_NAMES) expect(text).toMatch(new RegExp(`^ {2}${name} `, 'm'))
    for (const name of ACTION_NAMES.filter(a => !commandSpecs()[a])) expect(text).toMatch(new RegExp(`^ {2}${name} +\\(not available yet`, 'm'))
  })
})

describe('where CLI settings come from', () => {
  function terminal(files: Record<string, string> = {}, env: Record<string, string> = {}): Terminal {
    const base = mkdtempSync(join(tmpdir(), 'slipway-cli-'))
    const home = join(base, 'home')
    const cwd = join(base, 'work')
    for (const [path, text] of Object.entries({ 'home/.keep': '', 'work/.keep': '', ...files })) {
      mkdirSync(join(base, path, '..'), { recursive: true })
      writeFileSync(join(base, path), text)
    }
    return { env, cwd, home }
  }
  const settings = (term: Terminal, ...argv: string[]) => cliSettings(parsed('run', ...argv), spec, term)
  const KNOWN = '[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjAjusXWfHz7y3DlVQBgR9P5jvPE2Y8jNtZ3rUVxHcC'

  it('ranks options over SLIPWAY_* variables over slipway.yml', () => {
    const term = terminal({ 'work/slipway.yml': 'user: from-file\npath: /from/file\nhost: web1\n' }, { SLIPWAY_USER: 'from-env', SLIPWAY_PATH: 'x' })
    const s = settings(term, '--path', '/from/flag')
    expect(s.source.get('user')).toBe('from-env')
    expect(s.source.describe('user')).toBe('SLIPWAY_USER')
    expect(s.source.get('path')).toBe('/from/flag')
    expect(s.source.describe('path')).toBe('--path')
    expect(s.source.get('host')).toBe('web1')
    expect(s.source.describe('host')).toBe("'host' (slipway.yml line 3)")
    expect(s.notes).toContain('Settings from slipway.yml: user, path, host (options override them)')
  })

  it('merges env from all of them', () => {
    const term = terminal({ 'work/slipway.yml': 'env:\n  A: file\n  B: file\n  C: file\n' }, { SLIPWAY_ENV: 'B=env\nC=env' })
    expect(parseEnvLines(settings(term, '--env', 'C=flag').source.get('env'), 'env')).toEqual({ A: 'file', B: 'env', C: 'flag' })
  })

  it('takes the config file from --config or SLIPWAY_CONFIG, and requires it then', () => {
    const term = terminal({ 'work/deploy/prod.yml': 'host: prod1\n' }, { SLIPWAY_CONFIG: 'deploy/prod.yml' })
    expect(settings(term).source.get('host')).toBe('prod1')
    expect(() => settings(term, '--config', 'deploy/nope.yml')).toThrow(/^Input '--config': deploy\/nope.yml does not exist/)
  })

  it('defaults to the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa, and to ~/.ssh/known_hosts', () => {
    const term = terminal({ 'home/.ssh/id_ecdsa': 'ECDSA KEY', 'home/.ssh/id_rsa': 'RSA KEY', 'home/.ssh/known_hosts': `${KNOWN}\n` })
    const s = settings(term)
    expect(s.source.get('private-key')).toBe('ECDSA KEY')
    expect(s.source.describe('private-key')).toBe('private-key (default ~/.ssh/id_ecdsa)')
    expect(s.source.get('known-hosts')).toBe(`${KNOWN}\n`)
    expect(s.notes).toEqual(['Using the key ~/.ssh/id_ecdsa', 'Host keys from ~/.ssh/known_hosts'])
    writeFileSync(join(term.home, '.ssh/id_ed25519'), 'ED KEY')
    expect(settings(term).source.get('private-key')).toBe('ED KEY')
  })

  it('takes no default for what is given some other way', () => {
    const term = terminal({ 'home/.ssh/id_ed25519': 'ED KEY', 'home/.ssh/known_hosts': KNOWN, 'work/slipway.yml': 'known-hosts: web1 ssh-ed25519 AAAA\n' }, { SLIPWAY_PASSWORD: 'pw' })
    const s = settings(term)
    expect(s.source.get('private-key')).toBeUndefined()
    expect(s.source.get('known-hosts')).toBe('web1 ssh-ed25519 AAAA')
    const bare = terminal({ 'home/.ssh/known_hosts': KNOWN })
    expect(settings(bare, '--fingerprint', 'SHA256:x').source.get('known-hosts')).toBeUndefined()
    expect(cliSettings(parsed('run'), { inputs: { ...spec.inputs, 'insecure-skip-host-key-check': { kind: 'boolean', secret: false } } }, { ...bare, env: { SLIPWAY_INSECURE_SKIP_HOST_KEY_CHECK: 'true' } }).source.get('known-hosts')).toBeUndefined()
  })

  it('skips the lines of ~/.ssh/known_hosts it cannot read, keeping line numbers, as ssh does', () => {
    const term = terminal({ 'home/.ssh/known_hosts': `@future-marker x y\n${KNOWN}\nweb1 ssh-ed25519 not-base64-of-ed25519\n` })
    const s = settings(term)
    expect(s.source.get('known-hosts')).toBe(`\n${KNOWN}\n\n`)
    expect(s.warnings).toEqual(['~/.ssh/known_hosts: skipped lines 1, 3, which slipway cannot read'])
  })

  it('reads --input-file: ~ expanded, relative to the current directory, one-line values without the final newline', () => {
    const term = terminal({ 'home/pass': 'secret\n\n', 'work/script.sh': 'echo one\necho two\n', 'work/hosts': 'web1\nweb2\n' })
    const s = settings(term, '--passphrase-file=~/pass', '--run-file', 'script.sh', '--host-file', 'hosts', '--host', 'web3')
    expect(s.source.get('passphrase')).toBe('secret')
    expect(s.source.describe('passphrase')).toBe('--passphrase-file ~/pass')
    expect(s.source.get('run')).toBe('echo one\necho two\n')
    expect(s.source.get('host')).toBe('web1\nweb2\n\nweb3')
    expect(() => settings(term, '--private-key-file', '~/nope')).toThrow("Input '--private-key-file': cannot read ~/nope: no such file")
    expect(() => settings(term, '--private-key-file', '~')).toThrow(/it is a directory/)
  })

  it('reads - as standard input, once', () => {
    const term = { ...terminal(), stdin: () => 'echo from stdin\n' }
    expect(settings(term, '--run-file', '-').source.get('run')).toBe('echo from stdin\n')
    expect(() => settings(term, '--run-file', '-', '--known-hosts-file', '-')).toThrow(/cannot read standard input again/)
  })

  it('points out a misspelt SLIPWAY_ variable, and ignores unrelated ones', () => {
    const term = terminal({}, { SLIPWAY_HOTS: 'web1', SLIPWAY_SKIP_SERVER_UP: '1', SLIPWAY_DATABASES: 'django' })
    expect(settings(term).warnings).toEqual(['SLIPWAY_HOTS is not a slipway setting and is ignored (did you mean SLIPWAY_HOST?)'])
  })
})
