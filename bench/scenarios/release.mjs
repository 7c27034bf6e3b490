// Scenario 1: a release of the fixture app (v1 live → v2: ship, migrate, collectstatic,
// switch, restart, proxy reload, health check) by slipway's dist bundle, by an Ansible
// playbook, and by the floor (one `ssh host bash -s` with a pre-built script), on
// loopback and through a proxy adding 50 ms of round-trip latency.
//
// Every measured release starts from the same state: a fresh app whose v1 was released
// by slipway (untimed), Gunicorn serving it behind nginx. The tools take turns going
// first in each iteration.

import { mkdirSync, readFileSync, writeFileSync } from 'fs'
import { join } from 'path'
import {
  BENCH,
  nginxConf,
  asDeploy,
  expectOk,
  hex,
  httpGet,
  knownHostsFile,
  log,
  newApp,
  q,
  releaseInputs,
  releaseV1,
  rotate,
  runAction,
  server,
  sh,
  summary,
  summarySteps,
  timed,
  ratio,
  median,
} from '../lib/common.mjs'

const TOOLS = ['slipway', 'ansible', 'floor']

function releaseId(sha) {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${sha.slice(0, 7)}`
}

/** A git host for Ansible's git module: a bare copy of the fixture repo the deploy user can read over SSH. */
async function gitHost(work, repoDir) {
  const dir = `/srv/slipway/bench-githost-${process.pid}`
  await sh(`rm -rf ${dir} && install -d -o deploy -g deploy -m 0700 ${dir}`)
  await sh(`git clone -q --bare ${q(repoDir)} ${dir}/fixture.git && cp ${q(server.keyFile)} ${dir}/id && chown -R deploy:deploy ${dir} && chmod 600 ${dir}/id`)
  return {
    dir,
    repo: `${dir}/fixture.git`,
    sshCommand: kh => `ssh -i ${dir}/id -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
    knownHosts: ports => {
      writeFileSync(`${dir}/known_hosts`, ports.map(p => `[127.0.0.1]:${p} ${server.hostKeyLine}`).join('\n') + '\n')
      return `${dir}/known_hosts`
    },
    cleanup: () => sh(`rm -rf ${dir}`),
  }
}

