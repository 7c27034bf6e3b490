// Snapshot inputs: the YAML shapes users write, and errors that name the input, the
// item and the key.

import { describe, expect, it } from 'vitest'
import { getSnapshotSettings } from '../../src/inputs/snapshot'
import { mapInputs } from '../../src/inputs/source'

function settings(values: Record<string, string>, secrets: string[] = []) {
  return getSnapshotSettings(mapInputs(values), v => secrets.push(v))
}

describe('databases', () => {
  it('reads the shape from the issue', () => {
    const s = settings({
      databases: [
        '- engine: postgres',
        '  name: app',
        '  host: 127.0.0.1',
        '  port: 5432',
        '  user: app',
        '  password: "s3cret: #1"',
        '  container: db',
        '- engine: sqlite',
        '  name: /srv/app/shared/db.sqlite3',
        '- engine: mariadb',
        '  name: shop',
        '  password-env: SHOP_DB_PASSWORD',
        '- engine: postgres',
        '  name: big',
        '  jobs: 4',
        '- django',
      ].join('\n'),
      volumes: '- /srv/app/shared/media/\n- volume:app_data',
    })
    expect(s.databases).toEqual([
      { engine: 'postgres', name: 'app', host: '127.0.0.1', port: 5432, user: 'app', password: 's3cret: #1', passwordEnv: undefined, container: 'db', jobs: 1 },
      expect.objectContaining({ engine: 'sqlite', name: '/srv/app/shared/db.sqlite3', jobs: 1 }),
      expect.objectContaining({ engine: 'mariadb', name: 'shop', passwordEnv: 'SHOP_DB_PASSWORD' }),
      expect.objectContaining({ engine: 'postgres', name: 'big', jobs: 4 }),
      expect.objectContaining({ engine: 'django', name: undefined }),
    ])
    expect(s.volumes).toEqual([
      { kind: 'directory', path: '/srv/app/shared/media' },
      { kind: 'container-volume', name: 'app_data' },
    ])
    expect(s.compression).toBe('auto')
    expect(s.containerCli).toBeUndefined()
    expect(s.keep).toBeUndefined()
    expect(s.django).toEqual({ projectDir: '', python: 'python3' })
  })

  it('accepts `databases: django` and keeps a password with a leading zero as written', () => {
    expect(settings({ databases: 'django' }).databases).toEqual([expect.objectContaining({ engine: 'django' })])
    expect(settings({ databases: '- engine: postgres\n  name: app\n  password: 0123' }).databases[0].password).toBe('0123')
  })

  it('registers passwords as secrets before any item can fail', () => {
    const secrets: string[] = []
    expect(() => settings({ databases: '- engine: postgres\n  name: app\n  password: hunter22\n- engine: oracle\n  name: x' }, secrets)).toThrow()
    expect(secrets).toEqual(['hunter22'])
  })

  it('does not quote the source when the YAML is broken (it may hold a password)', () => {
    let message = ''
    try {
      settings({ databases: '- engine: postgres\n  password: "hunter22\n' })
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(/^Input 'databases': is not valid YAML \(MISSING_CHAR at line \d+, column \d+\)$/)
    expect(message).not.toContain('hunter22')
  })

  it.each([
    ['- engine: postgres\n  name: app\n- engine: oracle\n  name: x', "Input 'databases': item 2: engine 'oracle' is not one of postgres, mariadb, mysql, sqlite, django"],
    ['- engine: postgres\n  name: app\n  passwd: x', "Input 'databases': item 1: unknown key 'passwd' (expected engine, name, host, port, user, password, password-env, container, jobs)"],
    ['- name: app', "Input 'databases': item 1: engine is required"],
    ['- engine: postgres', "Input 'databases': item 1: name is required: the database name"],
    ['- engine: postgres\n  name: app\n  port: 99999', "Input 'databases': item 1: port '99999' is not a port number"],
    ['- engine: sqlite\n  name: db.sqlite3', "Input 'databases': item 1: name 'db.sqlite3' must be the absolute path of the SQLite file"],
    ['- engine: sqlite\n  name: /srv/../etc/db', "must not contain '..'"],
    ['- engine: sqlite\n  name: /srv/db\n  container: web', "Input 'databases': item 1: container does not apply to sqlite"],
    ['- engine: postgres\n  name: postgresql://app:pw@db/app', 'must be a plain database name, not a connection string'],
    ['- engine: postgres\n  name: "dbname=app password=x"', 'not a connection string'],
    ['- engine: postgres\n  name: app\n  container: "db; rm -rf /"', "container 'db; rm -rf /' is not a container name"],
    ['- engine: mariadb\n  name: app\n  jobs: 2', 'jobs applies to postgres only'],
    ['- engine: postgres\n  name: app\n  jobs: 2\n  container: db', 'jobs (directory format) cannot be combined with container'],
    ['- engine: postgres\n  name: app\n  password: a\n  password-env: B', 'give password or password-env, not both'],
    ['- engine: django\n  password: x', 'password does not apply to engine django'],
    ['- engine: postgres\n  name: app\n- engine: postgres\n  name: app', "Input 'databases': item 2: postgres app is listed twice"],
    ['- [postgres]', "Input 'databases': item 1: expected a mapping"],
  ])('refuses %j', (yaml, message) => {
    expect(() => settings({ databases: yaml })).toThrow(message)
  })
})

describe('volumes and the rest', () => {
  it.each([
    ['- media', "Input 'volumes': item 1: 'media' must be an absolute directory, or volume:<name> for a container volume"],
    ['- /srv/app/../../etc', "Input 'volumes': item 1: '/srv/app/../../etc' must not contain '..'"],
    ['- volume:$(id)', "Input 'volumes': item 1: '$(id)' is not a container volume name"],
    ['- /srv/media\n- /srv/media/', "Input 'volumes': item 2: '/srv/media' is listed twice"],
  ])('refuses volumes %j', (yaml, message) => {
    expect(() => settings({ volumes: yaml })).toThrow(message)
  })

  it('reads the container CLI, containers to stop, compression, keep, label and download', () => {
    const s = settings({ 'container-cli': 'sudo  podman', 'stop-containers': 'web, worker', compression: 'gzip', keep: 'last=7,daily=14', label: 'nightly', download: 'out' })
    expect(s).toMatchObject({ containerCli: 'sudo podman', stopContainers: ['web', 'worker'], compression: 'gzip', keep: { last: 7, daily: 14 }, label: 'nightly', download: 'out' })
    expect(settings({ 'container-cli': 'auto' }).containerCli).toBeUndefined()
  })

  it('names what is wrong', () => {
    expect(() => settings({ 'container-cli': 'lxc' })).toThrow("Input 'container-cli': 'lxc' is not one of docker, podman, sudo docker, sudo podman")
    expect(() => settings({ 'stop-containers': 'web;id' })).toThrow("Input 'stop-containers': 'web;id' is not a container name")
    expect(() => settings({ compression: 'xz' })).toThrow("Input 'compression': 'xz' is not one of: auto, zstd, gzip, none")
    expect(() => settings({ keep: 'daily=x' })).toThrow("Input 'keep'")
    expect(() => settings({ label: '../x' })).toThrow("Input 'label': '../x' is not a label")
    expect(() => settings({ label: 'a'.repeat(41) })).toThrow("Input 'label'")
  })
})
