// The SSH connection cut during each release step in turn. A TCP proxy of our own sits
// between the action and sshd; when the action's log shows the step's marker, the
// script running that step on the server is frozen (SIGSTOP on its process group, so
// the cut lands inside the step and not a few milliseconds later), the connection is
// reset on both sides, and the script is let go again: it runs on until the lock's
// guardian, which sees its stdin end, ends it, exactly as after a real cut.
//
// Then: the previous release serves through nginx, no half-made release is live, the
// lock is gone (or reported stale naming its holder), and the next release succeeds.

import { afterAll, beforeAll, describe, expect } from 'vitest'
import { cleanUpApps, fixtureRepo, newApp, type App } from '../integration/support/app'
import { announcedId, complete, lastLogEntry, live, releaseDirs, viaProxy } from './lib/app'
import { describeServed, watch } from './lib/http'
import { TcpProxy } from './lib/proxy'
import { guardianGone, guardianPid, lockHeld, processes, runningScript, signalGroup, sshdFor, until, sleep } from './lib/remote'
import { Checks, kase, secs, type Note } from './lib/report'
import { runToEnd, startAction, why } from './lib/run'

beforeAll(() => {
  fixtureRepo()
})
afterAll(cleanUpApps)

const SECTION = 'Faults: connection cut during each release step'

/** In the order the release runs them ('ship' is its own script; the rest are markers). */
const STEPS = ['ship', 'prepare', 'link shared', 'virtualenv', 'check', 'migrate', 'collectstatic', 'before-switch', 'proxy test', 'switch', 'restart', 'proxy', 'health', 'after-switch', 'finish']

/** Whether a log line says the step has started. */
function startsStep(line: string, step: string): boolean {
  const m = /^(?:\[[^\]]*\] )?── (.+)$/.exec(line)
  return m?.[1] === step
}

interface CutState {
  atMs: number
  frozen: boolean
  live: string
  newDir: boolean
}

/**
 * Release `ref` through a proxy and cut it when `step` starts. Returns what the server
 * looked like at the cut and the action's run.
 */
export async function releaseAndCut(
  inputs: Record<string, string | undefined>,
  root: string,
  step: string,
  proxy: TcpProxy,
): Promise<{ run: Awaited<ReturnType<typeof runToEnd>>; cut?: CutState; newId?: string }> {
  let cut: CutState | undefined
  let newId: string | undefined
  let firing = false
  // The release script's process group, found at its first marker, so that at the
  // target marker the freeze is one kill(2) away rather than a scan of /proc.
  let known: ReturnType<typeof runningScript>
  const started = startAction('release', { ...inputs, ...viaProxy(proxy) }, {
    onLine: line => {
      newId ??= announcedId(line)
      if (!known && step !== 'ship' && startsStep(line, 'prepare')) known = runningScript(proxy.upstreamPorts().flatMap(sshdFor), root)
      if (firing || !startsStep(line, step)) return
      firing = true
      if (known) signalGroup(known.pgid, 'SIGSTOP')
      void (async () => {
        // 'ship' is the release script's first step, before 'prepare': its group is looked up now.
        const script = known ?? runningScript(proxy.upstreamPorts().flatMap(sshdFor), root)
        if (script) signalGroup(script.pgid, 'SIGSTOP')
        cut = { atMs: Date.now(), frozen: !!script, live: live(root), newDir: newId ? releaseDirs(root).includes(newId) : false }
        proxy.cut()
        await sleep(100)
        if (script) signalGroup(script.pgid, 'SIGCONT')
      })()
    },
  })
  const run = await started.done
  return { run, cut, newId: newId ?? announcedId(run.log) }
}

