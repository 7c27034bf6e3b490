// The snapshot inputs: what to capture (databases, volumes), how (container CLI,
// compression, containers to stop) and how many to keep. actions/snapshot reads them,
// and the release action reads the same names before it migrates.

import { parseDocument } from 'yaml'
import { ENV_NAME } from '../commands/shell'
import { InputError } from '../report/errors'
import type { SecretSink } from './connection'
import { Input as Shared } from './names'
import { parseChoice, printable, splitList } from './parse'
import type { InputSource } from './source'
import { parseKeep, type KeepPolicy } from '../snapshot/retention'

export const SnapshotInput = {
  Databases: 'databases',
  Volumes: 'volumes',
  ContainerCli: 'container-cli',
  StopContainers: 'stop-containers',
  Compression: 'compression',
  Keep: 'keep',
  Label: 'label',
  Download: 'download',
  LockTimeout: 'lock-timeout',
  BreakLock: 'break-lock',
} as const

export const SnapshotOutput = {
  Snapshot: 'snapshot',
  Path: 'path',
  Size: 'size',
  Manifest: 'manifest',
  Downloaded: 'downloaded',
  Pruned: 'pruned',
  Hosts: 'hosts',
} as const

export const ENGINES = ['postgres', 'mariadb', 'mysql', 'sqlite', 'django'] as const
export type Engine = (typeof ENGINES)[number]

export const COMPRESSIONS = ['auto', 'zstd', 'gzip', 'none'] as const
export type Compression = (typeof COMPRESSIONS)[number]

/** `docker`, `podman`, either behind `sudo -n`, or undefined: detect on the server. */
export type ContainerCli = 'docker' | 'podman' | 'sudo docker' | 'sudo podman'
const CONTAINER_CLIS: readonly ContainerCli[] = ['docker', 'podman', 'sudo docker', 'sudo podman']

export interface DatabaseItem {
  engine: Engine
  /**
   * The database name; for sqlite the absolute path of the file; for django the
   * alias in settings.DATABASES (undefined: every alias).
   */
  name?: string
  host?: string
  port?: number
  user?: string
  /** Registered as a secret as soon as it is read; travels only inside the script stream. */
  password?: string
  /** Name of a variable from the `env` input that holds the password on the server. */
  passwordEnv?: string
  /** Dump inside this container (`docker exec` / `podman exec`). */
  container?: string
  /** PostgreSQL: directory format with this many parallel jobs (1: custom format). */
  jobs: number
}

export type VolumeItem = { kind: 'directory'; path: string } | { kind: 'container-volume'; name: string }

export interface SnapshotSettings {
  databases: DatabaseItem[]
  volumes: VolumeItem[]
  /** Undefined: docker if installed, else podman, with sudo -n when only root sees the objects. */
  containerCli?: ContainerCli
  /** Stopped while volumes are archived, always started again. */
  stopContainers: string[]
  compression: Compression
  /** Undefined: keep every snapshot. */
  keep?: KeepPolicy
  /** Appended to the snapshot id: `20260101T120000Z-<label>`. */
  label?: string
  /** A directory on the runner to download the snapshot to. */
  download?: string
  /** For `engine: django`: where manage.py lives below the release, and its interpreter. */
  django: { projectDir: string; python: string }
}

/** Container, volume and label names: what docker and podman accept, nothing a shell could misread. */
const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
export const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/
const HOSTNAME = /^[A-Za-z0-9._:[\]%-]{1,253}$|^\/[^\0]*$/
const DB_KEYS = ['engine', 'name', 'host', 'port', 'user', 'password', 'password-env', 'container', 'jobs'] as const

