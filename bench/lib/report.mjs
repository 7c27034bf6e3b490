// RESULTS.md from results.json: every number below comes from the run's results; the
// prose around them only says which way they point.

import { D255, D255N, D256 } from '../scenarios/download.mjs'

const s = ms => (ms == null ? '–' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`)
const x = r => (r == null ? '–' : `${r.toFixed(r < 0.1 ? 4 : 2)}×`)
const pct = r => (r == null ? '–' : `${(r * 100).toFixed(r < 0.01 ? 3 : 1)} %`)
const mib = b => (b == null ? '–' : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`)
const mbs = v => (v == null ? '–' : `${v.toFixed(0)} MB/s`)
const n0 = v => (v == null ? '–' : String(Math.round(v)))
const cell = c => String(c).replace(/\|/g, '\\|')
const table = (head, rows) => [`| ${head.map(cell).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map(r => `| ${r.map(cell).join(' | ')} |`)].join('\n')
const med = o => o?.median ?? null
const range = o => (o?.n ? `${s(o.min)}–${s(o.max)}` : '–')
const stepSum = steps => (steps ?? []).reduce((a, st) => a + (st.ms ?? 0), 0)
const stepMs = (steps, ...names) => (steps ?? []).filter(st => names.includes(st.step)).reduce((a, st) => a + (st.ms ?? 0), 0)

function verdict(ok) {
  return ok == null ? 'not measured' : ok ? '**met**' : '**missed**'
}

/** Each target of issue 6: [name, target, measured, met, note]. */
export function targets(r) {
  const out = []
  const rel = r.scenarios.release
  if (rel) {
    const lo = rel.modes.loopback
    const hi = rel.modes.rtt50
    out.push(['release vs floor (loopback)', '≤ 1.25×', `${x(lo.ratios.slipwayOverFloor)} (${s(med(lo.slipway.ms))} vs ${s(med(lo.floor.ms))})`, lo.ratios.slipwayOverFloor <= 1.25, `without the restart step: ${x(lo.ratiosWithoutRestart.slipwayOverFloor)}`])
    out.push(['release vs Ansible (loopback)', '≥ 5× faster', `${x(lo.ratios.ansibleOverSlipway)} (${s(med(lo.ansible.ms))} vs ${s(med(lo.slipway.ms))})`, lo.ratios.ansibleOverSlipway >= 5, `without the restart step: ${x(lo.ratiosWithoutRestart.ansibleOverSlipway)}; Ansible vs the floor: ${x(lo.ratios.ansibleOverFloor)}`])
    const extraRt = hi.slipway.roundTrips - hi.floor.roundTrips
    out.push(['release at 50 ms RTT: round trips', '≤ floor + 10', `${hi.slipway.roundTrips} vs ${hi.floor.roundTrips} (+${extraRt})`, extraRt <= 10, 'counted at the proxy (client turns after a server reply)'])
    const extraMs = med(hi.slipway.ms) - med(hi.floor.ms)
    out.push(['release at 50 ms RTT: time', '≤ floor + 10 × 50 ms', `${s(med(hi.slipway.ms))} vs ${s(med(hi.floor.ms))} (${extraMs >= 0 ? '+' : ''}${s(extraMs)})`, extraMs <= 500, `without the restart step: ${s(med(hi.slipway.withoutRestartMs))} vs ${s(med(hi.floor.withoutRestartMs))}`])
  }
  const tr = r.scenarios.transfer
  if (tr) out.push(['one-line change vs full transfer', '≤ 5 %', `${pct(tr.ratios.shippedOneLineOverFull)} (${mib(med(tr.oneLine.shippedBytes))} of ${mib(med(tr.full.shippedBytes))})`, tr.ratios.shippedOneLineOverFull <= 0.05, `all bytes through the proxy: ${pct(tr.ratios.proxyOneLineOverFull)}`])
  const sn = r.scenarios.snapshot
  if (sn) out.push(['snapshot vs pg_dump -Fc', '≤ 1.1×', `${x(sn.ratios.slipwayOverPgDump)} (${s(med(sn.variants['slipway (compression: zstd)'].ms))} vs ${s(med(sn.variants['pg_dump -Fc'].ms))})`, sn.ratios.slipwayOverPgDump <= 1.1, `database ${mib(sn.database.bytes)}`])
  const dl = r.scenarios.download
  if (dl) {
    const best = Math.max(med(dl.variants.scp.mbPerS), med(dl.variants.sftp.mbPerS))
    const rr = med(dl.variants.slipway.mbPerS) / best
    out.push(['download vs OpenSSH', '≥ 70 %', `${pct(rr)} (${mbs(med(dl.variants.slipway.mbPerS))} vs ${mbs(best)}, the faster of scp and sftp)`, rr >= 0.7, `peak RSS ${n0(med(dl.variants.slipway.maxRssMiB))} MiB`])
  }
  const dt = r.scenarios.downtime
  if (dt) {
    const u = dt.variants.usr2
    const h = dt.variants.hup
    out.push(['failed requests during a release', '0', `USR2: ${u.non2xx + u.failedConnections} of ${u.requests}; HUP: ${h.non2xx + h.failedConnections} of ${h.requests}`, u.non2xx + u.failedConnections === 0 && h.non2xx + h.failedConnections === 0, `${u.releases} + ${h.releases} releases under load`])
  }
  return out
}

function releaseSection(rel) {
  const lo = rel.modes.loopback
  const hi = rel.modes.rtt50
  const row = (mode, tool) => {
    const t = rel.modes[mode][tool]
    return [mode === 'loopback' ? 'loopback' : '50 ms RTT', tool, s(med(t.ms)), range(t.ms), s(med(t.restartMs)), s(med(t.withoutRestartMs)), t.connections ?? '–', t.roundTrips ?? '–', t.bytesUp != null ? mib(t.bytesUp) : '–']
  }
  const parts = [
    '## 1. Release: slipway vs Ansible vs the floor',
    `v1 live → v2 (ship, migrate 0002, collectstatic, switch, restart with \`${rel.restart}\`, nginx reload, health check). Every measured release starts from a fresh app whose v1 was released by slipway (untimed); tools take turns going first. Ansible: ${lo.ansible.tasks} tasks, pipelining and ControlPersist on, no fact gathering, interpreter given, \`ansible.builtin.git\` into a bare cache (fetching over SSH from a git host behind the same latency), \`community.general.django_manage\`. Floor: one \`ssh host bash -s\` with a pre-built script (bench/release/floor.sh) and the same thin git pack slipway sends.`,
    table(['network', 'tool', 'median', 'range', 'restart step', 'without restart', 'SSH connections (proxy)', 'round trips (proxy)', 'bytes up (proxy)'], [
      ...['slipway', 'ansible', 'floor'].map(t => row('loopback', t)),
      ...['slipway', 'ansible', 'floor'].map(t => row('rtt50', t)),
    ]),
    `Ratios on loopback: slipway/floor ${x(lo.ratios.slipwayOverFloor)}, Ansible/slipway ${x(lo.ratios.ansibleOverSlipway)}, Ansible/floor ${x(lo.ratios.ansibleOverFloor)}. At 50 ms: slipway/floor ${x(hi.ratios.slipwayOverFloor)}, Ansible/slipway ${x(hi.ratios.ansibleOverSlipway)}. Ansible's git fetch used ${hi.ansible.gitConnections} more connection(s) (${hi.ansible.gitRoundTrips} round trips) from the server to the git host.`,
    `Latency cost (median at 50 ms minus median on loopback, in 50 ms round trips): ${Object.entries(rel.latencyCost).map(([t, c]) => `${t} ${s(c.extraMs)} ≈ ${c.effectiveRoundTrips}`).join(', ')}. These differences of medians carry the restart's noise (about a second from run to run) and the machine's load, which differed between the loopback and the 50 ms runs (a negative value means the loopback runs were slowed more by load than the others by latency); the counted round trips above do not.`,
  ]
  // Where slipway's time goes, next to the floor's, step by step.
  const sl = lo.slipway.steps ?? []
  const fl = lo.floor.steps ?? []
  const slRemote = stepSum(sl)
  const flRemote = stepSum(fl)
  const names = ['probe', 'ship', 'release', 'prepare', 'link shared', 'virtualenv', 'build', 'check', 'migrate', 'collectstatic', 'proxy test', 'switch', 'restart', 'proxy', 'health', 'finish']
  parts.push(
    '### Where the time goes (loopback, medians per step)',
    'slipway: its summary\'s step table (a step is measured on the runner, from sending the script to the step\'s marker or exit, so it includes the round trip). Floor: times noted inside the script (`mark`, bash\'s EPOCHREALTIME). `release` is slipway\'s release script before its first step marker (channel, bash start, preamble, recovery script); the floor\'s `build` covers slipway\'s prepare + link shared + virtualenv.',
    table(['step', 'slipway', 'floor'], names.filter(n => sl.some(x => x.step === n) || fl.some(x => x.step === n)).map(n => [n, sl.some(x => x.step === n) ? s(stepMs(sl, n)) : '–', fl.some(x => x.step === n) ? s(stepMs(fl, n)) : '–'])),
    `Sum of the steps: slipway ${s(slRemote)}, floor ${s(flRemote)}. Outside the steps (process start, loading the bundle, resolving the commit, connecting, the app lock, building the pack, closing): slipway ${s(med(lo.slipway.ms) - slRemote)}, floor ${s(med(lo.floor.ms) - flRemote)} (ssh start, handshake, pack).`,
  )
  const at = lo.ansible.steps ?? []
  if (at.length) {
    const perTask = (med(lo.ansible.withoutRestartMs) - med(lo.floor.withoutRestartMs)) / lo.ansible.tasks
    parts.push(
      '<details><summary>Ansible, per task (loopback, medians, from ansible.posix.profile_tasks)</summary>\n',
      table(['task', 'time'], at.map(t => [t.step, s(t.ms)])),
      '\n</details>',
      `Ansible spends about ${s(perTask)} per task beyond the work itself ((Ansible − floor, both without the restart) / ${lo.ansible.tasks} tasks): a Python process on the controller and another on the server for every task, even with pipelining.`,
    )
  }
  return parts.join('\n\n')
}

