// Scenario 3: a snapshot of a PostgreSQL database of >= 1 GB (pgbench -i) by
// dist/snapshot/index.js, against `pg_dump -Fc` run directly on the server (as the deploy
// user, same connection, same disk). Compression: the `compression` input (zstd, gzip)
// applies to volumes, MariaDB and SQLite; PostgreSQL's custom format is compressed by
// pg_dump itself (zlib), so both runs measure the same dump, and `pg_dump -Fc -Z0 | zstd`
// shows what zstd would give the database. zstd against gzip through the input itself is
// measured on a volume of semi-compressible files.
//
// The database is kept between runs under a fixed name (SNAPSHOT_DB) because creating it
// takes a minute; --quick uses a tiny one and drops it.

import { createHash } from 'crypto'
import { writeFileSync } from 'fs'
import { performance } from 'perf_hooks'
import { asDeploy, connection, expectOk, hex, log, q, ratio, rotate, runAction, server, sh, summary } from '../lib/common.mjs'

export const SNAPSHOT_DB = 'slipway_bench_pg1g'
const QUICK_DB = 'slipway_bench_pgquick'
const psql = sql => sh(`psql -U postgres -h /var/run/postgresql -qtAc ${q(sql)}`).then(s => s.trim())

/** The pgbench database, created when missing or too small. */
export async function ensurePgbenchDb(quick) {
  const name = quick ? QUICK_DB : SNAPSHOT_DB
  const scale = quick ? 1 : 80
  const minBytes = quick ? 1 : 1024 ** 3
  const size = Number((await psql(`select coalesce((select pg_database_size('${name}') from pg_database where datname = '${name}'), 0)`)) || 0)
  if (size < minBytes || !(await psql(`select count(*) from pg_database where datname = '${name}'`)).startsWith('1')) {
    log(`creating ${name} with pgbench -i -s ${scale}${quick ? '' : ` (kept for the next run; drop database ${name} to remove it)`}`)
    await psql(`drop database if exists ${name} with (force)`)
    await psql(`create database ${name} owner app`)
    await sh(`PGPASSWORD=${q(server.dbPassword)} pgbench -i -q -s ${scale} -h 127.0.0.1 -U app ${name} 2>&1 | tail -n 1`, { timeoutMs: 1_800_000 })
  }
  return { name, bytes: Number(await psql(`select pg_database_size('${name}')`)), drop: quick ? () => psql(`drop database if exists ${name} with (force)`) : async () => undefined }
}

/** A directory of files, half random bytes and half text (like uploaded media and documents). */
async function mediaVolume(dir, totalMiB) {
  await sh(`rm -rf ${q(dir)} && mkdir -p ${q(dir)}`)
  const words = 'invoice report photo scan lecture note exam answer draft final'.split(' ')
  const files = Math.max(1, totalMiB / 4)
  for (let i = 0; i < files; i++) {
    const size = 4 << 20
    const random = Buffer.alloc(size / 2)
    for (let off = 0; off < random.length; off += 32) createHash('sha256').update(`media-${i}-${off}`).digest().copy(random, off)
    // Words picked by a linear congruential generator: text that compresses about 4:1.
    let text = ''
    let x = i + 1
    for (let k = 0; text.length < size / 2; k++) {
      x = (x * 1103515245 + 12345) % 2 ** 31
      text += words[x % words.length] + (x % 1000) + ((x >> 10) % 11 ? ' ' : '\n')
    }
    writeFileSync(`${dir}/file-${String(i).padStart(4, '0')}.dat`, Buffer.concat([random, Buffer.from(text.slice(0, size / 2))]))
  }
  await sh(`chown -R deploy:deploy ${q(dir)}`)
}

async function slipwaySnapshot(root, inputs) {
  const r = expectOk(await runAction('snapshot', { ...connection(), path: root, ...inputs }), 'slipway snapshot')
  const m = JSON.parse(r.outputs.manifest)
  await sh(`rm -rf -- ${q(`${root}/snapshots`)}`)
  return { ms: r.ms, bytes: m.bytes, itemMs: m.items.reduce((a, i) => a + i.durationMs, 0), snapshotMs: m.durationMs, compression: m.items.map(i => i.compression).join(',') }
}

/**
 * Diagnostic: the per-table row checksums slipway's snapshot computes beside pg_dump, in
 * a REPEATABLE READ transaction on the dump's snapshot (src/commands/snapshot/checksums.ts:
 * hashtextextended of every row's text, summed per table), written out here the same way
 * and run alone with psql as the same role, to show what that verification costs.
 */
async function rowChecksums(db) {
  const sql = [
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex';",
    'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;',
    "SELECT format($q$SELECT json_build_object('table', %L, 'rows', count(*), 'checksum', coalesce(sum(hashtextextended(t::text, 0)), 0)::text) FROM %I.%I AS t$q$, n.nspname || '.' || c.relname, n.nspname, c.relname)",
    'FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace',
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'",
    'ORDER BY n.nspname, c.relname',
    '\\gexec',
    'COMMIT;',
  ].join('\n')
  const t = performance.now()
  await asDeploy(`PGPASSWORD=${q(server.dbPassword)} psql -X -q -A -t -v ON_ERROR_STOP=1 --no-password --host 127.0.0.1 --username app --dbname ${db} >/dev/null`, { input: sql })
  return { ms: performance.now() - t, bytes: 0 }
}

