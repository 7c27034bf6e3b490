// Remote commands of a rollback: find the releases, ask Django which applied migrations
// the target release does not know, then switch back with the same going-live steps a
// release uses (and the same undo if the target turns out unhealthy).

import type { GoLiveSettings } from '../inputs/release'
import { releasePython } from './django'
import { healthCheck } from './health'
import { layout } from './layout'
import { proxyTest, testAndReload } from './proxy'
import { RELEASE_ID, restart, restartAndReload, switchTo } from './release'
import { stepMarker } from './script'
import { lines, quote, type Shell } from './shell'

/** What is on the server: releases (newest last), the live one, the log's tail. */
export function rollbackProbe(root: string, strategy: 'releases' | 'in-place'): Shell {
  const l = layout(root)
  return lines(
    'say() { printf "%s=%s\\n" "$1" "$2"; }',
    strategy === 'in-place'
      ? `say head "$(git -C ${quote(root)} rev-parse -q --verify HEAD || true)"`
      : lines(
          `cur=$(readlink ${quote(l.current)} 2>/dev/null || true); say current "\${cur##*/}"`,
          `if [ -d ${quote(l.releases)} ]; then for r in $(ls -1 ${quote(l.releases)} | grep -E ${quote(RELEASE_ID.source)} | sort); do`,
          `  c=no; [ -e ${quote(l.meta)}/releases/"$r"/complete ] && c=yes`,
          `  say release "$r $(cat ${quote(l.releases)}/"$r"/REVISION 2>/dev/null || echo -) $c"`,
          'done; fi',
        ),
    `tail -n 200 ${quote(l.log)} 2>/dev/null | sed 's/^/log=/' || true`,
  )
}

export interface RollbackProbe {
  current: string
  head: string
  releases: { id: string; sha: string; complete: boolean }[]
  log: Record<string, unknown>[]
}

export function parseRollbackProbe(stdout: string): RollbackProbe {
  const p: RollbackProbe = { current: '', head: '', releases: [], log: [] }
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const k = line.slice(0, eq)
    const v = line.slice(eq + 1)
    if (k === 'current') p.current = v.trim()
    else if (k === 'head') p.head = v.trim()
    else if (k === 'release') {
      const [id, sha, complete] = v.trim().split(' ')
      if (RELEASE_ID.test(id)) p.releases.push({ id, sha, complete: complete === 'yes' })
    } else if (k === 'log') {
      try {
        p.log.push(JSON.parse(v) as Record<string, unknown>)
      } catch {
        /* a line cut by a crash mid-write is skipped */
      }
    }
  }
  return p
}

/**
 * Print `app.migration` for every migration applied in the database that the code in
 * `dir` does not have: what rolling back to that code would leave behind in the schema.
 */
export function unknownMigrations(dir: string, projectDir: string, python: string): Shell {
  const app = projectDir ? `${dir}/${projectDir}` : dir
  const snippet = [
    'from django.db import connection',
    'from django.db.migrations.loader import MigrationLoader',
    'loader = MigrationLoader(connection, ignore_no_migrations=True)',
    'for app, name in sorted(set(loader.applied_migrations) - set(loader.disk_migrations)):',
    '    print("unknown-migration=%s.%s" % (app, name))',
  ].join('\n')
  return lines(
    `cd -- ${quote(app)}`,
    releasePython(quote(dir), python),
    `"$PY" manage.py shell -c ${quote(snippet)}`,
  )
}

/**
 * The same question for a working tree (in-place), where the target commit is not
 * checked out anywhere: migrations applied in the database, of apps that keep their
 * migrations in this repository, that the target commit's tree does not contain.
 */