function transferSection(tr) {
  return [
    '## 2. Code transfer: a one-line change on a heavy history',
    `The fixture app plus ${tr.history.commits} generated commits of ${tr.history.fileKiB} KiB files (half random, half text; bench/lib/bigrepo.mjs, deterministic): full pack ${mib(tr.history.fullPackBytes)} by \`git pack-objects\`; the thin pack of the one-line change alone is ${mib(tr.history.thinPackBytes)}. Bytes from slipway's log line and, for the whole release (scripts, lock, probe, output included), at a counting proxy.`,
    table(['release', 'shipped (slipway log)', 'all bytes up (proxy)', 'ship step', 'whole release', 'slipway says'], [
      ['first (full)', mib(med(tr.full.shippedBytes)), mib(med(tr.full.proxyBytesUp)), s(med(tr.full.shipMs)), s(med(tr.full.releaseMs)), tr.full.how],
      ['one-line change', mib(med(tr.oneLine.shippedBytes)), mib(med(tr.oneLine.proxyBytesUp)), s(med(tr.oneLine.shipMs)), s(med(tr.oneLine.releaseMs)), tr.oneLine.how],
    ]),
    `One-line change / full: ${pct(tr.ratios.shippedOneLineOverFull)} of the shipped bytes, ${pct(tr.ratios.proxyOneLineOverFull)} of all bytes sent.`,
  ].join('\n\n')
}

