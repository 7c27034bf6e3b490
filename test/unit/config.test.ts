import { generateKeyPairSync } from 'crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { beforeEach, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { actionSource, ConfigError, layeredSettings, loadConfig, parseConfig } from '../../src/inputs/config'
import { getConnectionSettings } from '../../src/inputs/connection'
import { Input } from '../../src/inputs/names'
import { parseEnvLines } from '../../src/inputs/parse'
import { ACTION_NAMES, CLI_OPTIONS, SETTINGS } from '../../src/inputs/schema'
import { mapInputs } from '../../src/inputs/source'
import { closest } from '../../src/inputs/suggest'

const ROOT = join(__dirname, '../..')

/** The message (and hint) of what `fn` throws, as the user would read it. */
function failure(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return (err as { describe?: () => string }).describe?.() ?? String(err)
  }
  throw new Error('expected an error')
}

describe('slipway.yml values', () => {
  const text = [
    '# settings that rarely change', // 1
    'host: [web1, app@web2:2200]', // 2
    'user: deploy', // 3
    'port: 2222', // 4
    'path: /srv/app', // 5
    'capture: true', // 6
    'connect-timeout: 1m30s', // 7
    'fingerprint: SHA256:abc, SHA256:def', // 8
    'restart:', // 9
    '  - kill -HUP $(cat /run/app.pid)', // 10
    '  - systemctl restart huey', // 11
    'run: |', // 12
    '  echo "${HOME}" # bash sees this as written', // 13
    '  date', // 14
    'databases:', // 15
    '  - engine: postgres', // 16
    '    name: 0123', // 17
    '    port: 5432', // 18
    '    password-env: DB_PASSWORD', // 19
    '  - django', // 20
    'volumes: [/srv/app/shared/media, volume:app_data]', // 21
    'env:', // 22
    '  DJANGO_SETTINGS_MODULE: app.settings', // 23
    `  QUOTED: '"kept" '`, // 24
    'python: ~', // 25
    'keep: last=7,daily=14', // 26
  ].join('\n')
  // Parsed in each test, so that a schema mistake fails these tests, not the whole file.
  let config: ReturnType<typeof parseConfig>
  beforeEach(() => {
    config = parseConfig(text, 'slipway.yml')
  })

  it('turns scalars into strings and lists into lines, as the multi-line inputs hold them', () => {
    expect(config.get('host')).toBe('web1\napp@web2:2200')
    expect(config.get('port')).toBe('2222')
    expect(config.get('capture')).toBe('true')
    expect(config.get('connect-timeout')).toBe('1m30s')
    expect(config.get('fingerprint')).toBe('SHA256:abc, SHA256:def')
    expect(config.get('restart')).toBe('kill -HUP $(cat /run/app.pid)\nsystemctl restart huey')
    expect(config.get('keep')).toBe('last=7,daily=14')
  })

  it('keeps ${...} as written: bash on the server expands it, slipway never does', () => {
    expect(config.get('run')).toBe('echo "${HOME}" # bash sees this as written\ndate\n')
  })

  it('passes structured values on as YAML that reads back to the same strings', () => {
    // Actions parse databases and volumes with the failsafe schema, like this.
    expect(parse(config.get('databases')!, { schema: 'failsafe' })).toEqual([{ engine: 'postgres', name: '0123', port: '5432', 'password-env': 'DB_PASSWORD' }, 'django'])
    expect(parse(config.get('volumes')!, { schema: 'failsafe' })).toEqual(['/srv/app/shared/media', 'volume:app_data'])
    expect(parseConfig('databases: django', 'c.yml').get('databases')).toBe('django')
  })

  it('writes env as KEY=value lines that keep every character of the values', () => {
    expect(parseEnvLines(config.get('env'), 'env')).toEqual({ DJANGO_SETTINGS_MODULE: 'app.settings', QUOTED: '"kept" ' })
    expect(parseEnvLines(parseConfig('env: |\n  A=1\n  B=2\n', 'c.yml').get('env'), 'env')).toEqual({ A: '1', B: '2' })
  })

  it('treats ~, null and empty values as not given', () => {
    expect(config.get('python')).toBeUndefined()
    expect(parseConfig('user:\npath: ""\n', 'c.yml').keys).toEqual([])
    expect(parseConfig('# nothing yet\n', 'c.yml').keys).toEqual([])
    expect(parseConfig('', 'c.yml').keys).toEqual([])
  })

  it('names the file and line of each setting, for the actions\' own errors', () => {
    expect(config.describe('path')).toBe("'path' (slipway.yml line 5)")
    expect(config.describe('databases')).toBe("'databases' (slipway.yml line 15)")
    expect(config.keys).toEqual(['host', 'user', 'port', 'path', 'capture', 'connect-timeout', 'fingerprint', 'restart', 'run', 'databases', 'volumes', 'env', 'keep'])
  })
})

