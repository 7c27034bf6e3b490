// From settings to a plan the builders turn into bash: Django aliases resolved, items
// numbered and named, and each password given a variable that holds it on the server.

import { layout } from '../commands/layout'
import type { DbEngine, DbTarget, PlannedItem, SnapshotPlan } from '../commands/snapshot/types'
import type { DatabaseItem, SnapshotSettings } from '../inputs/snapshot'
import { SlipwayError } from '../report/errors'

/** One entry of settings.DATABASES as the discovery step reports it (no password). */
export interface DiscoveredDatabase {
  alias: string
  engine: string
  name: string
  host: string
  port: string
  user: string
  hasPassword: boolean
}

export interface SnapshotContext {
  label?: string
  /** The release this snapshot protects; pruning keeps it while the release exists. */
  release?: { id: string; sha: string }
}

/** Django's ENGINE to ours; undefined for engines we cannot dump. */
export function djangoEngine(engine: string): DbEngine | undefined {
  if (/postgres|postgis/.test(engine)) return 'postgres'
  if (/mysql/.test(engine)) return 'mariadb'
  if (/sqlite3/.test(engine)) return 'sqlite'
  return undefined
}

export function parseDiscovered(stdout: string): DiscoveredDatabase[] {
  let raw: unknown
  try {
    raw = JSON.parse(stdout)
  } catch {
    throw new SlipwayError('could not read DATABASES from the Django settings: manage.py printed no JSON', 'Run `python manage.py shell -c "from django.conf import settings; print(settings.DATABASES)"` in the live release to see why.')
  }
  if (!Array.isArray(raw)) throw new SlipwayError('could not read DATABASES from the Django settings: unexpected output')
  return raw.map(r => {
    const o = r as Record<string, unknown>
    const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '')
    return { alias: s('alias'), engine: s('engine'), name: s('name'), host: s('host'), port: s('port'), user: s('user'), hasPassword: o.hasPassword === true }
  })
}

export function planSnapshot(root: string, settings: SnapshotSettings, context: SnapshotContext, discovered: DiscoveredDatabase[] = []): { plan: SnapshotPlan; env: Record<string, string> } {
  // The id names a directory under releases/ when pruning; refuse it before writing anything.
  if (context.release && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(context.release.id)) throw new SlipwayError(`release id '${context.release.id}' cannot be recorded in a snapshot manifest`)
  const env: Record<string, string> = {}
  const djangoVars: Record<string, string> = {}
  const items: PlannedItem[] = []
  const add = (db: Omit<DbTarget, 'passwordVar'>, password: { value?: string; env?: string; djangoAlias?: string }) => {
    const index = items.length + 1
    let passwordVar: string | undefined
    if (password.value !== undefined) {
      passwordVar = `SLIPWAY_DB_PASSWORD_${index}`
      env[passwordVar] = password.value
    } else if (password.env) {
      passwordVar = password.env
    } else if (password.djangoAlias !== undefined) {
      passwordVar = `SLIPWAY_DJANGO_PASSWORD_${index}`
      djangoVars[password.djangoAlias] = passwordVar
    }
    items.push({ kind: 'database', index, db: { ...db, passwordVar } })
  }
  for (const d of settings.databases) {
    if (d.engine !== 'django') {
      add(target(d), { value: d.password, env: d.passwordEnv })
      continue
    }
    const wanted = d.name === undefined ? discovered.filter(x => !/dummy/.test(x.engine)) : discovered.filter(x => x.alias === d.name)
    if (d.name !== undefined && wanted.length === 0) {
      throw new SlipwayError(`the Django settings have no database alias '${d.name}' (they have: ${discovered.map(x => x.alias).join(', ') || 'none'})`)
    }
    for (const x of wanted) {
      const engine = djangoEngine(x.engine)
      if (!engine) throw new SlipwayError(`Django database '${x.alias}' uses ENGINE ${x.engine}, which slipway cannot snapshot`, 'List the databases to capture explicitly in databases, or name the alias to take.')
      if (!x.name) throw new SlipwayError(`Django database '${x.alias}' has no NAME`)
      add(
        {
          engine,
          name: x.name,
          host: x.host || undefined,
          port: /^\d+$/.test(x.port) ? Number(x.port) : undefined,
          user: engine === 'sqlite' ? undefined : x.user || undefined,
          jobs: 1,
          alias: x.alias,
        },
        { djangoAlias: x.hasPassword && engine !== 'sqlite' ? x.alias : undefined },
      )
    }
  }
  for (const v of settings.volumes) items.push({ kind: 'volume', index: items.length + 1, volume: v })
  const plan: SnapshotPlan = {
    dir: layout(root).snapshots,
    label: context.label,
    release: context.release,
    items,
    compression: settings.compression,
    containerCli: settings.containerCli,
    stopContainers: settings.stopContainers,
    ...(Object.keys(djangoVars).length ? { djangoPasswords: { root, projectDir: settings.django.projectDir, python: settings.django.python, vars: djangoVars } } : {}),
  }
  return { plan, env }
}

function target(d: DatabaseItem): Omit<DbTarget, 'passwordVar'> {
  return { engine: d.engine as DbEngine, name: d.name!, host: d.host, port: d.port, user: d.user, container: d.container, jobs: d.jobs }
}