function snapshotSection(sn) {
  const v = sn.variants
  const z = v['slipway (compression: zstd)']
  const rows = Object.entries(v).map(([name, r]) => [name, s(med(r.ms)), range(r.ms), mib(med(r.bytes)), r.dumpMs ? s(med(r.dumpMs)) : '–', r.compression ?? '–'])
  const over = med(z.ms) - med(v['pg_dump -Fc'].ms)
  return [
    '## 3. Snapshot of a PostgreSQL database (pgbench)',
    `Database \`${sn.database.name}\`: ${mib(sn.database.bytes)} (pg_database_size)${sn.database.kept ? ', kept between runs (see bench/README.md)' : ''}. slipway: dist/snapshot/index.js over SSH, connection as role \`app\` over TCP; raw: the same pg_dump as the deploy user on the server, same connection, same disk. The volume rows snapshot ${mib(sn.volumeBytes)} of half-random, half-text files, where the \`compression\` input applies.`,
    table(['variant', 'median', 'range', 'size', 'dump/archive inside', 'compression (manifest)'], rows),
    `slipway / pg_dump -Fc: ${x(sn.ratios.slipwayOverPgDump)} (gzip input: ${x(sn.ratios.slipwayGzipOverPgDump)}); slipway spends ${s(over)} more, of which ${s(med(z.dumpMs) - med(v['pg_dump -Fc'].ms))} is in the database item as the manifest times it (pg_dump, then the per-table row checksums, then sha256 of the file; see the diagnostic row) and the rest is outside it (Node, SSH, the app lock, probing the database, fsync, the manifest). PostgreSQL's custom format is compressed by pg_dump (zlib), so the \`compression\` input changes nothing for it (same size both ways); \`pg_dump -Fc -Z0 | zstd -T0 -3\` takes ${x(sn.ratios.zstdPipeOverPgDumpTime)} the time for ${x(sn.ratios.zstdPipeOverPgDumpSize)} the size. On the volume, gzip/zstd: ${x(sn.ratios.volumeGzipOverZstdTime)} the time, ${x(sn.ratios.volumeGzipOverZstdSize)} the size.`,
  ].join('\n\n')
}

