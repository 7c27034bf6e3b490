// Inputs of the release action (the root action.yml) and of rollback, which shares
// the going-live settings (restart, proxy, health).

import { InputError } from '../report/errors'
import { getConnectionSettings, type ConnectionSettings, type SecretSink } from './connection'
import { Input } from './names'
import { parseBoolean, parseChoice, parseDuration, parseInteger, parseRemotePath, printable, splitLines, splitList } from './parse'
import type { InputSource } from './source'

export const ReleaseInput = {
  Strategy: 'strategy',
  Source: 'source',
  Repository: 'repository',
  Ref: 'ref',
  WorkingDirectory: 'working-directory',
  Force: 'force',
  Shared: 'shared',
  Requirements: 'requirements',
  SystemSitePackages: 'system-site-packages',
  Migrate: 'migrate',
  Collectstatic: 'collectstatic',
  CheckDeploy: 'check-deploy',
  Restart: 'restart',
  Proxy: 'proxy',
  ProxyConfig: 'proxy-config',
  ProxyTest: 'proxy-test',
  ProxyReload: 'proxy-reload',
  ProxySudo: 'proxy-sudo',
  HealthUrl: 'health-url',
  HealthStatus: 'health-status',
  HealthText: 'health-text',
  HealthTimeout: 'health-timeout',
  HealthCa: 'health-ca',
  LockTimeout: 'lock-timeout',
  BreakLock: 'break-lock',
  KeepReleases: 'keep-releases',
  BeforeSwitch: 'before-switch',
  AfterSwitch: 'after-switch',
  DryRun: 'dry-run',
  Snapshot: 'snapshot',
} as const

export const ReleaseOutput = {
  Release: 'release',
  PreviousRelease: 'previous-release',
  Revision: 'revision',
  Duration: 'duration',
  Changed: 'changed',
  Migrations: 'migrations',
  Snapshot: 'snapshot',
} as const

export const PROXIES = ['none', 'nginx', 'caddy', 'apache'] as const
export type ProxyKind = (typeof PROXIES)[number]

export interface ProxySettings {
  kind: ProxyKind
  /** Main config file, passed to the test and reload commands (`nginx -c`, ...). */
  config?: string
  /** Overrides of the default commands. */
  test?: string
  reload?: string
  /** Run the default commands with `sudo -n`. */
  sudo: boolean
}

export interface HealthSettings {
  url: string
  status: number
  /** Text the body must contain. */
  text?: string
  timeoutMs: number
  /** A CA certificate file on the server to trust for https (a self-signed staging site). */
  ca?: string
}

/** What going live needs; shared by release and rollback. */
export interface GoLiveSettings {
  /** Commands run in order after the switch; each must succeed. */
  restart: string[]
  proxy: ProxySettings
  health?: HealthSettings
}

export interface LockSettings {
  timeoutMs: number
  breakLock: boolean
}

export interface ReleaseSettings {
  connection: ConnectionSettings
  /** The app root on the server. */
  path: string
  strategy: 'releases' | 'in-place'
  source: 'push' | 'pull'
  /** For source: pull, the URL the server fetches from. */
  repository?: string
  /** Branch, tag or commit; validated against shell and git ref rules. */
  ref: string
  /** The runner's checkout to ship from (source: push). */
  workingDirectory: string
  force: boolean
  /** Paths relative to the release linked to <path>/shared/<entry>. */
  shared: string[]
  /** Requirements files relative to the project dir; [] = none; undefined = requirements.txt when present. */
  requirements?: string[]
  python: string
  systemSitePackages: boolean
  projectDir: string
  migrate: boolean
  collectstatic: boolean
  checkDeploy: boolean
  goLive: GoLiveSettings
  lock: LockSettings
  keepReleases: number
  beforeSwitch?: string
  afterSwitch?: string
  dryRun: boolean
}

/** A relative path below the release: no `..`, not absolute, no control characters. */
export function parseRelativePath(value: string, input: string): string {
  const v = value.trim().replace(/\/+$/, '')
  // eslint-disable-next-line no-control-regex
  if (v === '' || v.startsWith('/') || v.split('/').includes('..') || v.split('/').includes('.') || /[\0-\x1f\x7f]/.test(v)) {
    throw new InputError(input, `'${printable(value)}' must be a relative path inside the release, without '..'`)
  }
  return v
}

/**
 * A git ref as users write it (`master`, `v1.2`, `feature/x`, a sha). Refs with shell or
 * git-special characters are refused outright, so nothing is ever run from one.
 */
export function parseRef(value: string, input: string): string {
  const v = value.trim()
  const ok =
    /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(v) &&
    !v.includes('..') &&
    !v.includes('//') &&
    !v.endsWith('.lock') &&
    !v.endsWith('/') &&
    !v.endsWith('.') &&
    !v.split('/').some(part => part.startsWith('.'))
  if (!ok) {
    throw new InputError(input, `'${printable(v)}' is not a branch, tag or commit name slipway accepts`, 'Use letters, digits and . _ / - (e.g. master, v1.2.0, a commit sha).')
  }
  return v
}

export function getLockSettings(source: InputSource): LockSettings {
  return {
    timeoutMs: parseDuration(source.get(ReleaseInput.LockTimeout), source.describe(ReleaseInput.LockTimeout), 10 * 60_000),
    breakLock: parseBoolean(source.get(ReleaseInput.BreakLock), source.describe(ReleaseInput.BreakLock), false),
  }
}

