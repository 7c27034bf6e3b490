// Every setting a user can give slipway, whichever way it arrives: an action input, a
// key in slipway.yml, a CLI flag or a SLIPWAY_* variable. The config loader and the
// CLI read kinds and secrecy from here; the action.yml files stay the source of the
// descriptions. test/unit/config.test.ts checks this table against every action.yml
// in both directions, so a new input fails the tests until it is added here.

export const ACTION_NAMES = ['release', 'snapshot', 'restore', 'rollback', 'run'] as const
export type ActionName = (typeof ACTION_NAMES)[number]

/**
 * How a value is written in slipway.yml and on the command line. Every kind arrives at
 * the action as the same string an action input would hold, so one parser serves all.
 * - `string`, `duration`, `integer`, `boolean`: one scalar (the last three checked early,
 *   so the error can name the line).
 * - `list`: a scalar or a YAML list; joined with newlines (`host: [web1, web2]`).
 * - `multiline`: text such as a script; a YAML list is joined into lines.
 * - `env`: `KEY=value` lines or a YAML mapping; merged across sources, not replaced.
 * - `structured`: YAML the action parses itself (`databases`), passed on as YAML text.
 */
export type Kind = 'string' | 'list' | 'multiline' | 'boolean' | 'duration' | 'integer' | 'env' | 'structured'

export interface Setting {
  kind: Kind
  /** The actions that declare it as an input. */
  actions: readonly ActionName[]
  /** Never accepted from slipway.yml, which is committed with the code. */
  secret?: true
  /** Fields inside a structured value that hold secrets (a database password). */
  secretFields?: readonly string[]
  /** Why it may not be set in slipway.yml: it changes what a single run does. */
  perRun?: string
}

const ALL = ACTION_NAMES
/** Where snapshots are taken or put back; the release action takes one before migrating. */
const DATA = ['release', 'snapshot', 'restore', 'rollback'] as const
const LOCKING = ['release', 'snapshot', 'restore', 'rollback'] as const
/** Rollback restarts, reloads and health-checks with the same inputs as a release. */
const GOING_LIVE = ['release', 'rollback'] as const

export const SETTINGS: Readonly<Record<string, Setting>> = {
  // Connection: the same in every action.
  host: { kind: 'list', actions: ALL },
  user: { kind: 'string', actions: ALL },
  port: { kind: 'integer', actions: ALL },
  'private-key': { kind: 'multiline', actions: ALL, secret: true },
  passphrase: { kind: 'string', actions: ALL, secret: true },
  password: { kind: 'string', actions: ALL, secret: true },
  'known-hosts': { kind: 'multiline', actions: ALL },
  fingerprint: { kind: 'list', actions: ALL },
  'insecure-skip-host-key-check': { kind: 'boolean', actions: ALL },
  'jump-host': { kind: 'string', actions: ALL },
  'jump-private-key': { kind: 'multiline', actions: ALL, secret: true },
  'jump-passphrase': { kind: 'string', actions: ALL, secret: true },
  'connect-timeout': { kind: 'duration', actions: ALL },
  'command-timeout': { kind: 'duration', actions: ALL },
  parallel: { kind: 'integer', actions: ALL },
  'fail-fast': { kind: 'boolean', actions: ALL },
  env: { kind: 'env', actions: ALL },
  config: { kind: 'string', actions: ALL, perRun: 'it names the config file itself' },
  path: { kind: 'string', actions: ALL },

  // Django: where manage.py lives and what runs it (run, release, `engine: django`
  // snapshots and restores, rollback's migration check).
  'project-dir': { kind: 'string', actions: ALL },
  python: { kind: 'string', actions: ALL },

  // run
  run: { kind: 'multiline', actions: ['run'] },
  manage: { kind: 'string', actions: ['run'] },
  capture: { kind: 'boolean', actions: ['run'] },

  // Snapshots (issue 4); restore and rollback with-data put one back (issue 5).
  databases: { kind: 'structured', actions: DATA, secretFields: ['password'] },
  volumes: { kind: 'structured', actions: DATA },
  'container-cli': { kind: 'string', actions: DATA },
  'stop-containers': { kind: 'list', actions: DATA },
  compression: { kind: 'string', actions: ['release', 'snapshot'] },
  keep: { kind: 'string', actions: ['release', 'snapshot'] },
  label: { kind: 'string', actions: ['snapshot'] },
  download: { kind: 'string', actions: ['snapshot'] },
  'lock-timeout': { kind: 'duration', actions: LOCKING },
  'break-lock': { kind: 'boolean', actions: LOCKING, perRun: "taking over another run's lock is a decision for one run" },

  // Release (issue 3).
  strategy: { kind: 'string', actions: ['release', 'rollback'] },
  source: { kind: 'string', actions: ['release'] },
  repository: { kind: 'string', actions: ['release'] },
  ref: { kind: 'string', actions: ['release'] },
  'working-directory': { kind: 'string', actions: ['release'] },
  shared: { kind: 'list', actions: ['release'] },
  requirements: { kind: 'list', actions: ['release'] },
  'system-site-packages': { kind: 'boolean', actions: ['release'] },
  migrate: { kind: 'boolean', actions: ['release'] },
  collectstatic: { kind: 'boolean', actions: ['release'] },
  'check-deploy': { kind: 'boolean', actions: ['release'] },
  'keep-releases': { kind: 'integer', actions: ['release'] },
  'before-switch': { kind: 'multiline', actions: ['release'] },
  'after-switch': { kind: 'multiline', actions: ['release'] },
  restart: { kind: 'multiline', actions: ['release', 'restore', 'rollback'] },
  proxy: { kind: 'string', actions: GOING_LIVE },
  'proxy-config': { kind: 'string', actions: GOING_LIVE },
  'proxy-test': { kind: 'string', actions: GOING_LIVE },
  'proxy-reload': { kind: 'string', actions: GOING_LIVE },
  'proxy-sudo': { kind: 'boolean', actions: GOING_LIVE },
  'health-url': { kind: 'string', actions: GOING_LIVE },
  'health-status': { kind: 'integer', actions: GOING_LIVE },
  'health-text': { kind: 'string', actions: GOING_LIVE },
  'health-timeout': { kind: 'duration', actions: GOING_LIVE },
  'health-ca': { kind: 'string', actions: GOING_LIVE },
  'dry-run': { kind: 'boolean', actions: ['release', 'rollback'], perRun: 'a dry run left in the file would make every release a silent no-op' },
  force: { kind: 'boolean', actions: GOING_LIVE, perRun: 'it overrides a safety check for one run' },

  // Restore and rollback (issue 5). `snapshot` is an id for restore and true/false for
  // release; the text kind serves both.
  snapshot: { kind: 'string', actions: ['release', 'restore'] },
  only: { kind: 'list', actions: ['restore'] },
  verify: { kind: 'boolean', actions: ['restore'] },
  'safety-snapshot': { kind: 'boolean', actions: ['restore'] },
  to: { kind: 'string', actions: ['rollback'] },
  'with-data': { kind: 'boolean', actions: ['rollback'] },
}

/** Options the CLI adds itself; no action input may take these names. */
export const CLI_OPTIONS = ['help', 'verbose'] as const

export function settingFor(name: string): Setting | undefined {
  return Object.prototype.hasOwnProperty.call(SETTINGS, name) ? SETTINGS[name] : undefined
}