function downloadSection(dl) {
  const v = dl.variants
  return [
    '## 4. Download of a snapshot',
    `One snapshot file of ${mib(dl.fileBytes)} (random bytes, compression none). slipway: the snapshot action's \`download:\`; its rate is from its own log line for the file (\`downloaded … in\`), which includes the local sha256 check (node hashes ${mib(dl.fileBytes)} in ${s(dl.localSha256Ms)} here, process start included). OpenSSH: wall time of \`scp\`/\`sftp\` (connection included) of the same file. ssh2 negotiates aes128-gcm@openssh.com, OpenSSH chacha20-poly1305 by default, hence the rows with \`-c\`. The diagnostic rows run ssh2's \`fastGet\` alone (bench/lib/sftp-probe.mjs, concurrency 64 as slipway): with slipway's request size and one KiB less, without ssh2's native addons as in the dist/ bundles (bench/lib/no-native.mjs), and with them.`,
    table(['tool', 'median', 'range (MB/s)', 'time'], Object.entries(v).map(([name, r]) => [name, mbs(med(r.mbPerS)), r.mbPerS.n ? `${r.mbPerS.min.toFixed(0)}–${r.mbPerS.max.toFixed(0)}` : '–', s(med(r.ms))])),
    `slipway/scp ${pct(dl.ratios.slipwayOverScp)}, slipway/sftp ${pct(dl.ratios.slipwayOverSftp)}; with the same cipher: ${pct(dl.ratios.slipwayOverScpSameCipher)} and ${pct(dl.ratios.slipwayOverSftpSameCipher)}. Peak memory of the action's node process: ${n0(med(v.slipway.maxRssMiB))} MiB (max RSS, /usr/bin/time); the whole action (snapshot + download) took ${s(med(v.slipway.actionMs))}. ssh2 as bundled with 255 KiB requests instead of 256 KiB: ${x(dl.ratios.ssh2Chunk255Over256)} the throughput; with its native addons on top: ${x(dl.ratios.ssh2NativeOverBundled)} more.`,
  ].join('\n\n')
}

