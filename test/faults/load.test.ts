// Load: one release to 20 hosts with parallel: 5, then a rollout that fails on host 7;
// and the action's peak memory while it downloads a 2 GiB snapshot.
//
// The 20 hosts are the network namespaces test/server/up.sh makes (10.213.N.2), but they
// share this machine's filesystem, and a host-specific `path` cannot be given. So each
// host gets a second sshd of its own (port 2022, the namespace host key) started in a
// private mount namespace in which /srv/fleet-app is a bind mount of that host's own
// directory. Every host is then released to the same path, /srv/fleet-app, and each sees
// only its own releases, shared files, virtualenvs and app server, as 20 machines
// would. The database is one PostgreSQL reached over its unix socket (shared across
// namespaces, like a database server all app servers use); the first host migrates it.

import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { fixtureRepo } from '../integration/support/app'
import { APP_SERVER, asDeploy, createPgDatabase, suffix, type AppRepo, type Database } from '../integration/support/fixture'
import { connection, server, sh } from '../integration/support/server'
import { processes, until } from './lib/remote'
import { Checks, kase, secs } from './lib/report'
import { runToEnd, why } from './lib/run'

const HOSTS = 20
const PORT = 2022
const PATH = '/srv/fleet-app'
const SECTION = 'Load'
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

