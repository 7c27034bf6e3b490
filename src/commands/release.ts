// Remote commands of a release, as pure functions of the plan. The pipeline runs them
// in as few round trips as possible: a read-only probe, the pack upload, and one
// script that builds and switches, with step markers for the log and the summary.

import type { GoLiveSettings, ReleaseSettings } from '../inputs/release'
import { releasePython } from './django'
import { healthCheck } from './health'
import { layout } from './layout'
import { proxyTest, testAndReload } from './proxy'
import { stepMarker } from './script'
import { lines, quote, type Shell } from './shell'

/** Release ids sort by time: 20261124T143015Z-1a2b3c4. */
export const RELEASE_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$/

export function releaseId(now: Date, sha: string): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return `${t}-${sha.slice(0, 7)}`
}

/** Everything the remote scripts of one release need to know: settings plus this release. */
export interface ReleasePlan
  extends Pick<
    ReleaseSettings,
    'strategy' | 'shared' | 'requirements' | 'python' | 'systemSitePackages' | 'projectDir' | 'collectstatic' | 'checkDeploy' | 'goLive' | 'beforeSwitch' | 'afterSwitch' | 'keepReleases'
  > {
  root: string
  id: string
  sha: string
  ref: string
  /** Live release before this one (id for releases, sha for in-place), if any. */
  previous?: string
  /** This host applies migrations (the first host of a release). */
  migrate: boolean
  /** The JSON line appended to the release log, without its result. */
  record: Record<string, unknown>
}

export function paths(plan: Pick<ReleasePlan, 'root' | 'strategy' | 'id'>) {
  const l = layout(plan.root)
  const dir = plan.strategy === 'in-place' ? plan.root : `${l.releases}/${plan.id}`
  return { ...l, dir, meta: `${l.meta}/releases/${plan.id}` }
}

/** Shell that sets the variables every release script relies on. */
function context(plan: ReleasePlan): Shell {
  const p = paths(plan)
  return lines(
    `ROOT=${quote(p.root)}; REL=${quote(p.dir)}; META=${quote(p.meta)}; ID=${quote(plan.id)}; SHA=${quote(plan.sha)}`,
    `APP="$REL"${plan.projectDir ? `/${quote(plan.projectDir)}` : ''}`,
    // A release split around the snapshot runs as two scripts; both use its virtualenv.
    releasePython('"$REL"', plan.python),
  )
}

// ---------------------------------------------------------------- probe

export interface ProbeResult {
  /** Live release id (releases) or HEAD sha (in-place); '' when none. */
  current: string
  currentSha: string
  hasCommit: boolean
  /** Commits the server's object cache has, newest first (for the pack negotiation). */
  haves: string[]
  missingShared: string[]
  freeKb: number
  git: boolean
  /** in-place: the working tree has changes to tracked files. */
  dirty: boolean
  /** The live release finished (releases strategy); false after a crash mid-release. */
  currentComplete: boolean
  /** The newest release that finished. */
  lastComplete: string
  branch: string
}