async function rawDump(root, db, pipeline) {
  const file = `${root}/raw-${hex()}`
  const t = performance.now()
  await asDeploy(`set -o pipefail; export PGPASSWORD=${q(server.dbPassword)}; ${pipeline(`pg_dump --no-password --host 127.0.0.1 --username app --dbname ${db}`, file)}`)
  const ms = performance.now() - t
  const bytes = Number((await sh(`stat -c %s ${q(file)}`)).trim())
  await sh(`rm -f ${q(file)}`)
  return { ms, bytes }
}

export async function snapshotScenario(ctx) {
  const { runs, quick } = ctx
  const db = await ensurePgbenchDb(quick)
  const root = `/srv/slipway/bench-snap-${process.pid}`
  await sh(`install -d -o deploy -g deploy -m 0755 ${root}`)
  const media = `${root}/media`
  const mediaMiB = quick ? 8 : 256
  await mediaVolume(media, mediaMiB)
  const pgInput = `- engine: postgres\n  name: ${db.name}\n  host: 127.0.0.1\n  user: app\n  password-env: PGPW`
  const variants = {
    'slipway (compression: zstd)': () => slipwaySnapshot(root, { databases: pgInput, env: 'PGPW=' + server.dbPassword, compression: 'zstd' }),
    'slipway (compression: gzip)': () => slipwaySnapshot(root, { databases: pgInput, env: 'PGPW=' + server.dbPassword, compression: 'gzip' }),
    'pg_dump -Fc': () => rawDump(root, db.name, (dump, f) => `${dump} --format=custom --file ${q(f)}`),
    'pg_dump -Fc -Z0 | zstd -T0 -3': () => rawDump(root, db.name, (dump, f) => `${dump} --format=custom --compress=0 | zstd -q -T0 -3 -c > ${q(f)}`),
    'row checksums alone (diagnostic)': () => rowChecksums(db.name),
    'volume, slipway (compression: zstd)': () => slipwaySnapshot(root, { volumes: `- ${media}`, compression: 'zstd' }),
    'volume, slipway (compression: gzip)': () => slipwaySnapshot(root, { volumes: `- ${media}`, compression: 'gzip' }),
    'volume, slipway (compression: none)': () => slipwaySnapshot(root, { volumes: `- ${media}`, compression: 'none' }),
  }
  const names = Object.keys(variants)
  const results = Object.fromEntries(names.map(n => [n, []]))
  try {
    for (let i = 0; i < runs; i++) {
      for (const name of rotate(names, i)) {
        const r = await variants[name]()
        results[name].push(r)
        log(`snapshot #${i + 1} ${name}: ${(r.ms / 1000).toFixed(2)} s, ${(r.bytes / 2 ** 20).toFixed(1)} MiB`)
      }
    }
  } finally {
    await sh(`rm -rf -- ${q(root)}`)
    await db.drop()
  }
  const out = { database: { name: db.name, bytes: db.bytes, kept: !quick }, volumeBytes: mediaMiB * 2 ** 20, variants: {} }
  for (const name of names) {
    const rs = results[name]
    out.variants[name] = {
      ms: summary(rs.map(r => r.ms)),
      bytes: summary(rs.map(r => r.bytes)),
      ...(rs[0].itemMs !== undefined ? { dumpMs: summary(rs.map(r => r.itemMs)), scriptMs: summary(rs.map(r => r.snapshotMs)), compression: rs[0].compression } : {}),
    }
  }
  const v = out.variants
  out.ratios = {
    slipwayOverPgDump: ratio(v['slipway (compression: zstd)'].ms.median, v['pg_dump -Fc'].ms.median),
    slipwayGzipOverPgDump: ratio(v['slipway (compression: gzip)'].ms.median, v['pg_dump -Fc'].ms.median),
    rowChecksumsOverPgDumpTime: ratio(v['row checksums alone (diagnostic)'].ms.median, v['pg_dump -Fc'].ms.median),
    zstdPipeOverPgDumpTime: ratio(v['pg_dump -Fc -Z0 | zstd -T0 -3'].ms.median, v['pg_dump -Fc'].ms.median),
    zstdPipeOverPgDumpSize: ratio(v['pg_dump -Fc -Z0 | zstd -T0 -3'].bytes.median, v['pg_dump -Fc'].bytes.median),
    volumeGzipOverZstdTime: ratio(v['volume, slipway (compression: gzip)'].ms.median, v['volume, slipway (compression: zstd)'].ms.median),
    volumeGzipOverZstdSize: ratio(v['volume, slipway (compression: gzip)'].bytes.median, v['volume, slipway (compression: zstd)'].bytes.median),
  }
  return out
}