function downtimeSection(dt) {
  const rows = Object.entries(dt.variants).map(([name, v]) => [name, `\`${v.restartCommand}\``, v.releases, v.requests, v.non2xx, v.failedConnections, s(med(v.restartMs))])
  return [
    '## 5. Zero downtime',
    `${dt.clients} clients, a new connection per request, GET /health through nginx (nginx → Gunicorn → PostgreSQL) from before the release starts until after it ends; releases alternate v2 and v3-requirements (a new virtualenv). Failed = any status but 2xx, or no answer.`,
    table(['restart setting', 'command', 'releases', 'requests', 'non-2xx', 'failed connections', 'restart step (median)'], rows),
    'Settings that reach zero: Gunicorn started by `app-server.sh` (no preload, `--chdir` and the interpreter spelled through the `current` link) and replaced by USR2 (new master next to the old, which gets TERM only once every new worker has loaded the app) or HUP (new workers under the same master), with nginx reloaded gracefully (`nginx -s reload`) after the restart. USR2 is also the safe one: a release that cannot boot leaves the old master serving (HUP halts). The control row shows that the count catches a gap when there is one.',
  ].join('\n\n')
}

function startupSection(st) {
  return [
    '## 6. Start-up',
    `From spawning the process to its first bytes at a 0 ms proxy in front of sshd (the SSH version string). \`node -e 0\` alone: ${s(med(st.nodeBareMs))}.`,
    table(['tool', 'to TCP connect', 'to first SSH byte', 'whole process'], Object.entries(st.variants).map(([name, v]) => [name, s(med(v.toConnectMs)), s(med(v.toFirstByteMs)), s(med(v.processMs))])),
  ].join('\n\n')
}

/**
 * Why each missed target is missed, from this run's own profile data: step tables,
 * timelines, manifests, counted round trips and the diagnostic rows.
 */