export function getGoLiveSettings(source: InputSource): GoLiveSettings {
  const d = (n: string) => source.describe(n)
  const url = source.get(ReleaseInput.HealthUrl)?.trim()
  if (url !== undefined && !/^https?:\/\/[^\s'"`$\\]+$/.test(url)) {
    throw new InputError(d(ReleaseInput.HealthUrl), `'${printable(url)}' is not an http(s) URL`)
  }
  const proxyConfig = parseRemotePath(source.get(ReleaseInput.ProxyConfig), d(ReleaseInput.ProxyConfig))
  return {
    restart: splitLines(source.get(ReleaseInput.Restart)),
    proxy: {
      kind: parseChoice(source.get(ReleaseInput.Proxy), d(ReleaseInput.Proxy), PROXIES, 'none'),
      config: proxyConfig,
      test: source.get(ReleaseInput.ProxyTest)?.trim(),
      reload: source.get(ReleaseInput.ProxyReload)?.trim(),
      sudo: parseBoolean(source.get(ReleaseInput.ProxySudo), d(ReleaseInput.ProxySudo), true),
    },
    health: url
      ? {
          url,
          status: parseInteger(source.get(ReleaseInput.HealthStatus), d(ReleaseInput.HealthStatus), 200, 100, 599),
          text: source.get(ReleaseInput.HealthText),
          timeoutMs: parseDuration(source.get(ReleaseInput.HealthTimeout), d(ReleaseInput.HealthTimeout), 60_000),
          ca: parseRemotePath(source.get(ReleaseInput.HealthCa), d(ReleaseInput.HealthCa)),
        }
      : undefined,
  }
}

export function getReleaseSettings(source: InputSource, secret: SecretSink, env: NodeJS.ProcessEnv = process.env): ReleaseSettings {
  const d = (n: string) => source.describe(n)
  const connection = getConnectionSettings(source, secret)
  const path = parseRemotePath(source.get(Input.Path), d(Input.Path))
  if (!path) throw new InputError(d(Input.Path), 'is required', 'The app directory on the server, e.g. /srv/app.')
  if (path === '/') throw new InputError(d(Input.Path), 'cannot be the root directory')
  const sourceKind = parseChoice(source.get(ReleaseInput.Source), d(ReleaseInput.Source), ['push', 'pull'] as const, 'push')
  const repository = source.get(ReleaseInput.Repository)?.trim()
  if (sourceKind === 'pull' && !repository) throw new InputError(d(ReleaseInput.Repository), 'is required with source: pull', 'The URL the server clones from, e.g. git@github.com:org/app.git.')
  // eslint-disable-next-line no-control-regex
  if (repository !== undefined && (/[\s\0-\x1f]/.test(repository) || repository.startsWith('-'))) {
    throw new InputError(d(ReleaseInput.Repository), `'${printable(repository)}' is not a git URL`)
  }
  const requirementsText = source.get(ReleaseInput.Requirements)?.trim()
  const requirements =
    requirementsText === undefined ? undefined : requirementsText === 'none' ? [] : splitList(requirementsText).map(r => parseRelativePath(r, d(ReleaseInput.Requirements)))
  const projectDirText = source.get(Input.ProjectDir)?.trim()
  const python = source.get(Input.Python)?.trim() ?? 'python3'
  if (!/^[A-Za-z0-9_./-]+$/.test(python)) throw new InputError(d(Input.Python), `'${printable(python)}' is not an interpreter name or path`)
  const shared = splitList(source.get(ReleaseInput.Shared)).map(s => parseRelativePath(s, d(ReleaseInput.Shared)))
  return {
    connection,
    path,
    strategy: parseChoice(source.get(ReleaseInput.Strategy), d(ReleaseInput.Strategy), ['releases', 'in-place'] as const, 'releases'),
    source: sourceKind,
    repository,
    ref: parseRef(source.get(ReleaseInput.Ref) ?? env.GITHUB_SHA ?? 'master', d(ReleaseInput.Ref)),
    workingDirectory: source.get(ReleaseInput.WorkingDirectory)?.trim() ?? env.GITHUB_WORKSPACE ?? process.cwd(),
    force: parseBoolean(source.get(ReleaseInput.Force), d(ReleaseInput.Force), false),
    shared,
    requirements,
    python,
    systemSitePackages: parseBoolean(source.get(ReleaseInput.SystemSitePackages), d(ReleaseInput.SystemSitePackages), false),
    projectDir: projectDirText ? parseRelativePath(projectDirText, d(Input.ProjectDir)) : '',
    migrate: parseBoolean(source.get(ReleaseInput.Migrate), d(ReleaseInput.Migrate), true),
    collectstatic: parseBoolean(source.get(ReleaseInput.Collectstatic), d(ReleaseInput.Collectstatic), true),
    checkDeploy: parseBoolean(source.get(ReleaseInput.CheckDeploy), d(ReleaseInput.CheckDeploy), false),
    goLive: getGoLiveSettings(source),
    lock: getLockSettings(source),
    keepReleases: parseInteger(source.get(ReleaseInput.KeepReleases), d(ReleaseInput.KeepReleases), 5, 2, 1000),
    beforeSwitch: source.get(ReleaseInput.BeforeSwitch),
    afterSwitch: source.get(ReleaseInput.AfterSwitch),
    dryRun: parseBoolean(source.get(ReleaseInput.DryRun), d(ReleaseInput.DryRun), false),
  }
}