/** Read-only look at the server: safe in a dry run, changes nothing. */
export function probe(plan: Pick<ReleasePlan, 'root' | 'strategy' | 'sha' | 'shared'>): Shell {
  const l = layout(plan.root)
  const gitDir = plan.strategy === 'in-place' ? `${plan.root}/.git` : l.repo
  return lines(
    `ROOT=${quote(plan.root)}; GIT_DIR_=${quote(gitDir)}`,
    'say() { printf "%s=%s\\n" "$1" "$2"; }',
    'if command -v git >/dev/null 2>&1; then say git yes; else say git no; fi',
    plan.strategy === 'in-place'
      ? lines(
          'if [ -d "$ROOT/.git" ]; then',
          '  say current "$(git -C "$ROOT" rev-parse -q --verify HEAD || true)"',
          '  say current_sha "$(git -C "$ROOT" rev-parse -q --verify HEAD || true)"',
          '  say branch "$(git -C "$ROOT" symbolic-ref -q --short HEAD || true)"',
          '  if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then say dirty yes; else say dirty no; fi',
          'fi',
        )
      : lines(
          'cur=$(readlink "$ROOT/current" 2>/dev/null || true); cur=${cur##*/}; say current "$cur"',
          'say current_sha "$(cat "$ROOT/current/REVISION" 2>/dev/null || true)"',
          // A release that went live but never finished (the server died mid-release)
          // is not a release to keep, nor one to go back to.
          // (Only releases slipway made have a record; one made by other means counts as finished.)
          'if [ -n "$cur" ] && [ -d "$ROOT/.slipway/releases/$cur" ] && [ ! -e "$ROOT/.slipway/releases/$cur/complete" ]; then say current_complete no; else say current_complete yes; fi',
          `for r in $(ls -1 "$ROOT/releases" 2>/dev/null | grep -E ${quote(RELEASE_ID.source)} | sort -r); do [ -e "$ROOT/.slipway/releases/$r/complete" ] && { say last_complete "$r"; break; }; done; true`,
        ),
    `if git --git-dir "$GIT_DIR_" cat-file -e ${quote(plan.sha)}^{commit} 2>/dev/null; then say has_commit yes; else say has_commit no; fi`,
    'say haves "$(git --git-dir "$GIT_DIR_" for-each-ref --sort=-committerdate --count=30 --format="%(objectname)" 2>/dev/null | tr "\\n" " ")"',
    `for e in ${plan.shared.map(quote).join(' ')}; do [ -e "$ROOT/shared/$e" ] || say missing_shared "$e"; done`,
    'say free_kb "$(df -Pk "$ROOT" 2>/dev/null | awk \'NR==2 {print $4}\')"',
  )
}

export function parseProbe(stdout: string): ProbeResult {
  const r: ProbeResult = { current: '', currentSha: '', hasCommit: false, haves: [], missingShared: [], freeKb: 0, git: false, dirty: false, branch: '', currentComplete: true, lastComplete: '' }
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const [k, v] = [line.slice(0, eq), line.slice(eq + 1).trim()]
    if (k === 'current') r.current = v
    else if (k === 'current_sha') r.currentSha = v
    else if (k === 'has_commit') r.hasCommit = v === 'yes'
    else if (k === 'haves') r.haves = v.split(' ').filter(s => /^[0-9a-f]{40}$/.test(s))
    else if (k === 'missing_shared') r.missingShared.push(v)
    else if (k === 'free_kb') r.freeKb = Number(v) || 0
    else if (k === 'git') r.git = v === 'yes'
    else if (k === 'dirty') r.dirty = v === 'yes'
    else if (k === 'branch') r.branch = v
    else if (k === 'current_complete') r.currentComplete = v === 'yes'
    else if (k === 'last_complete') r.lastComplete = v
  }
  return r
}

// ---------------------------------------------------------------- shipping

/** Receive a pack on stdin into the object cache and pin the commit with a ref. */
export function receivePack(plan: Pick<ReleasePlan, 'root' | 'strategy' | 'sha' | 'id'>): Shell {
  const gitDir = plan.strategy === 'in-place' ? `${plan.root}/.git` : layout(plan.root).repo
  return lines(
    `G=${quote(gitDir)}`,
    plan.strategy === 'in-place' ? '' : '[ -d "$G/objects" ] || { mkdir -p "$G" && git init -q --bare "$G"; }',
    // --fix-thin completes a thin pack from objects the server already has.
    'git --git-dir "$G" index-pack --stdin --fix-thin >/dev/null',
    `git --git-dir "$G" cat-file -e ${quote(plan.sha)}^{commit}`,
    `git --git-dir "$G" update-ref ${quote(`refs/slipway/${plan.id}`)} ${quote(plan.sha)}`,
  )
}

