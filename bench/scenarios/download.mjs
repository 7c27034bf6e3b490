// Scenario 4: downloading a snapshot of >= 500 MB to the runner. slipway: the snapshot
// action with `download:` (SFTP over its one connection, 4 files at once, 64 requests of
// 255 KiB in flight, then sha256 of the local file against the manifest); OpenSSH: `scp`
// and `sftp` of the same file, with their default cipher and with the cipher ssh2
// negotiates (aes128-gcm), to tell the protocol from the cipher. slipway's peak memory
// from /usr/bin/time (max RSS of the node process).

import { BENCH, ROOT, connection, expectOk, hex, log, q, ratio, rotate, runAction, server, sh, summary, timed } from '../lib/common.mjs'

/** One file of incompressible bytes (a snapshot that is already compressed). */
async function volumeOf(dir, mib) {
  await sh(`rm -rf ${q(dir)} && install -d -o deploy -g deploy ${q(dir)} && head -c ${mib}M /dev/urandom > ${q(`${dir}/blob.bin`)} && chown deploy:deploy ${q(`${dir}/blob.bin`)}`)
}

/** slipway's own time for one file: "downloaded 01-volume-data.tar (512 MiB, sha256 verified) in 4.2 s". */
function parseDownloaded(logText, file) {
  for (const m of logText.matchAll(/downloaded (\S+) \([^)]*\) in (?:(\d+) m )?([\d.]+) (ms|s)$/gm)) {
    if (m[1] === file) return { file, ms: Number(m[2] ?? 0) * 60_000 + Number(m[3]) * (m[4] === 'ms' ? 1 : 1000) }
  }
  return null
}

export const D256 = 'ssh2 fastGet as bundled (no native addons), 64 × 256 KiB (diagnostic)'
export const D255 = 'ssh2 fastGet as bundled (no native addons), 64 × 255 KiB (diagnostic)'
export const D255N = 'ssh2 fastGet with its native addons, 64 × 255 KiB (diagnostic)'

