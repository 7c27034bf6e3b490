// Scenario 6: start-up, from the spawn of the process to its first SSH bytes on the wire
// (the client's version string, seen by a 0 ms proxy in front of sshd; the proxy and the
// harness share the wall clock). slipway's run bundle (`run: true`) and release bundle
// (a dry run, which resolves the commit locally first) against OpenSSH's `ssh host true`
// and Ansible's `ansible -m ping`; bare `node -e 0` for what Node itself costs.

import { mkdirSync, writeFileSync } from 'fs'
import { join } from 'path'
import { connection, expectOk, knownHostsFile, log, q, rotate, runAction, server, sh, summary, timed } from '../lib/common.mjs'

export async function startupScenario(ctx) {
  const { runs, proxy, repo } = ctx
  const port = await proxy.listen('startup', server.port, 0)
  const kh = knownHostsFile(join(ctx.work, 'startup'), [port])
  const root = `/srv/slipway/bench-startup-${process.pid}`
  await sh(`install -d -o deploy -g deploy ${root}`)
  const adir = join(ctx.work, 'startup-ansible')
  mkdirSync(adir, { recursive: true })
  writeFileSync(join(adir, 'inventory'), `app ansible_host=127.0.0.1 ansible_port=${port} ansible_user=deploy ansible_ssh_private_key_file=${server.keyFile}\n`)
  const ansibleCfg = cp =>
    `[defaults]\ninterpreter_python = /usr/bin/python3\nnocolor = True\nlocal_tmp = ${adir}/tmp\n[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes -o BatchMode=yes\ncontrol_path = ${cp}\n`

  const variants = {
    'slipway run (run: true)': async () => {
      let spawned
      const r = await runAction('run', { ...connection(port), run: 'true' }, { onSpawn: (_c, t) => (spawned = t) })
      expectOk(r, 'slipway run')
      return { spawned, ms: r.ms }
    },
    'slipway release (dry-run)': async () => {
      let spawned
      const r = await runAction('release', { ...connection(port), path: root, 'working-directory': repo.dir, ref: 'v1', 'dry-run': 'true' }, { onSpawn: (_c, t) => (spawned = t) })
      expectOk(r, 'slipway release dry-run')
      return { spawned, ms: r.ms }
    },
    'ssh host true': async () => {
      const r = await timed(['ssh', '-p', String(port), '-i', server.keyFile, '-o', `UserKnownHostsFile=${kh}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', 'deploy@127.0.0.1', 'true'])
      if (r.code !== 0) throw new Error(`ssh failed: ${r.stderr}`)
      return { spawned: r.startedAt, ms: r.ms }
    },
    'ansible -m ping': async () => {
      const cp = join(adir, `cp-${Date.now()}`)
      writeFileSync(join(adir, 'ansible.cfg'), ansibleCfg(cp))
      const r = await timed(['ansible', 'app', '-i', join(adir, 'inventory'), '-m', 'ansible.builtin.ping'], { env: { ...process.env, ANSIBLE_CONFIG: join(adir, 'ansible.cfg') } })
      await timed(['ssh', '-O', 'exit', '-o', `ControlPath=${cp}`, '-p', String(port), 'deploy@127.0.0.1'])
      if (r.code !== 0) throw new Error(`ansible ping failed: ${r.stdout}${r.stderr}`)
      return { spawned: r.startedAt, ms: r.ms }
    },
  }
  const names = Object.keys(variants)
  const results = Object.fromEntries(names.map(n => [n, []]))
  const nodeBare = []
  try {
    for (let i = 0; i < runs; i++) {
      for (const name of rotate(names, i)) {
        await proxy.stats('startup', true)
        const r = await variants[name]()
        const s = await proxy.stats('startup', true)
        const first = s.detail[0]
        const row = { ms: r.ms, toConnect: first ? first.acceptedAt - r.spawned : null, toFirstByte: first?.firstClientByteAt ? first.firstClientByteAt - r.spawned : null, connections: s.connections }
        results[name].push(row)
        log(`startup #${i + 1} ${name}: first SSH byte after ${row.toFirstByte?.toFixed(0)} ms (process ${r.ms.toFixed(0)} ms)`)
      }
      nodeBare.push((await timed([process.execPath, '-e', '0'])).ms)
    }
  } finally {
    await sh(`rm -rf -- ${q(root)}`)
  }
  const out = { nodeBareMs: summary(nodeBare), variants: {} }
  for (const name of names) {
    const rs = results[name]
    out.variants[name] = { toFirstByteMs: summary(rs.map(r => r.toFirstByte)), toConnectMs: summary(rs.map(r => r.toConnect)), processMs: summary(rs.map(r => r.ms)), connections: rs[0].connections }
  }
  return out
}