function whyMissed(r) {
  const t = targets(r)
  const missed = new Set(t.filter(row => row[3] === false).map(row => row[0]))
  const out = []
  const rel = r.scenarios.release
  if (rel) {
    const lo = rel.modes.loopback
    const fl = lo.floor.steps ?? []
    const django = steps => stepMs(steps, 'check', 'migrate', 'collectstatic')
    // slipway's time over the floor's, split by where it goes (from the step tables).
    const decompose = mode => {
      const m = rel.modes[mode]
      const a = m.slipway.steps ?? []
      const b = m.floor.steps ?? []
      return {
        extra: med(m.slipway.ms) - med(m.floor.ms),
        outside: med(m.slipway.ms) - stepSum(a) - (med(m.floor.ms) - stepSum(b)),
        scripts: stepMs(a, 'probe', 'release') + stepMs(a, 'ship') - stepMs(b, 'ship'),
        floorShip: stepMs(b, 'ship'),
        django: django(a) - django(b),
        plan: stepMs(a, 'migrate') - stepMs(b, 'migrate'),
        restart: med(m.slipway.restartMs) - med(m.floor.restartMs),
        ph: m.slipway.phases ?? {},
      }
    }
    const explain = d =>
      `(1) Outside the remote steps slipway spends ${s(d.outside)} more than \`ssh\` does: ${s(d.ph.startMs)} from spawn to its first log line (Node start, a 2 MB bundle, inputs, \`git rev-parse\`), ${s(d.ph.connectAndLockMs)} from there to the release script (the SSH handshake in ssh2, then the app lock's guardian script, which also probes the server and must answer before anything else runs), ${s(d.ph.exitMs)} from the last step to exit (releasing the lock, closing). (2) After the lock, one more remote script where the floor has none: the release script, whose stdin carries the commit's thin pack after the script; its start and the unpack cost ${s(d.scripts)} against the floor's ${s(d.floorShip)} for shipping. It is a channel open and an exec request, \`bash -se\` reading its script, the preamble, and a local \`git pack-objects\` (one \`git cat-file --batch-check\` first, for the commits the server has). (3) The Django commands: ${s(d.django)} more (check + migrate + collectstatic), of which migrate ${s(d.plan)} (slipway prints the plan, then migrates, in one Django process). (4) The restart: ${s(d.restart)} between the two medians, for the same command (Gunicorn's USR2 hand-over varies by about a second from run to run).`
    if (missed.has('release vs floor (loopback)')) {
      const d = decompose('loopback')
      out.push(`**Release vs floor (${x(lo.ratios.slipwayOverFloor)}, wanted ≤ 1.25×; ${s(d.extra)} more than the floor, median to median).** ${explain(d)} Without the restart: ${x(lo.ratiosWithoutRestart.slipwayOverFloor)}.`)
    }
    if (missed.has('release vs Ansible (loopback)')) {
      const floorWork = django(fl)
      const ansOver = med(lo.ansible.withoutRestartMs) - floorWork
      const slOver = med(lo.slipway.withoutRestartMs) - floorWork
      out.push(
        `**Release vs Ansible (${x(lo.ratios.ansibleOverSlipway)} faster, wanted ≥ 5×).** ${lo.ratios.ansibleOverFloor < 5 ? `The target cannot be reached on this app by any tool: Ansible takes only ${x(lo.ratios.ansibleOverFloor)} the time of the floor, which does nothing but the work itself.` : `Ansible takes ${x(lo.ratios.ansibleOverFloor)} the time of the floor, so the target is within reach only as slipway's own overhead over the floor shrinks (see above).`} Most of a release here is the app's own work, the same for every tool: the restart (the floor's median ${s(med(lo.floor.restartMs))}) and three Django commands (the floor's ${s(floorWork)}). On what the tools add beyond that work (without the restart, minus the floor's Django steps), Ansible spends ${s(ansOver)} and slipway ${s(slOver)}: ${x(slOver > 0 ? ansOver / slOver : null)}. Ansible's cost is per task (about ${s((med(lo.ansible.withoutRestartMs) - med(lo.floor.withoutRestartMs)) / lo.ansible.tasks)} each for ${lo.ansible.tasks} tasks): a Python interpreter on the controller and another on the server per task, even with pipelining and one persistent connection; it is CPU, not round trips (compare its loopback and 50 ms rows).`,
      )
    }
    const hi = rel.modes.rtt50
    if (missed.has('release at 50 ms RTT: round trips') || missed.has('release at 50 ms RTT: time')) {
      const d = decompose('rtt50')
      out.push(
        `**At 50 ms RTT (${s(d.extra)} more than the floor, wanted ≤ ${s(500)}; ${hi.slipway.roundTrips} counted round trips against the floor's ${hi.floor.roundTrips}).** The extra turns are the SSH handshake's own (ssh2 and OpenSSH differ), the remote scripts run one after another (the lock's guardian, which also probes, then the release script: each needs a channel opened and an exec request answered before its script flows) and the lock's release at the end. Where the time goes at 50 ms: ${explain(d)} Without the restart step: ${s(med(hi.slipway.withoutRestartMs))} vs ${s(med(hi.floor.withoutRestartMs))}.`,
      )
    }
  }
  const tr = r.scenarios.transfer
  if (tr && missed.has('one-line change vs full transfer')) {
    out.push(`**Transfer (${pct(tr.ratios.shippedOneLineOverFull)}).** The thin pack alone is ${mib(tr.history.thinPackBytes)}; slipway shipped ${mib(med(tr.oneLine.shippedBytes))}, the rest being the script and framing.`)
  }
  const sn = r.scenarios.snapshot
  if (sn && missed.has('snapshot vs pg_dump -Fc')) {
    const z = sn.variants['slipway (compression: zstd)']
    const raw = med(sn.variants['pg_dump -Fc'].ms)
    out.push(
      `**Snapshot (${x(sn.ratios.slipwayOverPgDump)}, wanted ≤ 1.1×; ${s(med(z.ms) - raw)} more than pg_dump's ${s(raw)}).** From slipway's own manifest: the database item took ${s(med(z.dumpMs))}, the whole server-side script ${s(med(z.scriptMs))}, the action ${s(med(z.ms))} end to end. So ${s(med(z.ms) - med(z.scriptMs))} is outside the script (Node, the SSH handshake, the app lock), ${s(med(z.scriptMs) - med(z.dumpMs))} around the item inside it (tool checks, the probe's psql connection, the free-space check, sync, manifest), and ${s(med(z.dumpMs) - raw)} in the item beyond the raw pg_dump. The item is more than pg_dump: slipway also computes per-table row checksums (hashtextextended of every row, summed) on the dump's own snapshot, for restore drills to compare against; they run in a second backend while pg_dump runs, but pg_dump (compressing with zlib), its backend and the sums' backend are three busy processes on ${r.meta.cores} cores, so running them side by side saves little here. Run alone, those checksums took ${s(med(sn.variants['row checksums alone (diagnostic)']?.ms))} (${x(sn.ratios.rowChecksumsOverPgDumpTime)} pg_dump): a full read of every table, row by row, in one backend, on pgbench's data (${mib(sn.database.bytes)} on disk, dumping to ${mib(med(sn.variants['pg_dump -Fc'].bytes))}). There is no switch to skip them: a drill without sums proves only that the dump loads. The volume rows show the fixed cost without it: ${s(med(sn.variants['volume, slipway (compression: none)'].ms) - med(sn.variants['volume, slipway (compression: none)'].dumpMs))} around a ${mib(sn.volumeBytes)} archive.`,
    )
  }
  const dl = r.scenarios.download
  if (dl && missed.has('download vs OpenSSH')) {
    const v = dl.variants
    out.push(
      `**Download (${pct(med(v.slipway.mbPerS) / Math.max(med(v.scp.mbPerS), med(v.sftp.mbPerS)))} of OpenSSH, wanted ≥ 70 %).** The cipher is not the cause: OpenSSH with ssh2's aes128-gcm moved ${mbs(med(v['scp -c aes128-gcm@openssh.com'].mbPerS))} (scp) and ${mbs(med(v['sftp -c aes128-gcm@openssh.com'].mbPerS))} (sftp). The diagnostic rows show where it goes. (1) The request size, fixed: OpenSSH's sftp-server answers at most 255 KiB per read (its limits@openssh.com reply says so), and a 256 KiB request is split by ssh2 into a 255 KiB read and a 1 KiB read sent only after the first returns; slipway now asks for 255 KiB. ssh2's fastGet as bundled: ${mbs(med(v[D256]?.mbPerS))} with 256 KiB, ${mbs(med(v[D255]?.mbPerS))} with 255 KiB (${x(dl.ratios.ssh2Chunk255Over256)}). (2) The bundles carry no native addons, so ssh2 decrypts every 32 KiB packet through a fresh OpenSSL cipher object in JavaScript; with its addons (sshcrypto.node) the same transfer ran at ${mbs(med(v[D255N]?.mbPerS))} (${x(dl.ratios.ssh2NativeOverBundled)}). slipway itself reached ${pct(dl.ratios.slipwayOverSameRequests)} of the bare fastGet with the same requests: the rest is its sha256 of the file after it has arrived (fastGet writes out of order; ${s(dl.localSha256Ms)} for this size in a separate node process) and sharing 2 busy cores (the action's node process used ${s(med(v.slipway.actionCpuMs))} of CPU in ${s(med(v.slipway.actionMs))}, snapshot included).`,
    )
  }
  const dt = r.scenarios.downtime
  if (dt && missed.has('failed requests during a release')) {
    out.push(`**Downtime.** See the per-release statuses and errors in results.json (scenarios.downtime.variants.*.perRelease).`)
  }
  return out.length ? ['## Why targets are missed (from this run\'s profile)', ...out].join('\n\n') : ''
}

export function renderMarkdown(r) {
  const m = r.meta
  const parts = [
    '# slipway benchmarks',
    `Written by \`${m.command}\` on ${m.date}${m.quick ? ' — **quick mode: tiny sizes, one iteration; a smoke test of the harness, not a measurement**' : ''}. Medians of ${m.runs} run(s) per measurement; every number below comes from that run (bench/results.json holds all of them, per run).`,
    table(['machine', ''], [
      ['CPU', `${m.cpu}, ${m.cores} cores`],
      ['memory', `${m.memoryGiB} GiB`],
      ['kernel', m.kernel],
      ['slipway build', m.build ? `commit \`${m.build.commit.slice(0, 12)}\`${Number(m.build.dirtyFiles) ? ` + ${m.build.dirtyFiles} uncommitted file(s) in src/dist/actions` : ''}; bundles ${Object.entries(m.build.bundleSha256).map(([k, v]) => `${k} \`${v}\``).join(', ')} (sha256 prefix)` : '–'],
      ...Object.entries(m.versions).map(([k, v]) => [k, `\`${v}\``]),
      ['load average (1, 5, 15 min) at start / end', `${m.loadAverageAtStart.join(', ')} / ${m.loadAverageAtEnd?.join(', ')}`],
      ['load average (1 min) before/after each scenario', Object.entries(r.scenarios).map(([k, v]) => `${k} ${v.loadAverage1m?.before}/${v.loadAverage1m?.after}`).join('; ')],
      ['total time', `${m.totalSeconds} s${m.waitedForQuietSeconds ? ` (after waiting ${m.waitedForQuietSeconds} s for the load to drop below the core count)` : ''}`],
    ]),
    ...(m.merges ?? []).map(g => `**Re-run and merged:** ${g.scenarios.join(', ')} by \`${g.command}\` on ${g.date} (medians of ${g.runs}; load average ${g.loadAverageAtStart.join(', ')} at its start, ${g.loadAverageAtEnd?.join(', ')} at its end; bundles ${Object.entries(g.build.bundleSha256).map(([k, v]) => `${k} \`${v}\``).join(', ')}). The other scenarios are from the run above.`),
    'Other engineers run tests on this machine (2 cores): the load averages above show how busy it was. The server is this machine too: client and server share the 2 cores.',
    '## Targets (issue 6)',
    table(['target', 'wanted', 'measured', 'verdict', 'note'], targets(r).map(([a, b, c, ok, note]) => [a, b, c, verdict(ok), note])),
  ]
  const why = whyMissed(r)
  if (why) parts.push(why)
  const sc = r.scenarios
  if (sc.release) parts.push(releaseSection(sc.release))
  if (sc.transfer) parts.push(transferSection(sc.transfer))
  if (sc.snapshot) parts.push(snapshotSection(sc.snapshot))
  if (sc.download) parts.push(downloadSection(sc.download))
  if (sc.downtime) parts.push(downtimeSection(sc.downtime))
  if (sc.startup) parts.push(startupSection(sc.startup))
  if (Object.keys(r.errors ?? {}).length) parts.push('## Errors', ...Object.entries(r.errors).map(([k, e]) => `### ${k}\n\n\`\`\`\n${e}\n\`\`\``))
  return parts.join('\n\n') + '\n'
}