/** source: pull — the server fetches the commit itself (its own credentials). */
export function fetchOnServer(plan: Pick<ReleasePlan, 'root' | 'strategy' | 'id'>, repository: string, ref: string): Shell {
  const gitDir = plan.strategy === 'in-place' ? `${plan.root}/.git` : layout(plan.root).repo
  return lines(
    `G=${quote(gitDir)}`,
    plan.strategy === 'in-place' ? '' : '[ -d "$G/objects" ] || { mkdir -p "$G" && git init -q --bare "$G"; }',
    `git --git-dir "$G" fetch -q --no-tags ${quote(repository)} ${quote(`+${ref}:refs/slipway/fetch-${plan.id}`)}`,
    `sha=$(git --git-dir "$G" rev-parse ${quote(`refs/slipway/fetch-${plan.id}^{commit}`)})`,
    `git --git-dir "$G" update-ref ${quote(`refs/slipway/${plan.id}`)} "$sha"`,
    `git --git-dir "$G" update-ref -d ${quote(`refs/slipway/fetch-${plan.id}`)}`,
    'echo "sha=$sha"',
  )
}

// ---------------------------------------------------------------- build

function exportRelease(plan: ReleasePlan): Shell {
  if (plan.strategy === 'in-place') {
    return lines(
      // Tracked files only; untracked files (local_settings.py, media) stay as they are.
      'cd "$ROOT"',
      'if [ -n "$(git status --porcelain --untracked-files=no)" ]; then echo "the working tree at $ROOT has uncommitted changes to tracked files; refusing to overwrite them" >&2; git status --short --untracked-files=no >&2; exit 1; fi',
      // What slipway keeps in the tree is not the project's: never untracked noise.
      'for p in /.slipway /.venv /snapshots; do grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude; done',
      'branch=$(git symbolic-ref -q --short HEAD || true)',
      'if [ -n "$branch" ]; then git -c advice.detachedHead=false checkout -q -B "$branch" "$SHA"; else git -c advice.detachedHead=false checkout -q --detach "$SHA"; fi',
    )
  }
  const l = layout(plan.root)
  return lines(
    `mkdir -p -- ${quote(l.releases)} ${quote(l.shared)} ${quote(l.venvs)}`,
    'rm -rf -- "$REL"; mkdir -- "$REL"',
    `git --git-dir ${quote(l.repo)} archive --format=tar "$SHA" | tar -x -C "$REL"`,
    'printf "%s\\n" "$SHA" > "$REL/REVISION"',
  )
}

function linkShared(plan: ReleasePlan): Shell {
  if (plan.shared.length === 0) return ''
  return lines(
    `for e in ${plan.shared.map(quote).join(' ')}; do`,
    '  src="$ROOT/shared/$e"',
    '  [ -e "$src" ] || { echo "shared entry $src does not exist on the server; create it (e.g. copy local_settings.py there) before releasing" >&2; exit 1; }',
    plan.strategy === 'in-place'
      ? '  if [ -e "$REL/$e" ] && [ ! -L "$REL/$e" ]; then echo "$REL/$e exists and is not a link to $src; leaving it" >&2; continue; fi'
      : '  rm -rf -- "${REL:?}/$e"',
    '  mkdir -p -- "$(dirname -- "$REL/$e")"',
    '  ln -sfn -- "$src" "$REL/$e"',
    'done',
  )
}

function virtualenv(plan: ReleasePlan): Shell {
  const venvs = plan.strategy === 'in-place' ? `${plan.root}/.slipway/venvs` : layout(plan.root).venvs
  const files = plan.requirements
  // Requirements files are named from the repository root. Without a name, the
  // project's own requirements.txt wins over one at the root (manage.py in src/).
  const pick =
    files === undefined
      ? lines(
          'reqs=()',
          `for c in ${[...(plan.projectDir ? [`${plan.projectDir}/requirements.txt`] : []), 'requirements.txt'].map(quote).join(' ')}; do`,
          '  if [ -f "$c" ]; then reqs=("$c"); break; fi',
          'done',
        )
      : lines(
          `reqs=(${files.map(quote).join(' ')})`,
          'for f in "${reqs[@]}"; do [ -f "$f" ] || { echo "requirements file $f is not in the release ($REL)" >&2; exit 1; }; done',
        )
  return lines(
    'cd "$REL"',
    pick,
    'if [ "${#reqs[@]}" -eq 0 ]; then echo "no requirements file: using $PY without a virtualenv"; else',
    // One virtualenv per distinct set of requirements (and interpreter), shared by
    // every release that has the same ones: unchanged requirements install nothing.
    `  key=$( { sha256sum "\${reqs[@]}"; "$PY" -c 'import sys; print(sys.version)'; echo ssp=${plan.systemSitePackages ? 1 : 0}; } | sha256sum | cut -c1-16)`,
    `  venv=${quote(venvs)}/$key`,
    '  if [ -f "$venv/.slipway-complete" ]; then echo "reusing virtualenv $venv (requirements unchanged)"; else',
    '    rm -rf -- "$venv"; mkdir -p -- "$(dirname -- "$venv")"',
    `    "$PY" -m venv ${plan.systemSitePackages ? '--system-site-packages ' : ''}"$venv"`,
    '    args=(); for f in "${reqs[@]}"; do args+=(-r "$REL/$f"); done',
    // pip resolves ./local/paths inside a requirements file against the current directory.
    '    (cd -- "$(dirname -- "${reqs[0]}")" && "$venv/bin/python" -m pip install --disable-pip-version-check --no-input "${args[@]}")',
    '    touch "$venv/.slipway-complete"',
    '  fi',
    '  ln -sfn -- "$venv" "$REL/.venv"',
    'fi',
    releasePython('"$REL"', plan.python),
  )
}