/** What the server looks like once the runner has given up: the checks every cut case makes. */
export async function afterCut(c: Checks, note: Note, root: string, previous: string, newId: string | undefined, cutAtMs: number, previousBody: string, url: string, shipping = false): Promise<void> {
  // The guardian notices the closed connection, ends the step, puts the previous release
  // back and frees the lock within seconds (its TERM-then-KILL grace is 10 s).
  // A guardian that died without freeing the lock is not waited for.
  const freed = await until(() => !lockHeld(root) || guardianGone(root), 25_000, 50)
  if (freed !== undefined && !lockHeld(root)) note(`lock released ${secs(Date.now() - cutAtMs)} after the cut`)
  else {
    const pid = guardianPid(root)
    const alive = pid !== undefined && processes().some(p => p.pid === pid)
    c.check(false, `lock still held 25 s after the cut, by a ${alive ? 'live' : 'DEAD'} guardian (pid ${pid})`)
  }
  const nowLive = live(root)
  const newLive = newId !== undefined && nowLive === newId
  if (newLive) {
    // Acceptable only if the new release had finished (complete marker) before the cut.
    c.check(complete(root, newId), `the interrupted release is live but not complete`)
    note('the new release had completed before the cut and stays live')
  } else {
    c.check(nowLive === previous, `current → ${nowLive || 'nothing'}, not the previous release`)
    if (newId) c.check(!releaseDirs(root).includes(newId), 'the half-made release directory is left behind')
    // A cut while shipping comes before the release exists: nothing to record.
    const entry = lastLogEntry(root)
    if (!shipping) c.check(entry?.id === newId && entry?.result === 'interrupted', `release log's last entry is ${entry ? `${String(entry.ref)} ${String(entry.result)}` : 'missing'}, not the interrupted release`)
  }
  // Whatever served during the cut, the right release serves now, every time.
  const after = watch(url, 20)
  await sleep(1500)
  const served = after.stop()
  const want = newLive ? undefined : previousBody
  c.check(served.bad === 0 && (!want || Object.keys(served.bodies).every(b => b === want)), `after the cut: ${describeServed(served)}${want ? `, expected only "${want}"` : ''}`)
}

describe('connection cut during each release step', () => {
  let proxy: TcpProxy
  let app: App
  /** The tag live now; each case releases the other one. */
  let liveTag: string
  const hooks = { 'before-switch': 'sleep 1', 'after-switch': 'sleep 1' }

  /** A healthy app with a live release and a free lock, made afresh if a case broke it. */
  async function healthyApp(): Promise<void> {
    if (app && !lockHeld(app.root) && (await app.get('/health').catch(() => ({ body: '' }))).body.includes(`ok ${liveTag}`)) return
    app = await newApp('cut')
    liveTag = 'v2'
    const r = await runToEnd('release', app.inputs({ ref: liveTag, ...hooks }))
    expect(r.exitCode, why(r)).toBe(0)
  }

  beforeAll(async () => {
    proxy = await TcpProxy.start('127.0.0.1', 2222)
  })
  afterAll(() => proxy.close())

  for (const step of STEPS) {
    kase(SECTION, `cut-${step.replace(/ /g, '-')}`, `cut during '${step}'`, async note => {
      const c = new Checks()
      await healthyApp()
      // v2 and v3-requirements differ in their requirements: each release really
      // builds or switches virtualenvs, migrates, collects static files.
      const tag = liveTag === 'v2' ? 'v3-requirements' : 'v2'
      const previous = live(app.root)
      const url = `http://127.0.0.1:${app.web}/health`
      const served = watch(url)
      const { run, cut, newId } = await releaseAndCut(app.inputs({ ref: tag, ...hooks }), app.root, step, proxy)
      expect(cut, `the step '${step}' never showed in the log: ${why(run)}`).toBeDefined()
      note(`at the cut: script ${cut!.frozen ? 'frozen in the step' : 'not found (cut unfrozen)'}, current → ${cut!.live === previous ? 'previous' : cut!.live === newId ? 'new release' : cut!.live}`)
      c.check(run.exitCode === 1, `the action exited ${run.exitCode}`)
      c.check(/connection was lost/.test(run.errors.join('\n')), `the action's error does not say the connection was lost: ${why(run)}`)
      await afterCut(c, note, app.root, previous, newId, cut!.atMs, `ok ${liveTag}`, url, step === 'ship')
      note(`during the cut: ${describeServed(served.stop())}`)

      const next = await runToEnd('release', app.inputs({ ref: tag, ...hooks }))
      const ok = c.check(next.exitCode === 0, `the next release failed: ${why(next)}`)
      if (ok) {
        liveTag = tag
        const body = (await app.get('/health')).body
        c.check(body.includes(`ok ${tag}`), `after the next release /health says ${body.trim()}`)
        note(`next release ok in ${secs(next.durationMs)}${/left behind by/.test(next.log) ? ' (took over the lock left behind)' : ''}`)
      }
      c.done()
      return ''
    })
  }
})