describe('20 hosts, parallel 5', () => {
  const base = `/srv/slipway/fleet-${process.pid}-${suffix()}`
  const hostDir = (n: number) => `${base}/h${n}`
  const conf = (n: number) => `${base}/sshd-h${n}.conf`
  let db: Database
  let repo: AppRepo

  beforeAll(async () => {
    repo = fixtureRepo()
    db = createPgDatabase()
    sh(`install -d -o deploy -g deploy -m 0755 ${PATH} ${base}`)
    const settings = [
      `SECRET_KEY = 'fleet-${suffix()}'`,
      "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']",
      `DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': '${db.name}', 'USER': 'app', 'PASSWORD': '${server.dbPassword}', 'HOST': '/var/run/postgresql'}}`,
      `MEDIA_ROOT = '${PATH}/shared/media'`,
      '',
    ].join('\n')
    for (let n = 1; n <= HOSTS; n++) {
      asDeploy(`mkdir -p ${hostDir(n)}/shared/fixture ${hostDir(n)}/shared/media && cat > ${hostDir(n)}/shared/fixture/local_settings.py <<'EOF'\n${settings}EOF`)
      writeFileSync(
        conf(n),
        [
          `Port ${PORT}`,
          `ListenAddress 10.213.${n}.2`,
          `HostKey ${server.state}/keys/netns_host_ed25519`,
          `PidFile ${base}/sshd-h${n}.pid`,
          'AuthorizedKeysFile .ssh/authorized_keys',
          'UsePAM no',
          'StrictModes no',
          'AllowUsers deploy',
          'MaxSessions 64',
          'Subsystem sftp internal-sftp',
          '',
        ].join('\n'),
      )
      // The mount is made in a namespace that only this sshd (and what it starts) lives in.
      sh(`ip netns exec slw-h${n} unshare -m --propagation private bash -c ${q(`mount --bind ${hostDir(n)} ${PATH} && exec /usr/sbin/sshd -f ${conf(n)} -E ${base}/sshd-h${n}.log`)}`)
    }
    for (let n = 1; n <= HOSTS; n++) expect(await until(() => existsSync(`${base}/sshd-h${n}.pid`), 10_000), `sshd for host ${n}`).not.toBeUndefined()
  })

  afterAll(() => {
    // Our own processes only: the app servers of /srv/fleet-app and our sshds.
    for (const p of processes().filter(p => p.args.includes(`${PATH}/`))) {
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
    for (let n = 1; n <= HOSTS; n++) sh(`kill $(cat ${base}/sshd-h${n}.pid 2>/dev/null) 2>/dev/null || true`)
    db.drop()
  })

  const inputs = (ref: string, extra: Record<string, string> = {}) => {
    const key = readFileSync(`${server.state}/keys/netns_host_ed25519.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
    return {
      ...connection(),
      host: Array.from({ length: HOSTS }, (_, i) => `deploy@10.213.${i + 1}.2:${PORT}`).join('\n'),
      'known-hosts': Array.from({ length: HOSTS }, (_, i) => `[10.213.${i + 1}.2]:${PORT} ${key}`).join('\n'),
      path: PATH,
      parallel: '5',
      'working-directory': repo.dir,
      ref,
      shared: 'fixture/local_settings.py',
      python: '/usr/bin/python3',
      'system-site-packages': 'true',
      restart: `${APP_SERVER} restart ${PATH} 8000 --workers 1`,
      'health-url': 'http://127.0.0.1:8000/health',
      'health-timeout': '30s',
      ...extra,
    }
  }
  const liveOn = (n: number) => {
    try {
      return readlinkSync(`${hostDir(n)}/current`).replace('releases/', '')
    } catch {
      return ''
    }
  }
  const releasesOn = (n: number) => (existsSync(`${hostDir(n)}/releases`) ? readdirSync(`${hostDir(n)}/releases`).sort() : [])

  let v1 = ''
  kase(SECTION, 'fleet-20', 'one release to 20 hosts (own sshd and own /srv/fleet-app each), parallel 5', async () => {
    const r = await runToEnd('release', inputs('v1'), { timeoutMs: 600_000 })
    expect(r.exitCode, why(r)).toBe(0)
    v1 = r.outputs.release
    const c = new Checks()
    for (let n = 1; n <= HOSTS; n++) c.check(liveOn(n) === v1, `host ${n}: current → ${liveOn(n) || 'nothing'}`)
    // Each host really is separate: its own app server answered its own health check.
    const started = readdirSync(base).filter(f => /^h\d+$/.test(f) && existsSync(`${base}/${f}/shared/run/gunicorn.pid`)).length
    c.check(started === HOSTS, `${started} hosts have an app server pid file`)
    const summaryRows = (r.summary.match(/\| deploy@10\.213\.\d+\.2:2022 \| ✅ ok/g) ?? []).length
    c.check(summaryRows === HOSTS, `the summary lists ${summaryRows} ok hosts`)
    c.done()
    return `all ${HOSTS} ok in ${secs(r.durationMs)}`
  }, 600_000)

  kase(SECTION, 'fleet-rolling-failure', 'rolling failure on host 7 (its shared local_settings.py missing) stops the rollout; hosts not yet started stay untouched', async note => {
    expect(v1, 'the first fleet release did not run').not.toBe('')
    rmSync(`${hostDir(7)}/shared/fixture/local_settings.py`)
    const r = await runToEnd('release', inputs('v2'), { timeoutMs: 600_000 })
    const c = new Checks()
    c.check(r.exitCode === 1, `exit ${r.exitCode}`)
    c.check(/10\.213\.7\.2:2022: shared entries missing on the server/.test(r.log), `host 7's error: ${why(r)}`)
    const v2 = r.outputs.release
    const state = (n: number) => (liveOn(n) === v1 ? (releasesOn(n).length === 1 ? 'untouched' : 'v1 live, changed') : liveOn(n) === v2 ? 'v2' : `other: ${liveOn(n)}`)
    const states = Array.from({ length: HOSTS }, (_, i) => state(i + 1))
    for (let n = 1; n <= 6; n++) c.check(states[n - 1] === 'v2', `host ${n}: ${states[n - 1]}`)
    c.check(states[6] === 'untouched', `host 7: ${states[6]}`)
    const after = states.slice(7)
    const touched = after.map((s, i) => [i + 8, s] as const).filter(([, s]) => s !== 'untouched')
    const skipped = (r.summary.match(/⏭️ skipped/g) ?? []).length
    note(`hosts 1-6 on v2; host 7 failed in probe, unchanged; hosts 8-${HOSTS}: ${after.length - touched.length} untouched${touched.length ? `, ${touched.length} released (${touched.map(([n, s]) => `${n}: ${s}`).join(', ')})` : ''}; summary: ${skipped} skipped`)
    // With 5 workers, up to 4 hosts after host 7 (8-11) start while host 7 is still in
    // flight, before anyone knows it will fail; fail-fast lets those finish. Every host
    // that had not started when host 7 failed must be untouched and reported skipped.
    const inFlight = new Set([8, 9, 10, 11])
    const late = touched.filter(([n]) => !inFlight.has(n))
    c.check(late.length === 0, `hosts started after host 7 had failed were released: ${late.map(([n]) => n).join(', ')}`)
    c.check(touched.every(([, s]) => s === 'v2'), `a host in flight did not end cleanly: ${touched.map(([n, s]) => `${n}: ${s}`).join(', ')}`)
    c.check(skipped === HOSTS - 7 - touched.length, `${skipped} hosts skipped in the summary, expected ${HOSTS - 7 - touched.length}`)
    c.done()
    return ''
  }, 600_000)
})

describe('memory while streaming a large download', () => {
  kase(SECTION, 'download-memory', "the snapshot action's peak memory while downloading a 2 GiB snapshot", async note => {
    const root = `/srv/slipway/mem-${process.pid}-${suffix()}`
    const download = mkdtempSync(join(tmpdir(), 'slipway-faults-mem-'))
    // Real, non-zero bytes: tar stores runs of zeros (and sparse files) as holes.
    sh(`install -d -o deploy -g deploy ${root} ${root}/volume && yes slipway-memory-test-data | head -c 2G > ${root}/volume/big.bin && chown deploy:deploy ${root}/volume/big.bin`)
    try {
      const r = await runToEnd('snapshot', { ...connection(), path: root, volumes: `- ${root}/volume`, compression: 'none', download }, { measureMemory: true, timeoutMs: 600_000 })
      expect(r.exitCode, why(r)).toBe(0)
      const bytes = readdirSync(r.outputs.downloaded).reduce((n, f) => n + statSync(join(r.outputs.downloaded, f)).size, 0)
      const mib = (r.maxRssKb ?? 0) / 1024
      note(`${(bytes / 2 ** 30).toFixed(2)} GiB downloaded and verified; whole run ${secs(r.durationMs)}`)
      expect(bytes).toBeGreaterThan(2 * 2 ** 30)
      // Bounded: a fraction of the file, whatever its size (node itself needs ~50 MiB).
      expect(mib, `peak RSS ${mib.toFixed(0)} MiB`).toBeLessThan(256)
      return `peak RSS of the action ${mib.toFixed(0)} MiB (/usr/bin/time)`
    } finally {
      rmSync(download, { recursive: true, force: true })
      sh(`rm -rf ${root}`)
    }
  }, 600_000)
})