export async function downloadScenario(ctx) {
  const { runs, quick } = ctx
  const mib = quick ? 16 : 512
  const root = `/srv/slipway/bench-dl-${process.pid}`
  const local = `${ctx.work}/download`
  await sh(`install -d -o deploy -g deploy -m 0755 ${root} && mkdir -p ${q(local)}`)
  await volumeOf(`${root}/data`, mib)
  const opts = ['-P', String(server.port), '-i', server.keyFile, '-o', `UserKnownHostsFile=${ctx.work}/kh-download`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes']
  await sh(`printf '[127.0.0.1]:${server.port} %s\\n' ${q(server.hostKeyLine)} > ${q(`${ctx.work}/kh-download`)}`)
  let remoteFile // the snapshot file on the server, from slipway's first run

  const slipway = async () => {
    const dir = `${local}/slipway-${hex()}`
    const r = expectOk(
      await runAction('snapshot', { ...connection(), path: root, volumes: `- ${root}/data`, compression: 'none', download: dir }, { rss: true }),
      'slipway snapshot with download',
    )
    const m = JSON.parse(r.outputs.manifest)
    const item = m.items.reduce((a, b) => (b.bytes > a.bytes ? b : a))
    remoteFile ??= `${r.outputs.path}/${item.file}`
    const d = parseDownloaded(r.log, item.file)
    // Keep the first snapshot on the server for scp and sftp; remove the others.
    if (`${r.outputs.path}/${item.file}` !== remoteFile) await sh(`rm -rf -- ${q(r.outputs.path)}`)
    await sh(`rm -rf -- ${q(dir)}`)
    return { ms: d?.ms, bytes: item.bytes, totalMs: r.ms, maxRssKb: r.maxRssKb, cpuMs: r.cpuMs }
  }
  const openssh = (tool, cipher) => async () => {
    const target = `${local}/${tool}-${hex()}`
    const c = cipher ? ['-c', cipher] : []
    const r =
      tool === 'scp'
        ? await timed(['scp', '-q', ...opts, ...c, `deploy@127.0.0.1:${remoteFile}`, target])
        : await timed(['sftp', '-q', ...opts, ...c, '-b', '-', 'deploy@127.0.0.1'], { input: `get ${remoteFile} ${target}\n` })
    if (r.code !== 0) throw new Error(`${tool} failed: ${r.stderr}`)
    const bytes = Number((await sh(`stat -c %s ${q(target)}`)).trim())
    await sh(`rm -f ${q(target)}`)
    return { ms: r.ms, bytes }
  }
  // ssh2's fastGet alone: with 256 KiB requests and with slipway's, just under
  // OpenSSH's cap on a read (sftp-server answers at most 255 KiB per request); without
  // ssh2's native addons, as in the dist/ bundles, and with them.
  const probe = (chunk, native) => async () => {
    const target = `${local}/probe-${hex()}`
    const pre = native ? [] : ['--import', `${BENCH}/lib/no-native.mjs`]
    const r = await timed([process.execPath, ...pre, `${BENCH}/lib/sftp-probe.mjs`, '127.0.0.1', String(server.port), server.keyFile, remoteFile, target, '64', String(chunk)], { cwd: ROOT })
    if (r.code !== 0) throw new Error(`sftp-probe failed: ${r.stderr}`)
    const bytes = Number((await sh(`stat -c %s ${q(target)}`)).trim())
    await sh(`rm -f ${q(target)}`)
    return { ms: Number(r.stdout.trim()), bytes }
  }
  const variants = {
    slipway: slipway,
    scp: openssh('scp'),
    sftp: openssh('sftp'),
    'scp -c aes128-gcm@openssh.com': openssh('scp', 'aes128-gcm@openssh.com'),
    'sftp -c aes128-gcm@openssh.com': openssh('sftp', 'aes128-gcm@openssh.com'),
    [D256]: probe(256 * 1024, false),
    [D255]: probe(255 * 1024, false),
    [D255N]: probe(255 * 1024, true),
  }
  const names = Object.keys(variants)
  const results = Object.fromEntries(names.map(n => [n, []]))
  let sha256Ms
  try {
    // slipway first: its snapshot is the file the others download.
    results.slipway.push(await slipway())
    log(`download #1 slipway: ${(results.slipway[0].bytes / 1e6 / (results.slipway[0].ms / 1000)).toFixed(1)} MB/s, peak RSS ${(results.slipway[0].maxRssKb / 1024).toFixed(0)} MiB`)
    for (let i = 0; i < runs; i++) {
      for (const name of rotate(names, i)) {
        if (name === 'slipway' && i === 0) continue
        const r = await variants[name]()
        results[name].push(r)
        log(`download #${i + 1} ${name}: ${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s${r.maxRssKb ? `, peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MiB` : ''}`)
      }
    }
    // What the local verification costs: node's sha256 over a file of the same size.
    const probe = `${local}/sha-probe`
    await sh(`head -c ${mib}M /dev/urandom > ${q(probe)}`)
    const t = await timed([process.execPath, '-e', `const h=require('crypto').createHash('sha256');require('fs').createReadStream(${JSON.stringify(probe)},{highWaterMark:1<<20}).on('data',c=>h.update(c)).on('end',()=>h.digest())`])
    sha256Ms = t.ms
    await sh(`rm -f ${q(probe)}`)
  } finally {
    await sh(`rm -rf -- ${q(root)} ${q(local)}`)
  }
  const mbps = r => r.bytes / 1e6 / (r.ms / 1000)
  const out = { fileBytes: results.slipway[0].bytes, localSha256Ms: sha256Ms, variants: {} }
  for (const name of names) {
    const rs = results[name]
    out.variants[name] = { mbPerS: summary(rs.map(mbps)), ms: summary(rs.map(r => r.ms)), ...(name === 'slipway' ? { actionMs: summary(rs.map(r => r.totalMs)), actionCpuMs: summary(rs.map(r => r.cpuMs)), maxRssMiB: summary(rs.map(r => r.maxRssKb / 1024)) } : {}) }
  }
  const v = out.variants
  out.ratios = {
    slipwayOverScp: ratio(v.slipway.mbPerS.median, v.scp.mbPerS.median),
    slipwayOverSftp: ratio(v.slipway.mbPerS.median, v.sftp.mbPerS.median),
    slipwayOverScpSameCipher: ratio(v.slipway.mbPerS.median, v['scp -c aes128-gcm@openssh.com'].mbPerS.median),
    slipwayOverSftpSameCipher: ratio(v.slipway.mbPerS.median, v['sftp -c aes128-gcm@openssh.com'].mbPerS.median),
    ssh2Chunk255Over256: ratio(v[D255].mbPerS.median, v[D256].mbPerS.median),
    ssh2NativeOverBundled: ratio(v[D255N].mbPerS.median, v[D255].mbPerS.median),
    slipwayOverSameRequests: ratio(v.slipway.mbPerS.median, v[D255].mbPerS.median),
  }
  return out
}