export function unknownMigrationsInPlace(root: string, sha: string, projectDir: string, python: string): Shell {
  const app = projectDir ? `${root}/${projectDir}` : root
  const snippet = [
    'from django.db import connection',
    'from django.db.migrations.loader import MigrationLoader',
    'for app, name in sorted(MigrationLoader(connection, ignore_no_migrations=True).applied_migrations):',
    '    print("%s.%s" % (app, name))',
  ].join('\n')
  const migrationFile = `'s#^\\(.*/\\)\\{0,1\\}\\([^/]*\\)/migrations/\\([0-9][^/]*\\)\\.py$#\\2.\\3#p'`
  return lines(
    `cd -- ${quote(app)}`,
    releasePython(quote(root), python),
    'tmp=$(mktemp -d)',
    `"$PY" manage.py shell -c ${quote(snippet)} | sort > "$tmp/applied"`,
    `git -C ${quote(root)} ls-tree -r --name-only ${quote(sha)} | sed -n ${migrationFile} | sort > "$tmp/target"`,
    `git -C ${quote(root)} ls-tree -r --name-only HEAD | sed -n ${migrationFile} | sort > "$tmp/live"`,
    // Only apps whose migrations live in this repository (not django.contrib.auth's).
    'cut -d. -f1 "$tmp/target" "$tmp/live" | sort -u > "$tmp/apps"',
    `sed 's/$/./' "$tmp/apps" > "$tmp/prefixes"`,
    `grep -F -f "$tmp/prefixes" "$tmp/applied" | comm -23 - "$tmp/target" | sed 's/^/unknown-migration=/' || true`,
    'rm -rf -- "$tmp"',
  )
}

export interface RollbackPlan {
  root: string
  strategy: 'releases' | 'in-place'
  /** Release id (releases) or commit sha (in-place) that is live now. */
  from: string
  to: string
  goLive: GoLiveSettings
  /** The JSON line for the release log. */
  record: Record<string, unknown>
  /** In place: the releases whose virtualenvs the target and the live commit ran with. */
  venvOf?: string
  venvOfFrom?: string
}

function checkout(root: string, sha: string): Shell {
  return lines(
    `cd -- ${quote(root)}`,
    'if [ -n "$(git status --porcelain --untracked-files=no)" ]; then echo "the working tree has uncommitted changes to tracked files; not touching it" >&2; exit 1; fi',
    'branch=$(git symbolic-ref -q --short HEAD || true)',
    `if [ -n "$branch" ]; then git -c advice.detachedHead=false checkout -q -B "$branch" ${quote(sha)}; else git -c advice.detachedHead=false checkout -q --detach ${quote(sha)}; fi`,
  )
}

/** Switch to `to`, restart, reload, health-check; nothing here runs when a step fails. */
export function rollbackScript(plan: RollbackPlan): Shell {
  const live = plan.strategy === 'in-place' ? plan.root : `${plan.root}/current`
  const parts: [string, Shell][] = [
    ['proxy test', proxyTest(plan.goLive.proxy)],
    ['switch', plan.strategy === 'in-place' ? lines(checkout(plan.root, plan.to), relinkVenv(plan.root, plan.venvOf)) : switchTo(plan.root, plan.to)],
    ['restart', restart(plan.goLive.restart, live)],
    ['proxy', testAndReload(plan.goLive.proxy)],
    ['health', plan.goLive.health ? healthCheck(plan.goLive.health) : ''],
    ['finish', appendLog(plan.root, { ...plan.record, result: 'ok' })],
  ]
  return lines(...parts.filter(([, body]) => body !== '').map(([step, body]) => lines(stepMarker(step), body)))
}

/** In place, .venv follows the commit: point it back at the one the target ran with. */
function relinkVenv(root: string, releaseId: string | undefined): Shell {
  if (!releaseId) return ''
  const file = `${layout(root).meta}/releases/${releaseId}/venv`
  return `if [ -f ${quote(file)} ] && [ -d "$(cat ${quote(file)})" ]; then ln -sfn -- "$(cat ${quote(file)})" ${quote(`${root}/.venv`)}; fi`
}

/** After a failed rollback: back to where we were, restarted and reloaded. */
export function undoRollback(plan: RollbackPlan): Shell {
  const live = plan.strategy === 'in-place' ? plan.root : `${plan.root}/current`
  const back = plan.strategy === 'in-place' ? lines(checkout(plan.root, plan.from), relinkVenv(plan.root, plan.venvOfFrom)) : switchTo(plan.root, plan.from)
  return lines(
    back,
    `echo ${quote(`outcome: back on ${plan.from}`)}`,
    restartAndReload(plan.goLive, live, 'warn'),
    appendLog(plan.root, { ...plan.record, result: 'failed' }),
  )
}

function appendLog(root: string, record: Record<string, unknown>): Shell {
  const l = layout(root)
  return lines(`mkdir -p -- ${quote(l.meta)}`, `printf '%s\\n' ${quote(JSON.stringify({ ...record, finished: undefined }))} >> ${quote(l.log)}`)
}