function manage(args: string): Shell {
  return `(cd "$APP" && "$PY" manage.py ${args})`
}

function migrate(): Shell {
  // The plan, then the migration, in one Django process: each start-up of manage.py
  // costs as much as a small migration.
  const program = [
    'from django.core.management import call_command',
    'print("migration plan:", flush=True)',
    'call_command("migrate", plan=True)',
    'call_command("migrate", interactive=False)',
  ].join('\n')
  return lines(
    // Applied migrations are recorded for the summary and for a later rollback, which
    // refuses to go back over them without the data.
    `${manage(`shell -c ${quote(program)}`)} | tee "$META/migrate.log"`,
    'sed -n \'s/^ *Applying \\([A-Za-z0-9_.]*\\)\\.\\.\\. OK$/\\1/p\' "$META/migrate.log" > "$META/migrations"',
  )
}

/**
 * A user's command (hook, restart) inlined in a subshell: it never appears on a
 * command line, and it runs with the same strictness as `run` scripts.
 */
export function userCommand(body: string, dir: string): Shell {
  return lines('(', `cd -- ${dir}`, 'set +u', body, ')')
}

/** Steps up to (not including) migrate: nothing live changes here. */
export function buildSteps(plan: ReleasePlan): { step: string; body: Shell }[] {
  return [
    {
      step: 'prepare',
      body: lines(
        context(plan),
        plan.strategy === 'releases' ? removeAbandoned(plan.root) : '',
        `mkdir -p -- "$META"`,
        `printf '%s\\n' ${quote(JSON.stringify(plan.record))} > "$META/meta.json"`,
        exportRelease(plan),
      ),
    },
    { step: 'link shared', body: linkShared(plan) },
    { step: 'virtualenv', body: virtualenv(plan) },
    { step: 'check', body: lines('[ -f "$APP/manage.py" ] || { echo "no manage.py in $APP (project-dir?)" >&2; exit 1; }', manage(plan.checkDeploy ? 'check --deploy' : 'check')) },
  ]
}

/** From migrate to the switch; a failure here still leaves the live release untouched. */
export function preSwitchSteps(plan: ReleasePlan): { step: string; body: Shell }[] {
  return [
    { step: 'migrate', body: plan.migrate ? migrate() : '' },
    { step: 'collectstatic', body: plan.collectstatic ? manage('collectstatic --noinput') : '' },
    { step: 'before-switch', body: plan.beforeSwitch ? userCommand(plan.beforeSwitch, '"$REL"') : '' },
    { step: 'proxy test', body: proxyTest(plan.goLive.proxy) },
  ]
}

/** Point current at the release: a new link renamed over the old one (atomic). */
export function switchTo(root: string, id: string): Shell {
  return lines(`ln -sfn -- ${quote(`releases/${id}`)} ${quote(`${root}/.current.tmp`)}`, `mv -T -- ${quote(`${root}/.current.tmp`)} ${quote(`${root}/current`)}`)
}