describe('slipway.yml errors name the file, the line and the key', () => {
  const at = (text: string) => failure(() => parseConfig(text, 'deploy/slipway.yml'))

  it('rejects unknown keys, suggesting the setting meant', () => {
    expect(at('host: web1\nuser: deploy\npath: /srv/app\n\n\n# next\nhots: web2\n')).toBe("deploy/slipway.yml:7: key 'hots' is not a slipway setting (did you mean 'host'?)")
    expect(at('known_hosts: x')).toContain("(did you mean 'known-hosts'?)")
    expect(at('colour: blue')).toMatch(/^deploy\/slipway.yml:1: key 'colour' is not a slipway setting\n {2}→ Settings are the action input names/)
  })

  it('checks kinds where the line is still known', () => {
    expect(at('host: web1\nuser: deploy\nparallel: lots\n')).toBe("deploy/slipway.yml:3: 'parallel' must be a whole number")
    expect(at('capture: yes')).toBe("deploy/slipway.yml:1: 'capture' must be true or false")
    expect(at('connect-timeout: soon')).toMatch(/:1: 'connect-timeout' must be a duration/)
    expect(at('path:\n  - /a\n  - /b\n')).toBe("deploy/slipway.yml:2: 'path' must be a single value, not a list")
    expect(at('user: {name: x}')).toMatch(/:1: 'user' must be a single value, not a mapping/)
    expect(at('host:\n  - web1\n  - [web2, web3]\n')).toBe("deploy/slipway.yml:3: 'host' must be a list of single values")
    expect(at('env:\n  OK: 1\n  not-a-name: 2\n')).toMatch(/^deploy\/slipway.yml:3: 'env': 'not-a-name' is not an environment variable name/)
    expect(at('env: [A=1, broken]')).toMatch(/'env' \(deploy\/slipway.yml line 1\)/)
  })

  it('reports invalid YAML, duplicate keys and a file that is not a mapping', () => {
    expect(at('host: web1\npath: /a: b\n')).toMatch(/^deploy\/slipway.yml:2: is not valid YAML/)
    expect(at('host: web1\nuser: a\nhost: web2\n')).toMatch(/^deploy\/slipway.yml:3: is not valid YAML: Map keys must be unique/)
    expect(at('- host: web1\n')).toMatch(/^deploy\/slipway.yml:1: must be a mapping of settings/)
  })

  it('refuses secrets, without repeating them, and says where they belong', () => {
    for (const key of ['private-key', 'passphrase', 'password', 'jump-private-key', 'jump-passphrase']) {
      const message = at(`host: web1\n${key}: s3cr3t-value\n`)
      expect(message).toMatch(new RegExp(`^deploy/slipway.yml:2: '${key}' is a secret, and a config file is committed with the code`))
      expect(message).toContain(`--${key}-file`)
      expect(message).not.toContain('s3cr3t-value')
    }
    // Also when it is written as a reference: nothing in this file is ever expanded.
    expect(at('password: ${DB_PASSWORD}')).toMatch(/'password' is a secret/)
    expect(at('password: ${{ secrets.DB_PASSWORD }}')).toMatch(/'password' is a secret/)
  })

  it('refuses database passwords, pointing at password-env', () => {
    const message = at('databases:\n  - engine: postgres\n    name: app\n  - engine: mariadb\n    name: shop\n    password: hunter2\n')
    expect(message).toMatch(/^deploy\/slipway.yml:6: 'databases' item 2 has a password, and a config file is committed with the code/)
    expect(message).toContain('password-env: NAME')
    expect(message).not.toContain('hunter2')
    expect(at('databases:\n  engine: postgres\n  password: x\n')).toMatch(/:3: 'databases' item 1 has a password/)
  })

  it('refuses GitHub expressions, which only workflow files evaluate', () => {
    expect(at('host: web1\nuser: ${{ vars.USER }}\n')).toMatch(/^deploy\/slipway.yml:2: 'user' holds a GitHub expression/)
    expect(at('restart:\n  - ok\n  - echo ${{ github.sha }}\n')).toMatch(/:3: 'restart' holds a GitHub expression/)
  })

  it('refuses a password inside a URL', () => {
    expect(at('repository: https://bot:ghp_abc@github.com/org/app.git')).toMatch(/:1: 'repository' holds a password in a URL/)
    expect(parseConfig('repository: git@github.com:org/app.git\nhealth-url: http://127.0.0.1:8000/health', 'c.yml').keys).toEqual(['repository', 'health-url'])
  })

  it('refuses settings that belong to a single run', () => {
    expect(at('break-lock: true')).toMatch(/^deploy\/slipway.yml:1: 'break-lock' cannot be set in deploy\/slipway.yml/)
    expect(at('dry-run: true')).toMatch(/'dry-run' cannot be set/)
    expect(at('config: other.yml')).toMatch(/'config' cannot be set/)
  })
})