async function runSlipway(app, repo, port, signal) {
  const r = await runAction('release', releaseInputs(app, repo.dir, { port, signal, ref: 'v2' }))
  expectOk(r, 'slipway release v2')
  // The runner's side of the timeline, from when each log line arrived.
  const at = re => r.timeline.find(l => re.test(l.line))?.ms
  const first = r.timeline[0]?.ms
  // The first group after the lock (whose guardian also probes the server): the release script.
  const probe = at(/^::group::.* · (release|build)$/)
  const lastEnd = [...r.timeline].reverse().find(l => l.line === '::endgroup::')?.ms
  const phases = { startMs: first, connectAndLockMs: probe - first, exitMs: r.ms - lastEnd }
  return { ms: r.ms, steps: summarySteps(r.summary), phases, shipped: /shipped [0-9a-f]+: ([^(]+)/.exec(r.log)?.[1]?.trim() }
}

async function runAnsible(ctx, app, repo, port, gitPort, signal) {
  const dir = join(ctx.work, `ansible-${hex()}`)
  mkdirSync(dir, { recursive: true })
  const control = join(dir, 'cp')
  writeFileSync(
    join(dir, 'ansible.cfg'),
    [
      '[defaults]',
      'host_key_checking = True',
      'interpreter_python = /usr/bin/python3',
      'gathering = explicit',
      'retry_files_enabled = False',
      'nocolor = True',
      `local_tmp = ${dir}/tmp`,
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${ctx.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
      `control_path = ${control}`,
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'inventory'), `app ansible_host=127.0.0.1 ansible_port=${port} ansible_user=deploy ansible_ssh_private_key_file=${server.keyFile}\n`)
  const vars = {
    root: app.root,
    rel_id: releaseId(repo.shas.v2),
    sha: repo.shas.v2,
    repo_url: `ssh://deploy@127.0.0.1:${gitPort}${ctx.git.repo}`,
    git_ssh: ctx.git.sshCommand(ctx.gitKnownHosts),
    nginx_conf: nginxConf(),
    restart_cmd: app.restartCommand(signal),
    health_url: app.healthUrl,
  }
  writeFileSync(join(dir, 'vars.json'), JSON.stringify(vars))
  const r = await timed(['ansible-playbook', '-i', join(dir, 'inventory'), join(BENCH, 'release/playbook.yml'), '-e', `@${join(dir, 'vars.json')}`], {
    env: {
      ...process.env,
      ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      // Per-task times for the report (a callback in the controller; no extra round trips).
      ANSIBLE_CALLBACKS_ENABLED: 'ansible.posix.profile_tasks',
      PROFILE_TASKS_TASK_OUTPUT_LIMIT: 'all',
      PROFILE_TASKS_SORT_ORDER: 'none',
    },
  })
  // End the persistent master (a fresh CI runner starts without one).
  await timed(['ssh', '-O', 'exit', '-o', `ControlPath=${control}`, '-p', String(port), 'deploy@127.0.0.1'])
  if (r.code !== 0) throw new Error(`ansible-playbook failed (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-40).join('\n')}`)
  const tasks = (r.stdout.match(/^TASK \[/gm) ?? []).length
  const steps = [...r.stdout.matchAll(/^(.+?) -{3,} (\d+\.\d+)s$/gm)].map(m => ({ step: m[1].trim(), ms: Math.round(Number(m[2]) * 1000) }))
  return { ms: r.ms, tasks, steps }
}

async function runFloor(ctx, app, repo, port, signal) {
  const id = releaseId(repo.shas.v2)
  const vars = { ROOT: app.root, ID: id, SHA: repo.shas.v2, RESTART: app.restartCommand(signal), NGINX_CONF: nginxConf(), HEALTH_URL: app.healthUrl }
  const script = `${Object.entries(vars).map(([k, v]) => `${k}=${q(v)}`).join('\n')}\n${readFileSync(join(BENCH, 'release/floor.sh'), 'utf8')}`
  const file = join(ctx.work, `floor-${id}.sh`)
  writeFileSync(file, script)
  const ssh = `ssh -p ${port} -i ${q(server.keyFile)} -o UserKnownHostsFile=${q(ctx.knownHosts)} -o StrictHostKeyChecking=yes -o BatchMode=yes deploy@127.0.0.1 bash -s`
  const pack = `printf '%s\\n^%s\\n' ${repo.shas.v2} ${repo.shas.v1} | git -C ${q(repo.dir)} pack-objects --revs --thin --stdout -q --delta-base-offset`
  const r = await timed(['bash', '-c', `set -o pipefail; { cat ${q(file)}; ${pack}; } | ${ssh}`])
  if (r.code !== 0) throw new Error(`floor release failed (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-30).join('\n')}`)
  const marks = [...r.stderr.matchAll(/^floor-step (.+) (\d+\.\d+)$/gm)].map(m => ({ step: m[1], t: Number(m[2]) * 1000 }))
  const steps = marks.slice(0, -1).map((m, i) => ({ step: m.step, ms: Math.round(marks[i + 1].t - m.t) }))
  return { ms: r.ms, steps }
}

/**
 * One measured release: a fresh app with v1 live, then v2 by `tool`. `port` is the
 * server (direct) or the proxy in front of it.
 */
async function oneRelease(ctx, tool, port, gitPort, proxy) {
  const app = await newApp(`rel-${tool}`)
  try {
    await releaseV1(ctx, app)
    if (tool === 'ansible') {
      // Ansible's own git cache holds v1's history, as slipway's does after v1.
      await asDeploy(`git clone -q --bare --single-branch --branch v1 ${ctx.git.repo} ${app.root}/repo-ansible`)
    }
    if (proxy) {
      await proxy.stats('ssh', true)
      await proxy.stats('git', true)
    }
    const r =
      tool === 'slipway'
        ? await runSlipway(app, ctx.repo, port, ctx.signal)
        : tool === 'ansible'
          ? await runAnsible(ctx, app, ctx.repo, port, gitPort, ctx.signal)
          : await runFloor(ctx, app, ctx.repo, port, ctx.signal)
    const health = await httpGet(app.healthUrl)
    if (!health.body.includes('ok v2')) throw new Error(`${tool}: after the release the site answers ${health.status} ${health.body}`)
    if (proxy) {
      const s = await proxy.stats('ssh', true)
      const g = await proxy.stats('git', true)
      r.net = { connections: s.connections, roundTrips: s.roundTrips, bytesUp: s.bytesUp, bytesDown: s.bytesDown, gitConnections: g.connections, gitRoundTrips: g.roundTrips }
    }
    return r
  } finally {
    await app.cleanup()
  }
}

export async function releaseScenario(ctx) {
  const { runs, proxy } = ctx
  const git = await gitHost(ctx.work, ctx.repo.dir)
  const direct = server.port
  const ssh50 = await proxy.listen('ssh', server.port, 50)
  const git50 = await proxy.listen('git', server.port, 50)
  const c = { ...ctx, git, knownHosts: knownHostsFile(ctx.work, [ssh50, git50]), gitKnownHosts: git.knownHosts([direct, ssh50, git50]) }
  const modes = [
    { name: 'loopback', port: direct, gitPort: direct, proxy: undefined },
    { name: 'rtt50', port: ssh50, gitPort: git50, proxy },
  ]
  const failures = []
  const out = { restart: `app-server.sh restart --signal ${ctx.signal}`, modes: {}, failures }
  try {
    for (const mode of modes) {
      const results = Object.fromEntries(TOOLS.map(t => [t, []]))
      for (let i = 0; i < runs; i++) {
        for (const tool of rotate(TOOLS, i)) {
          // One retry: a release that fails on a busy machine (a timeout in a shared
          // service) is logged and counted, not allowed to sink the whole run.
          let r
          for (let attempt = 1; !r; attempt++) {
            try {
              r = await oneRelease(c, tool, mode.port, mode.gitPort, mode.proxy)
            } catch (e) {
              if (attempt >= 2) throw e
              failures.push(`${mode.name} ${tool}: ${String(e.message ?? e).split('\n').slice(0, 3).join(' / ')}`)
              log(`release ${mode.name} #${i + 1} ${tool} failed, retrying once: ${String(e.message ?? e).split('\n')[0]}`)
            }
          }
          log(`release ${mode.name} #${i + 1} ${tool}: ${(r.ms / 1000).toFixed(2)} s${r.net ? ` (${r.net.connections} conn, ${r.net.roundTrips} round trips)` : ''}`)
          results[tool].push(r)
        }
      }
      const m = {}
      for (const tool of TOOLS) {
        const rs = results[tool]
        m[tool] = {
          ms: summary(rs.map(r => r.ms)),
          ...(rs[0].net
            ? {
                connections: median(rs.map(r => r.net.connections)),
                roundTrips: median(rs.map(r => r.net.roundTrips)),
                bytesUp: median(rs.map(r => r.net.bytesUp)),
                bytesDown: median(rs.map(r => r.net.bytesDown)),
                gitConnections: median(rs.map(r => r.net.gitConnections)),
                gitRoundTrips: median(rs.map(r => r.net.gitRoundTrips)),
              }
            : {}),
          ...(tool === 'ansible' ? { tasks: rs[0].tasks } : {}),
          ...(tool === 'slipway'
            ? {
                shipped: rs[0].shipped,
                // spawn → first log line (node, bundle, inputs, git rev-parse); → release script (SSH handshake, app lock + probe); last step → exit (lock release, close)
                phases: Object.fromEntries(['startMs', 'connectAndLockMs', 'exitMs'].map(k => [k, median(rs.map(r => r.phases[k]))])),
              }
            : {}),
          steps: medianSteps(rs.map(r => r.steps)),
          restartMs: summary(rs.map(r => restartOf(r.steps))),
          withoutRestartMs: summary(rs.map(r => r.ms - restartOf(r.steps))),
        }
      }
      m.ratios = {
        slipwayOverFloor: ratio(m.slipway.ms.median, m.floor.ms.median),
        ansibleOverSlipway: ratio(m.ansible.ms.median, m.slipway.ms.median),
        ansibleOverFloor: ratio(m.ansible.ms.median, m.floor.ms.median),
      }
      m.overheadOverFloorMs = m.slipway.ms.median - m.floor.ms.median
      // The app server's restart is the same command for all three and varies by a second
      // from run to run (Gunicorn's old master exits on its own schedule); without it the
      // tools' own costs are compared.
      m.ratiosWithoutRestart = {
        slipwayOverFloor: ratio(m.slipway.withoutRestartMs.median, m.floor.withoutRestartMs.median),
        ansibleOverSlipway: ratio(m.ansible.withoutRestartMs.median, m.slipway.withoutRestartMs.median),
      }
      out.modes[mode.name] = m
    }
    // How many sequential round trips each tool's time grows by, 50 ms apiece.
    out.latencyCost = Object.fromEntries(
      TOOLS.map(t => {
        const extra = out.modes.rtt50[t].ms.median - out.modes.loopback[t].ms.median
        return [t, { extraMs: extra, effectiveRoundTrips: Math.round((extra / 50) * 10) / 10 }]
      }),
    )
  } finally {
    await git.cleanup()
  }
  return out
}

/** The restart step's time, as each tool reports its steps. */
function restartOf(steps) {
  return steps.filter(s => s.step === 'restart' || s.step === 'restart the app server').reduce((a, s) => a + s.ms, 0)
}

/** Median duration of each step over runs: [{step, ms}]. */
function medianSteps(runs) {
  const names = [...new Set(runs.flatMap(r => r.map(s => s.step)))]
  return names.map(step => ({ step, ms: median(runs.map(r => r.filter(s => s.step === step).reduce((a, s) => a + s.ms, 0))) }))
}