/** Restart the app servers: each command in the live directory, each must succeed. */
export function restart(commands: string[], dir: string): Shell {
  return lines(...commands.map(c => lines(`echo ${quote(`$ ${c}`)}`, userCommand(c, quote(dir)))))
}

/** Restart the app servers, then test and reload the proxy. */
export function restartAndReload(goLive: GoLiveSettings, dir: string, onTestFailure: 'fail' | 'warn' = 'fail'): Shell {
  return lines(restart(goLive.restart, dir), testAndReload(goLive.proxy, onTestFailure))
}

/** The switch and everything after it. */
export function goLiveSteps(plan: ReleasePlan): { step: string; body: Shell }[] {
  const p = paths(plan)
  const liveDir = plan.strategy === 'in-place' ? plan.root : `${plan.root}/current`
  return [
    { step: 'switch', body: plan.strategy === 'in-place' ? 'echo "working tree at $SHA"' : switchTo(plan.root, plan.id) },
    { step: 'restart', body: restart(plan.goLive.restart, liveDir) },
    { step: 'proxy', body: testAndReload(plan.goLive.proxy) },
    { step: 'health', body: plan.goLive.health ? healthCheck(plan.goLive.health) : '' },
    { step: 'after-switch', body: plan.afterSwitch ? userCommand(plan.afterSwitch, '"$REL"') : '' },
    {
      step: 'finish',
      body: lines(
        `touch ${quote(`${p.meta}/complete`)}`,
        // Which virtualenv this release ran with, so a rollback in place can relink it.
        'if [ -L "$REL/.venv" ]; then readlink -- "$REL/.venv" > "$META/venv"; fi',
        logRecord(plan, 'ok'),
        plan.strategy === 'releases' ? pruneReleases(plan.root, plan.keepReleases, plan.id, plan.previous) : '',
      ),
    },
  ]
}

/** Append the release's JSON line to the log, with its result and applied migrations. */
export function logRecord(plan: Pick<ReleasePlan, 'root' | 'record' | 'strategy' | 'id'>, result: string): Shell {
  const p = paths(plan)
  const head = JSON.stringify({ ...plan.record, result }).slice(0, -1)
  return lines(
    `m=$(sed 's/.*/"&"/' ${quote(`${p.meta}/migrations`)} 2>/dev/null | paste -sd, - || true)`,
    `printf '%s,"migrations":[%s],"finished":"%s"}\\n' ${quote(head)} "$m" "$(date -u +%FT%TZ)" >> ${quote(layout(plan.root).log)}`,
  )
}

/**
 * Keep the newest `keep` releases; never the live one, the previous one, or the one
 * just made. Virtualenvs no remaining release links to go with them.
 */
export function pruneReleases(root: string, keep: number, id: string, previous?: string): Shell {
  const l = layout(root)
  return lines(
    `cd ${quote(l.releases)}`,
    `live=$(readlink ${quote(l.current)} 2>/dev/null || true); live=\${live##*/}`,
    `for r in $(ls -1 | grep -E ${quote(RELEASE_ID.source)} | sort -r | tail -n +${keep + 1}); do`,
    `  case "$r" in "$live"|${quote(id)}${previous ? `|${quote(previous)}` : ''}) continue ;; esac`,
    `  echo "removing old release $r"; rm -rf -- "$r" ${quote(`${l.meta}/releases`)}/"$r"`,
    'done',
    `if [ -d ${quote(l.venvs)} ]; then for v in ${quote(l.venvs)}/*; do [ -d "$v" ] || continue; used=no`,
    '  for link in */.venv; do [ "$(readlink "$link" 2>/dev/null)" = "$v" ] && used=yes && break; done',
    '  [ "$used" = yes ] || { echo "removing unused virtualenv ${v##*/}"; rm -rf -- "$v"; }',
    'done; fi',
  )
}

/** The whole release as steps; `untilMigrate` splits it where a snapshot must be taken. */
export function releaseScript(plan: ReleasePlan, part: 'all' | 'build' | 'rest'): Shell {
  const parts =
    part === 'build' ? buildSteps(plan) : part === 'rest' ? [...preSwitchSteps(plan), ...goLiveSteps(plan)] : [...buildSteps(plan), ...preSwitchSteps(plan), ...goLiveSteps(plan)]
  return lines(
    context(plan),
    ...parts.filter(s => s.body !== '').map(s => lines(stepMarker(s.step), s.body)),
  )
}