describe('inputs over slipway.yml', () => {
  const config = () => parseConfig('host: web1\nuser: app\nport: 99999\nenv:\n  A: from-file\n  B: from-file\n', 'slipway.yml')

  it('lets inputs win and names where each value came from', () => {
    const source = layeredSettings(mapInputs({ host: 'web2' }), config())
    expect(source.get('host')).toBe('web2')
    expect(source.get('user')).toBe('app')
    expect(source.describe('host')).toBe('host')
    expect(source.describe('user')).toBe("'user' (slipway.yml line 2)")
  })

  it("merges env lines, the input's values winning", () => {
    const source = layeredSettings(mapInputs({ env: 'B=from-input\nC=from-input' }), config())
    expect(parseEnvLines(source.get('env'), 'env')).toEqual({ A: 'from-file', B: 'from-input', C: 'from-input' })
    expect(layeredSettings(mapInputs({}), config()).get('env')).toBe(config().get('env'))
    expect(failure(() => layeredSettings(mapInputs({ env: 'A=1\nbroken' }), config()).get('env'))).toBe("Input 'env': line 2 is not KEY=value (names are letters, digits and _)")
  })

  it("lets the action's own errors name the file and line", () => {
    const key = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    const source = layeredSettings(mapInputs({ 'private-key': key }), config())
    const message = failure(() => getConnectionSettings(source, () => {}))
    expect(message).toContain("'port' (slipway.yml line 3)")
    expect(message).toContain("'99999' is not a whole number from 1 to 65535")
  })
})

describe('loading the file for an action step', () => {
  const workspace = mkdtempSync(join(tmpdir(), 'slipway-ws-'))
  mkdirSync(join(workspace, 'deploy'))
  writeFileSync(join(workspace, 'slipway.yml'), 'host: web1\npath: /srv/app\n')
  writeFileSync(join(workspace, 'deploy/prod.yml'), 'host: prod1\n')

  it('reads slipway.yml from GITHUB_WORKSPACE when present; inputs override it', () => {
    const log: string[] = []
    const source = actionSource({ GITHUB_WORKSPACE: workspace, INPUT_PATH: '/srv/other', INPUT_CONFIG: '' }, m => log.push(m))
    expect(source.get('host')).toBe('web1')
    expect(source.get('path')).toBe('/srv/other')
    expect(log).toEqual(['Settings from slipway.yml: host, path (inputs override them)'])
  })

  it('reads the file named by the config input, relative to the workspace', () => {
    const source = actionSource({ GITHUB_WORKSPACE: workspace, INPUT_CONFIG: 'deploy/prod.yml' })
    expect(source.get('host')).toBe('prod1')
    expect(source.get('path')).toBeUndefined()
    expect(source.describe('host')).toBe("'host' (deploy/prod.yml line 1)")
  })

  it('fails when the named file is missing, and not when the default one is', () => {
    expect(failure(() => actionSource({ GITHUB_WORKSPACE: workspace, INPUT_CONFIG: 'deploy/missing.yml' }))).toMatch(
      new RegExp(`^Input 'config': deploy/missing.yml does not exist \\(looked in ${workspace}\\)\\n {2}→ .*actions/checkout`),
    )
    expect(failure(() => actionSource({ GITHUB_WORKSPACE: workspace, INPUT_CONFIG: 'deploy' }))).toBe("Input 'config': deploy is a directory, not a file")
    const empty = mkdtempSync(join(tmpdir(), 'slipway-ws-'))
    expect(actionSource({ GITHUB_WORKSPACE: empty }).get('host')).toBeUndefined()
    expect(loadConfig('slipway.yml', { required: false, dir: empty }).file).toBeUndefined()
  })

  it('reports file errors as ConfigError with the name the user gave', () => {
    writeFileSync(join(workspace, 'deploy/bad.yml'), 'host: web1\nhots: web2\n')
    let caught: unknown
    try {
      actionSource({ GITHUB_WORKSPACE: workspace, INPUT_CONFIG: 'deploy/bad.yml' })
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ConfigError)
    expect((caught as ConfigError).message).toBe("deploy/bad.yml:2: key 'hots' is not a slipway setting (did you mean 'host'?)")
  })
})

