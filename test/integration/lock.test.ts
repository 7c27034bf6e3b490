// The app lock on the real server: serialisation, waiting, dead and stale holders, and
// what happens when the runner's connection vanishes while it holds the lock.
import { existsSync, readFileSync } from 'fs'
import { afterEach, describe, expect, it } from 'vitest'
import { acquireLock, withLock } from '../../src/lock/lock'
import { freshAppDir, sh } from './support/server'
import { openHost } from './support/host'

const opened: { close(): void }[] = []
async function host() {
  const h = await openHost()
  opened.push(h.session)
  return h
}
afterEach(() => opened.splice(0).forEach(s => s.close()))
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

describe('app lock', () => {
  it('serialises two runs: the second waits, names the holder, and gets the lock after release', async () => {
    const root = freshAppDir('lock-wait')
    const a = await host()
    const b = await host()
    const lockA = await acquireLock(a.host, { kind: 'release', root, timeoutMs: 10_000, breakLock: false }, a.reporter)
    expect(existsSync(`${root}/.slipway/lock/pid`)).toBe(true)
    expect(sh(`stat -c %a ${root}/.slipway`).trim()).toBe('700')
    const pending = acquireLock(b.host, { kind: 'snapshot', root, timeoutMs: 10_000, breakLock: false }, b.reporter)
    await sleep(1500)
    expect(b.reporter.text).toMatch(/waiting for the app lock, held by release by \S+ \(/)
    await lockA.release()
    const lockB = await pending
    expect(lockB.waitedMs).toBeGreaterThan(1000)
    const log = readFileSync(`${root}/.slipway/lock.log`, 'utf8')
    expect(JSON.parse(log.trim())).toMatchObject({ holder: { kind: 'snapshot' }, waited_for: { kind: 'release' } })
    await lockB.release()
    expect(existsSync(`${root}/.slipway/lock`)).toBe(false)
  })

  it('gives up after lock-timeout with the holder in the error', async () => {
    const root = freshAppDir('lock-timeout')
    const a = await host()
    const b = await host()
    await withLock(a.host, { kind: 'release', root, timeoutMs: 10_000, breakLock: false }, a.reporter, async () => {
      await expect(acquireLock(b.host, { kind: 'release', root, timeoutMs: 2_000, breakLock: false }, b.reporter)).rejects.toThrow(
        /app lock at .* is held by release by .*gave up after lock-timeout/,
      )
    })
  })

  it('when the connection is lost, ends the work under the lock, runs the recovery and frees the lock', async () => {
    const root = freshAppDir('lock-lost')
    const a = await host()
    // A recovery that talks (restart commands do): nobody reads its output any more.
    const recovery = `for i in $(seq 2000); do echo "recovery output line $i"; done\ntouch ${root}/recovered`
    await acquireLock(a.host, { kind: 'release', root, timeoutMs: 5_000, breakLock: false, recovery }, a.reporter)
    // A long step under the lock, still running when the runner disappears.
    void a.host.step({ step: 'long', body: `exec -a slipway-lock-work-${process.pid} sleep 300` }).catch(() => undefined)
    await sleep(800)
    expect(sh(`ls ${root}/.slipway/lock/work | wc -l`).trim()).toBe('1')
    a.session.close()
    for (let i = 0; i < 50 && !existsSync(`${root}/recovered`); i++) await sleep(200)
    expect(existsSync(`${root}/recovered`)).toBe(true)
    for (let i = 0; i < 50 && existsSync(`${root}/.slipway/lock`); i++) await sleep(200)
    expect(existsSync(`${root}/.slipway/lock`)).toBe(false)
    expect(sh(`pgrep -f '^slipway-lock-work-${process.pid}' || true`).trim()).toBe('')
    expect(sh(`tail -1 ${root}/.slipway/recovery.log`)).toContain('recovery output line 2000')
  })

  it('takes over a lock whose holder process is gone (reboot, killed) and says so', async () => {
    const root = freshAppDir('lock-dead')
    sh(`install -d -o deploy -m 700 ${root}/.slipway ${root}/.slipway/lock && echo 999999 > ${root}/.slipway/lock/pid && cat /proc/sys/kernel/random/boot_id > ${root}/.slipway/lock/boot && echo '{"kind":"release","actor":"ghost"}' > ${root}/.slipway/lock/holder && echo 'echo undoing the ghost release; touch ${root}/ghost-recovered' > ${root}/.slipway/lock/recovery.sh && chown -R deploy ${root}/.slipway`)
    const a = await host()
    await withLock(a.host, { kind: 'release', root, timeoutMs: 5_000, breakLock: false }, a.reporter, async () => undefined)
    expect(a.reporter.text).toMatch(/left behind by release by ghost .*process is gone/)
    // What the dead holder's guardian never got to do is done before taking over.
    expect(existsSync(`${root}/ghost-recovered`)).toBe(true)
    expect(readFileSync(`${root}/.slipway/recovery.log`, 'utf8')).toContain('undoing the ghost release')
    expect(sh(`stat -c %a ${root}/.slipway/lock.log 2>/dev/null || echo none`).trim()).not.toBe('644')
  })

  it('reports a live but silent holder as stale, and breaks it only with break-lock', async () => {
    const root = freshAppDir('lock-stale')
    sh(`su deploy -c 'exec -a slipway-stale-holder sleep 120' >/dev/null 2>&1 & sleep 0.3; pid=$(pgrep -f '^slipway-stale-holder' | head -1);
      install -d -o deploy -m 700 ${root}/.slipway ${root}/.slipway/lock && echo $pid > ${root}/.slipway/lock/pid && cat /proc/sys/kernel/random/boot_id > ${root}/.slipway/lock/boot &&
      echo '{"kind":"snapshot","actor":"sleepy"}' > ${root}/.slipway/lock/holder && touch -d '-1 hour' ${root}/.slipway/lock/heartbeat && chown -R deploy ${root}/.slipway`)
    const a = await host()
    await expect(acquireLock(a.host, { kind: 'release', root, timeoutMs: 2_000, breakLock: false }, a.reporter)).rejects.toThrow(/held by snapshot by sleepy/)
    expect(a.reporter.text).toMatch(/alive but silent for \d+ s; set break-lock: true/)
    const b = await host()
    await withLock(b.host, { kind: 'release', root, timeoutMs: 2_000, breakLock: true }, b.reporter, async () => undefined)
    expect(b.reporter.text).toMatch(/breaking the app lock held by snapshot by sleepy/)
    sh(`pkill -f '^slipway-stale-holder' || true`)
  })
})