export function getSnapshotSettings(source: InputSource, secret: SecretSink): SnapshotSettings {
  const name = (n: string) => source.describe(n)
  const databases = parseDatabases(source.get(SnapshotInput.Databases), name(SnapshotInput.Databases), secret)
  const volumes = parseVolumes(source.get(SnapshotInput.Volumes), name(SnapshotInput.Volumes))

  const cliText = source.get(SnapshotInput.ContainerCli)?.trim().replace(/\s+/g, ' ')
  let containerCli: ContainerCli | undefined
  if (cliText !== undefined && cliText !== 'auto') {
    if (!(CONTAINER_CLIS as readonly string[]).includes(cliText)) {
      throw new InputError(name(SnapshotInput.ContainerCli), `'${printable(cliText)}' is not one of docker, podman, sudo docker, sudo podman`, 'Leave it out to use whichever is installed.')
    }
    containerCli = cliText as ContainerCli
  }

  const stopContainers = splitList(source.get(SnapshotInput.StopContainers))
  for (const c of stopContainers) {
    if (!OBJECT_NAME.test(c)) throw new InputError(name(SnapshotInput.StopContainers), `'${printable(c)}' is not a container name`)
  }

  const labelText = source.get(SnapshotInput.Label)?.trim()
  if (labelText !== undefined && !LABEL.test(labelText)) {
    throw new InputError(name(SnapshotInput.Label), `'${printable(labelText)}' is not a label`, 'Use up to 40 letters, digits, dots, dashes and underscores, starting with a letter or digit.')
  }
  const download = source.get(SnapshotInput.Download)?.trim()
  // A local directory: refuse what no file system takes, before anything connects.
  // eslint-disable-next-line no-control-regex
  if (download !== undefined && /[\0-\x1f\x7f]/.test(download)) throw new InputError(name(SnapshotInput.Download), 'contains control characters')
  if (download !== undefined && (Buffer.byteLength(download) > 4000 || download.split('/').some(part => Buffer.byteLength(part) > 255))) {
    throw new InputError(name(SnapshotInput.Download), `'${printable(download)}' is too long for a directory name`)
  }

  const keepText = source.get(SnapshotInput.Keep)
  return {
    databases,
    volumes,
    containerCli,
    stopContainers,
    compression: parseChoice(source.get(SnapshotInput.Compression), name(SnapshotInput.Compression), COMPRESSIONS, 'auto'),
    keep: keepText === undefined ? undefined : parseKeep(keepText, name(SnapshotInput.Keep)),
    label: labelText,
    download,
    django: {
      projectDir: source.get(Shared.ProjectDir)?.trim().replace(/^\/+|\/+$/g, '') ?? '',
      python: source.get(Shared.Python)?.trim() ?? 'python3',
    },
  }
}

/** True when there is anything to capture (the release action's `snapshot` default). */
export function hasSnapshotItems(settings: Pick<SnapshotSettings, 'databases' | 'volumes'>): boolean {
  return settings.databases.length > 0 || settings.volumes.length > 0
}

/** Parse YAML with every scalar a string, so `password: 0123` keeps its leading zero. */
function parseYamlList(text: string | undefined, input: string): unknown[] {
  if (text === undefined) return []
  const doc = parseDocument(text, { schema: 'failsafe', prettyErrors: false })
  if (doc.errors.length) {
    // The parser's message quotes the source, which may hold a password that is not
    // registered as a secret yet: say where, not what.
    const e = doc.errors[0]
    const before = text.slice(0, e.pos[0]).split('\n')
    throw new InputError(input, `is not valid YAML (${e.code} at line ${before.length}, column ${before[before.length - 1].length + 1})`, 'Quote values that contain `:`, `#`, quotes or leading spaces.')
  }
  const value: unknown = doc.toJS()
  if (value === null || value === undefined || value === '') return []
  return Array.isArray(value) ? value : [value]
}