// --- The schema against the action.yml files -------------------------------------

interface ActionFile {
  file: string
  /** Named by the bundle it runs, dist/<name>/index.js. */
  action: string
  inputs: Record<string, { default?: unknown; description?: string } | null>
}

function actionFiles(): ActionFile[] {
  const files = ['action.yml', ...readdirSync(join(ROOT, 'actions')).map(n => `actions/${n}/action.yml`)].filter(f => existsSync(join(ROOT, f)))
  return files.map(file => {
    let spec
    try {
      spec = parse(readFileSync(join(ROOT, file), 'utf8'))
    } catch (err) {
      throw new Error(`${file} is not valid YAML: ${(err as Error).message}`)
    }
    const action = /dist\/([^/]+)\/index\.js$/.exec(spec.runs.main)?.[1] ?? '?'
    return { file, action, inputs: spec.inputs ?? {} }
  })
}

describe('the settings schema', () => {
  // Read in each test: an action.yml being edited must fail these tests, not the file.
  const files = () => actionFiles()

  it('names every action by its bundle', () => {
    for (const f of files()) expect(ACTION_NAMES as readonly string[], `${f.file}: runs.main should be dist/<action>/index.js`).toContain(f.action)
  })

  it('covers every input of every action.yml', () => {
    const missing: string[] = []
    for (const f of files()) {
      for (const input of Object.keys(f.inputs)) {
        const setting = SETTINGS[input]
        if (!setting) missing.push(`${f.file} declares '${input}': add to SETTINGS in src/inputs/schema.ts:  '${input}': { kind: '<string|list|multiline|boolean|duration|integer|env|structured>', actions: ['${f.action}'] },  (secret: true if it is one)`)
        else if (!(setting.actions as readonly string[]).includes(f.action)) missing.push(`${f.file} declares '${input}': add '${f.action}' to the actions of '${input}' in src/inputs/schema.ts`)
      }
    }
    expect(missing, missing.join('\n')).toEqual([])
  })

  it('claims no input for an action whose action.yml does not declare it', () => {
    const wrong: string[] = []
    for (const f of files()) {
      for (const [input, setting] of Object.entries(SETTINGS)) {
        if ((setting.actions as readonly string[]).includes(f.action) && !(input in f.inputs)) {
          wrong.push(`'${input}' lists '${f.action}' in src/inputs/schema.ts, but ${f.file} does not declare it: declare it there, or remove '${f.action}' from its actions`)
        }
      }
    }
    expect(wrong, wrong.join('\n')).toEqual([])
  })

  it('knows every input name of names.ts', () => {
    for (const name of Object.values(Input)) expect(SETTINGS, `add '${name}' to src/inputs/schema.ts`).toHaveProperty([name])
  })

  it('marks credentials as secrets', () => {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      if (/(^|-)(private-key|passphrase|password|token|secret)$/.test(name)) expect(setting.secret, `'${name}' looks like a secret: mark it secret: true`).toBe(true)
    }
  })

  it('leaves names free for the CLI: no input is called help or verbose, ends in -file or starts with no-', () => {
    for (const name of Object.keys(SETTINGS)) {
      expect(CLI_OPTIONS as readonly string[]).not.toContain(name)
      expect(name).not.toMatch(/-file$|^no-/)
    }
  })

  it('has no input default in any action.yml, which would always hide slipway.yml', () => {
    // The runner passes a declared default as if the user had given it, so a default
    // in action.yml would win over the config file every time. Defaults belong in the
    // parsers ("Default: ..." in the description).
    const withDefault = files().flatMap(f => Object.entries(f.inputs).filter(([, i]) => i && 'default' in i).map(([n]) => `${f.file}: ${n}`))
    expect(withDefault, withDefault.join('\n')).toEqual([])
  })
})

describe('closest', () => {
  it('suggests near misses only', () => {
    expect(closest('hots', ['host', 'path'])).toBe('host')
    expect(closest('private_key', ['private-key', 'passphrase'])).toBe('private-key')
    expect(closest('databse', ['databases', 'volumes'])).toBe('databases')
    expect(closest('colour', ['host', 'path', 'user'])).toBeUndefined()
    expect(closest('x', ['host'])).toBeUndefined()
  })
})