// ---------------------------------------------------------------- failure paths

/**
 * After a failed release: if the release went live, put the previous one back,
 * restart and reload; remove the failed release directory; log the result. Decided
 * from the server's actual state, not from what the runner believes happened.
 */
export function undoRelease(plan: ReleasePlan, result: 'failed' | 'interrupted'): Shell {
  const p = paths(plan)
  const restore =
    plan.strategy === 'in-place'
      ? lines(
          `if [ "$(git -C ${quote(plan.root)} rev-parse HEAD 2>/dev/null)" = ${quote(plan.sha)} ] && [ ! -e ${quote(`${p.meta}/complete`)} ]; then`,
          plan.previous
            ? lines(
                `  cd ${quote(plan.root)}; branch=$(git symbolic-ref -q --short HEAD || true)`,
                `  if [ -n "$branch" ]; then git -c advice.detachedHead=false checkout -q -B "$branch" ${quote(plan.previous)}; else git -c advice.detachedHead=false checkout -q --detach ${quote(plan.previous)}; fi`,
                `  outcome=${quote(`rolled back: the working tree is at ${plan.previous.slice(0, 12)} again`)}`,
                // .venv still points at the failed commit's requirements.
                `  REL=${quote(plan.root)}; APP="$REL"${plan.projectDir ? `/${quote(plan.projectDir)}` : ''}; PY=${quote(plan.python)}`,
                virtualenv(plan),
                restartAndReload(plan.goLive, plan.root, 'warn'),
              )
            : '  outcome="no previous commit recorded; the working tree stays at the new commit"',
          'fi',
        )
      : lines(
          `live=$(readlink ${quote(`${plan.root}/current`)} 2>/dev/null || true)`,
          `if [ "$live" = ${quote(`releases/${plan.id}`)} ] && [ ! -e ${quote(`${p.meta}/complete`)} ]; then`,
          plan.previous
            ? lines(
                `  if [ -d ${quote(`${plan.root}/releases/${plan.previous}`)} ]; then`,
                switchTo(plan.root, plan.previous),
                `    outcome=${quote(`rolled back: current is ${plan.previous} again`)}`,
                restartAndReload(plan.goLive, `${plan.root}/current`, 'warn'),
                '  else outcome="the previous release is gone; the failed release stays live"; fi',
              )
            : '  outcome="this was the first release; there is nothing to roll back to, so it stays live"',
          'fi',
          `if [ "$(readlink ${quote(`${plan.root}/current`)} 2>/dev/null)" != ${quote(`releases/${plan.id}`)} ]; then rm -rf -- ${quote(p.dir)}; fi`,
        )
  return lines(
    `mkdir -p -- ${quote(p.meta)}`,
    'outcome="the live release was not changed"',
    restore,
    logRecord(plan, result),
    // The runner reports this line as what was done about the failure.
    'echo "outcome: $outcome"',
  )
}

/** What the lock's guardian runs if our connection is lost mid-release. */
export function recoverRelease(plan: ReleasePlan): Shell {
  return lines(
    `if [ ! -e ${quote(`${paths(plan).meta}/complete`)} ]; then`,
    undoRelease(plan, 'interrupted'),
    'fi',
  )
}

/** Remove release directories left behind by an interrupted run (a reboot mid-release). */
export function removeAbandoned(root: string): Shell {
  const l = layout(root)
  return lines(
    `if [ -d ${quote(l.releases)} ]; then`,
    `  live=$(readlink ${quote(l.current)} 2>/dev/null || true); live=\${live##*/}`,
    `  for r in $(ls -1 ${quote(l.releases)} | grep -E ${quote(RELEASE_ID.source)}); do`,
    '    [ "$r" = "$live" ] && continue',
    `    [ -e ${quote(l.meta)}/releases/"$r"/complete ] && continue`,
    `    echo "removing release $r, left behind by an interrupted run"; rm -rf -- ${quote(l.releases)}/"$r"`,
    '  done',
    'fi',
  )
}