function parseDatabases(text: string | undefined, input: string, secret: SecretSink): DatabaseItem[] {
  const items = parseYamlList(text, input)
  // Register every password before anything below can fail and quote an item.
  for (const item of items) {
    if (isMap(item) && typeof item.password === 'string' && item.password !== '') secret(item.password)
  }
  const seen = new Set<string>()
  return items.map((raw, i) => {
    const at = `item ${i + 1}`
    const fail = (problem: string, hint?: string): never => {
      throw new InputError(input, `${at}: ${problem}`, hint)
    }
    if (raw === 'django') raw = { engine: 'django' }
    if (!isMap(raw)) return fail('expected a mapping with engine and name, or the word django', 'e.g.\n      - engine: postgres\n        name: app')
    for (const key of Object.keys(raw)) {
      if (!(DB_KEYS as readonly string[]).includes(key)) fail(`unknown key '${printable(key)}' (expected ${DB_KEYS.join(', ')})`)
    }
    const str = (key: (typeof DB_KEYS)[number]): string | undefined => {
      const v = raw[key]
      if (v === undefined || v === null || v === '') return undefined
      if (typeof v !== 'string') return fail(`${key} must be a single value`)
      // eslint-disable-next-line no-control-regex
      if (key !== 'password' && /[\0-\x1f\x7f]/.test(v)) fail(`${key} contains control characters`)
      if (v.includes('\0')) fail(`${key} contains a NUL byte`)
      return v
    }
    const engine = str('engine')?.trim()
    if (engine === undefined) return fail(`engine is required (one of ${ENGINES.join(', ')})`)
    if (!(ENGINES as readonly string[]).includes(engine)) return fail(`engine '${printable(engine)}' is not one of ${ENGINES.join(', ')}`)
    const e = engine as Engine
    const name = str('name')?.trim()
    const host = str('host')?.trim()
    const portText = str('port')?.trim()
    const user = str('user')?.trim()
    const password = str('password')
    const passwordEnv = str('password-env')?.trim()
    const container = str('container')?.trim()
    const jobsText = str('jobs')?.trim()

    let port: number | undefined
    if (portText !== undefined) {
      if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) fail(`port '${printable(portText)}' is not a port number`)
      port = Number(portText)
    }
    let jobs = 1
    if (jobsText !== undefined) {
      if (!/^\d+$/.test(jobsText) || Number(jobsText) < 1 || Number(jobsText) > 64) fail(`jobs '${printable(jobsText)}' is not a whole number from 1 to 64`)
      jobs = Number(jobsText)
      if (e !== 'postgres') fail('jobs applies to postgres only')
      if (container !== undefined && jobs > 1) fail('jobs (directory format) cannot be combined with container', 'The directory format is written by pg_dump itself, so it runs on the host.')
    }
    if (host !== undefined && !HOSTNAME.test(host)) fail(`host '${printable(host)}' is not a host name, address or socket directory`)
    if (user !== undefined && !/^[^\s'"\\]{1,128}$/.test(user)) fail(`user '${printable(user)}' is not a user name`)
    if (container !== undefined && !OBJECT_NAME.test(container)) fail(`container '${printable(container)}' is not a container name`)
    if (passwordEnv !== undefined && !ENV_NAME.test(passwordEnv)) fail(`password-env '${printable(passwordEnv)}' is not an environment variable name`)
    if (password !== undefined && passwordEnv !== undefined) fail('give password or password-env, not both')

    if (e === 'django') {
      for (const k of ['host', 'port', 'user', 'password', 'password-env', 'container', 'jobs'] as const) {
        if (raw[k] !== undefined) fail(`${k} does not apply to engine django: the connection comes from the app's settings`, 'Give name to pick one alias of settings.DATABASES, or nothing for all.')
      }
    } else if (name === undefined) {
      fail(e === 'sqlite' ? 'name is required: the absolute path of the database file' : 'name is required: the database name')
    }
    if (e === 'sqlite') {
      if (!name!.startsWith('/')) fail(`name '${printable(name!)}' must be the absolute path of the SQLite file`)
      if (name!.split('/').includes('..')) fail(`name '${printable(name!)}' must not contain '..'`)
      for (const k of ['host', 'port', 'user', 'password', 'password-env', 'container'] as const) {
        if (raw[k] !== undefined) fail(`${k} does not apply to sqlite: the file is read on the host with sqlite3 .backup`)
      }
    }
    // pg_dump and mariadb-dump read a name with '=' or a URI prefix as a connection
    // string, which could carry a password onto the command line.
    if ((e === 'postgres' || e === 'mariadb' || e === 'mysql') && (/=/.test(name!) || /^(postgres|postgresql|mysql|mariadb):\/\//i.test(name!) || name!.startsWith('-'))) {
      fail(`name '${printable(name!)}' must be a plain database name, not a connection string`, 'Use host, port, user and password instead.')
    }
    const key = `${e}\0${name ?? ''}\0${host ?? ''}\0${port ?? ''}\0${container ?? ''}`
    if (seen.has(key)) fail(`${e} ${name ?? ''} is listed twice`)
    seen.add(key)
    return { engine: e, name, host, port, user, password, passwordEnv, container, jobs }
  })
}

function parseVolumes(text: string | undefined, input: string): VolumeItem[] {
  const seen = new Set<string>()
  return parseYamlList(text, input).map((raw, i) => {
    const fail = (problem: string, hint?: string): never => {
      throw new InputError(input, `item ${i + 1}: ${problem}`, hint)
    }
    if (typeof raw !== 'string') return fail('expected a directory (/srv/app/shared/media) or volume:<name>')
    const v = raw.trim()
    let item: VolumeItem
    if (v.startsWith('volume:')) {
      const n = v.slice('volume:'.length)
      if (!OBJECT_NAME.test(n)) fail(`'${printable(n)}' is not a container volume name`)
      item = { kind: 'container-volume', name: n }
    } else {
      const p = v.replace(/\/+$/, '')
      if (!p.startsWith('/')) fail(`'${printable(v)}' must be an absolute directory, or volume:<name> for a container volume`)
      if (p.split('/').includes('..')) fail(`'${printable(v)}' must not contain '..'`)
      // eslint-disable-next-line no-control-regex
      if (/[\0-\x1f\x7f]/.test(p)) fail('contains control characters')
      item = { kind: 'directory', path: p }
    }
    const key = item.kind === 'directory' ? item.path : `volume:${item.name}`
    if (seen.has(key)) fail(`'${printable(key)}' is listed twice`)
    seen.add(key)
    return item
  })
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
