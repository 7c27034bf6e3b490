// A release-ready app on the test server: the fixture Django app's repository, an app
// directory with local settings on a fresh PostgreSQL database, a Gunicorn port and an
// nginx site in front; plus shortcuts to release it through dist/release/index.js.

import { readFileSync, readlinkSync } from 'fs'
import { runAction, type ActionRun } from './runner'
import { connection, server } from './server'
import {
  asDeploy,
  createPgDatabase,
  freePort,
  httpGet,
  installNginxSite,
  makeAppRepo,
  makeAppRoot,
  nginxSite,
  restartCommand,
  stopApp,
  writeLocalSettings,
  type AppRepo,
  type Database,
} from './fixture'

let sharedRepo: AppRepo | undefined
const cleanups: (() => void)[] = []
const usedPorts: number[] = []

/** The fixture repository, generated once per test file. */
export function fixtureRepo(): AppRepo {
  sharedRepo ??= makeAppRepo()
  return sharedRepo
}

/** Undo everything newApp set up (call from afterAll). */
export function cleanUpApps(): void {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c()
    } catch {
      /* best effort */
    }
  }
}

export interface App {
  root: string
  db: Database
  web: number
  appPort: number
  repo: AppRepo
  inputs: (overrides?: Record<string, string | undefined>) => Record<string, string | undefined>
  release: (ref: string, overrides?: Record<string, string | undefined>) => Promise<ActionRun>
  get: (path: string) => Promise<{ status: number; body: string }>
  live: () => string
  log: () => Record<string, unknown>[]
}

export async function newApp(name: string, options: { db?: Database } = {}): Promise<App> {
  const repo = fixtureRepo()
  const root = makeAppRoot(name)
  const db = options.db ?? createPgDatabase()
  const appPort = await freePort(usedPorts)
  usedPorts.push(appPort)
  const web = await freePort(usedPorts)
  usedPorts.push(web)
  asDeploy(`mkdir -p ${root}/shared/fixture`)
  writeLocalSettings(`${root}/shared/fixture/local_settings.py`, { db, mediaRoot: `${root}/shared/media` })
  const removeSite = await installNginxSite(`slipway-${name}-${web}`, nginxSite(root, `${name}-${web}`, web, appPort), web)
  cleanups.push(() => removeSite(), () => stopApp(root), () => db.drop())
  const inputs = (overrides: Record<string, string | undefined> = {}) => ({
    ...connection(),
    path: root,
    'working-directory': repo.dir,
    shared: 'fixture/local_settings.py',
    python: '/usr/bin/python3',
    'system-site-packages': 'true',
    restart: restartCommand(root, appPort),
    proxy: 'nginx',
    'proxy-config': `${server.state}/nginx/nginx.conf`,
    'health-url': `http://127.0.0.1:${web}/health`,
    'health-timeout': '20s',
    ...overrides,
  })
  return {
    root,
    db,
    web,
    appPort,
    repo,
    inputs,
    release: (ref, overrides = {}) => runAction('release', inputs({ ref, ...overrides })),
    get: async path => {
      const r = await httpGet(`http://127.0.0.1:${web}${path}`)
      return { status: r.status, body: r.body }
    },
    live: () => readlinkSync(`${root}/current`),
    log: () => releaseLog(root),
  }
}

/** The release log (.slipway/releases.jsonl), one object per line. */
export function releaseLog(root: string): Record<string, unknown>[] {
  return readFileSync(`${root}/.slipway/releases.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l))
}
