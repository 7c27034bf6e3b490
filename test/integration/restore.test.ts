// actions/restore against the real test server, driven through dist/restore/index.js as
// the runner drives it. Snapshots are taken with dist/snapshot; then the live data is
// changed (rows inserted, deleted and updated, a column added, a table created, files
// changed) and restored, damaged snapshots are refused, and drills tell good from bad.

import { execFileSync } from 'child_process'
import { createHash, randomBytes } from 'crypto'
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'fs'
import { join, relative } from 'path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseManifest, type Manifest } from '../../src/snapshot/manifest'
import { runAction, type ActionRun } from './support/runner'
import { connection, freshAppDir, server, sh } from './support/server'

const ROLE = 'slipway_snap_pw'
const tag = () => randomBytes(4).toString('hex')
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const psql = (db: string, sql: string) => sh(`psql -U postgres -h /var/run/postgresql -qtAX -d ${db} -c ${q(sql)}`).trim()
const maria = (sql: string) => sh(`mariadb -N -B -e ${q(sql)}`).trim()
const asDeploy = (command: string) => sh(`sudo -u deploy bash -c ${q(command)}`)

const cleanups: (() => void)[] = []
const later = (fn: () => void) => cleanups.push(fn)

/** Everything a user would call the data of a PostgreSQL database: tables, columns, rows. */
function pgState(db: string): string {
  const tables = psql(db, "select string_agg(table_name, ',' order by table_name) from information_schema.tables where table_schema = 'public'")
  const columns = psql(db, "select string_agg(table_name || '.' || column_name, ',' order by table_name, column_name) from information_schema.columns where table_schema = 'public'")
  const rows = psql(db, 'select md5(string_agg(t::text, E\'\\n\' order by t::text)) from note t')
  return `${tables}\n${columns}\n${rows}`
}

function mariaState(db: string): string {
  const tables = maria(`select group_concat(table_name order by table_name) from information_schema.tables where table_schema = '${db}'`)
  const columns = maria(`select group_concat(concat(table_name, '.', column_name) order by table_name, column_name) from information_schema.columns where table_schema = '${db}'`)
  const rows = maria(`select md5(group_concat(concat_ws('|', id, coalesce(body, 'NULL')) order by id separator '\\n')) from ${db}.note`)
  return `${tables}\n${columns}\n${rows}`
}

/** Type, mode, content or link target of every entry below `root` (owners left out). */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      const st = lstatSync(p)
      const rel = relative(root, p)
      if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(p)}`
      else if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`
        walk(p)
      } else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`
    }
  }
  walk(root)
  return out
}

function sampleProcesses(): { stop: () => string } {
  let seen = ''
  let running = true
  const loop = async () => {
    while (running) {
      try {
        seen += execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      } catch {
        /* ps can race with exiting processes */
      }
      await new Promise(r => setTimeout(r, 20))
    }
  }
  void loop()
  return {
    stop: () => {
      running = false
      return seen
    },
  }
}

function exposures(r: ActionRun, secret: string): string[] {
  const raw = r.raw
    .split('\n')
    .filter(l => !l.startsWith('::add-mask::'))
    .join('\n')
  return Object.entries({ log: r.log, raw, summary: r.summary, outputs: JSON.stringify(r.outputs) })
    .filter(([, text]) => text.includes(secret))
    .map(([where]) => where)
}

const snapshotsIn = (app: string) => (existsSync(`${app}/snapshots`) ? readdirSync(`${app}/snapshots`).sort() : [])
/** Scratch databases a restore of `pg` and `my` left behind (none, if it cleaned up). */
const scratchDatabases = (pg: string, my: string) =>
  `${psql('postgres', `select string_agg(datname, ',') from pg_database where datname like '${pg}\\_slipway\\_%'`)}|${maria(`select group_concat(schema_name) from information_schema.schemata where schema_name like '${my}\\_slipway\\_%'`)}`

/** Rewrite one file of a snapshot and make the manifest agree, as a tamperer would. */
function tamper(app: string, id: string, file: string, change: (path: string) => void): void {
  const dir = `${app}/snapshots/${id}`
  change(`${dir}/${file}`)
  const m = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')) as Manifest
  const data = readFileSync(`${dir}/${file}`)
  const item = m.items.find(i => i.file === file)!
  item.sha256 = createHash('sha256').update(data).digest('hex')
  item.bytes = data.length
  asDeploy(`printf '%s' ${q(JSON.stringify(m))} > ${q(`${dir}/manifest.json`)}`)
}

/** A copy of snapshot `id` under another id, with other manifest fields. */
function copySnapshot(app: string, id: string, newId: string, over: Partial<Manifest>): void {
  const dir = `${app}/snapshots`
  asDeploy(`cp -a ${q(`${dir}/${id}`)} ${q(`${dir}/${newId}`)}`)
  const m = { ...(JSON.parse(readFileSync(`${dir}/${id}/manifest.json`, 'utf8')) as Manifest), ...over, id: newId }
  asDeploy(`printf '%s' ${q(JSON.stringify(m))} > ${q(`${dir}/${newId}/manifest.json`)}`)
}

beforeAll(() => {
  sh('bash test/server/snapshot-fixtures.sh')
})

afterAll(() => {
  for (const fn of cleanups.reverse()) {
    try {
      fn()
    } catch {
      /* best effort: the next run uses new names anyway */
    }
  }
})

describe('restore action', () => {
  const t = tag()
  const pg = `rst_${t}`
  const my = `app_rst_${t}`
  let app: string
  let media: string
  let inputs: Record<string, string>
  let snap: Manifest
  let original: { pg: string; my: string; media: Record<string, string> }

  beforeAll(async () => {
    app = freshAppDir('restore')
    media = `${app}/shared/media`
    asDeploy(`mkdir -p ${q(`${app}/current`)} ${q(media)} && cd ${q(media)} && mkdir -p 'sub dir' && printf 'one' > a.txt && printf 'two' > 'sub dir/b it'"'"'s.txt' && chmod 0640 a.txt && ln -s a.txt link`)
    psql('postgres', `create database ${pg} owner ${ROLE}`)
    later(() => psql('postgres', `drop database if exists ${pg} with (force)`))
    psql(pg, `set role ${ROLE}; create table note (id int primary key, body text); insert into note select g, 'note ' || g || ' ü ''q''' from generate_series(1, 300) g; create table tag (id int primary key, note_id int references note(id)); insert into tag values (1, 1), (2, 2)`)
    maria(`create database ${my}; create table ${my}.note (id int primary key, body text); insert into ${my}.note values (1, 'one ü'), (2, 'two ''q'''), (3, NULL); create table ${my}.tag (id int primary key, note_id int, foreign key (note_id) references ${my}.note(id)); insert into ${my}.tag values (1, 1)`)
    later(() => maria(`drop database if exists ${my}`))
    inputs = {
      ...connection(),
      path: app,
      databases: [
        `- engine: postgres`,
        `  name: ${pg}`,
        `  host: 127.0.0.1`,
        `  user: ${ROLE}`,
        `  password: ${server.dbPassword}`,
        `- engine: mariadb`,
        `  name: ${my}`,
        `  user: app`,
        `  password: ${server.dbPassword}`,
      ].join('\n'),
      volumes: `- ${media}`,
    } as Record<string, string>
    const r = await runAction('snapshot', { ...inputs, label: 'base' })
    expect(r.exitCode, r.log).toBe(0)
    snap = parseManifest(r.outputs.manifest)
    original = { pg: pgState(pg), my: mariaState(my), media: tree(media) }
  })

  /** Insert, delete, update, add a column and a table, change files: a day of use. */
  function mutate(): { pg: string; my: string; media: Record<string, string> } {
    psql(pg, `set role ${ROLE}; insert into note values (1000, 'new'); delete from tag where id = 2; delete from note where id = 2; update note set body = 'changed' where id = 3; alter table note add column extra int default 7; create table later (x int references note(id)); insert into later values (1)`)
    maria(`insert into ${my}.note values (10, 'new'); delete from ${my}.note where id = 2; update ${my}.note set body = 'changed' where id = 3; alter table ${my}.note add column extra int default 7; create table ${my}.later (x int)`)
    asDeploy(`cd ${q(media)} && printf 'changed' > a.txt && rm -f 'sub dir/b it'"'"'s.txt' && printf 'new' > new.txt`)
    return { pg: pgState(pg), my: mariaState(my), media: tree(media) }
  }

  it('puts PostgreSQL, MariaDB and a directory back exactly as snapshotted; the safety snapshot holds what was replaced; passwords never show', async () => {
    const mutated = mutate()
    expect(mutated.pg).not.toBe(original.pg)
    expect(mutated.my).not.toBe(original.my)
    const ps = sampleProcesses()
    const r = await runAction('restore', { ...inputs, snapshot: snap.id, restart: `touch ${app}/restarted` })
    const processes = ps.stop()
    if (process.env.RESTORE_DEBUG) console.log(r.log, '\n-----\n', r.summary)
    expect(r.exitCode, r.log).toBe(0)

    expect(pgState(pg)).toBe(original.pg)
    expect(mariaState(my)).toBe(original.my)
    expect(tree(media)).toEqual(original.media)
    expect(existsSync(`${app}/restarted`)).toBe(true)
    expect(readdirSync(`${app}/shared`).sort()).toEqual(['media'])
    expect(scratchDatabases(pg, my)).toBe('|NULL')
    expect(r.log).toContain(`swapped the restored tables into ${my} in one RENAME TABLE`)

    expect(r.outputs.snapshot).toBe(snap.id)
    expect(JSON.parse(r.outputs.restored)).toEqual([pg, my, media])
    const safetyId = r.outputs['safety-snapshot']
    expect(safetyId).toMatch(/^\d{8}T\d{6}Z-before-restore$/)
    expect(snapshotsIn(app)).toEqual([snap.id, safetyId].sort())
    expect(r.summary).toContain(`Safety snapshot \`${safetyId}\``)
    for (const i of snap.items) expect(r.summary).toContain(i.file)

    // The safety snapshot holds the mutated state: restored into scratch, it is what was live.
    const safety = parseManifest(readFileSync(`${app}/snapshots/${safetyId}/manifest.json`, 'utf8'))
    const scratch = `rst_safety_${tag()}`
    psql('postgres', `create database ${scratch}`)
    later(() => psql('postgres', `drop database if exists ${scratch} with (force)`))
    sh(`pg_restore -U postgres -h /var/run/postgresql --no-owner -d ${scratch} ${q(`${app}/snapshots/${safetyId}/${safety.items[0].file}`)}`)
    expect(pgState(scratch)).toBe(mutated.pg)
    const myScratch = `app_rst_safety_${tag()}`
    maria(`create database ${myScratch}`)
    later(() => maria(`drop database if exists ${myScratch}`))
    sh(`zstd -dc < ${q(`${app}/snapshots/${safetyId}/${safety.items[1].file}`)} | mariadb ${myScratch}`)
    expect(mariaState(myScratch).split('\n').slice(1)).toEqual(mutated.my.split('\n').slice(1).map(l => l.replaceAll(my, myScratch)))

    expect(exposures(r, server.dbPassword)).toEqual([])
    expect(processes).not.toContain(server.dbPassword)
    expect(processes).toContain('bash -se')
  })

  it('refuses a dump with one flipped byte before changing anything, naming the file', async () => {
    const bad = '20250101T000000Z-flipped'
    copySnapshot(app, snap.id, bad, {})
    const file = snap.items[1].file
    asDeploy(`f=${q(`${app}/snapshots/${bad}/${file}`)}; b=$(od -An -tu1 -j 40 -N1 "$f" | tr -d ' '); printf "$(printf '\\\\%03o' $(( (b + 1) % 256 )))" | dd of="$f" bs=1 seek=40 conv=notrunc status=none`)
    const before = { pg: (mutate(), pgState(pg)), my: mariaState(my), media: tree(media), snapshots: snapshotsIn(app) }
    const r = await runAction('restore', { ...inputs, snapshot: bad })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(`snapshot ${bad}: ${file} does not match its manifest`)
    expect(r.errors.join('\n')).toContain('Nothing was restored or changed.')
    expect({ pg: pgState(pg), my: mariaState(my), media: tree(media), snapshots: snapshotsIn(app) }).toEqual(before)
  })

  it('surfaces the error of a truncated dump (checksum made to match) and leaves each database as it was', async () => {
    const before = { pg: pgState(pg), my: mariaState(my) }
    const cut = '20250102T000000Z-truncated'
    copySnapshot(app, snap.id, cut, {})
    const pgFile = snap.items[0].file
    tamper(app, cut, pgFile, p => asDeploy(`truncate -s $(( $(stat -c %s ${q(p)}) * 2 / 3 )) ${q(p)}`))
    const r = await runAction('restore', { ...inputs, snapshot: cut, only: pg, 'safety-snapshot': 'false' })
    if (process.env.RESTORE_DEBUG) console.log(r.log)
    expect(r.exitCode).toBe(1)
    const errors = r.errors.join('\n')
    expect(errors).toContain(`restore postgres database '${pg}'`)
    expect(errors).toMatch(/pg_restore: error: could not read input file|pg_restore: error: .*(unexpected end of file|end of file)/)
    expect(errors).toContain('the transaction was rolled back and the database is unchanged')
    expect(pgState(pg)).toBe(before.pg)

    const myFile = snap.items[1].file
    tamper(app, cut, myFile, p => asDeploy(`zstd -qdc ${q(p)} | head -c 1500 | zstd -q -c > ${q(`${p}.t`)} && mv ${q(`${p}.t`)} ${q(p)}`))
    const m = await runAction('restore', { ...inputs, snapshot: cut, only: my, 'safety-snapshot': 'false' })
    expect(m.exitCode).toBe(1)
    // Cut between two statements, it would load without an error as a smaller database.
    expect(m.errors.join('\n')).toContain(`${myFile} is incomplete: it does not end with the '-- Dump completed' line`)
    expect(m.errors.join('\n')).toContain(`mariadb database '${my}' was left as it was`)
    expect(mariaState(my)).toBe(before.my)
    expect(scratchDatabases(pg, my)).toBe('|NULL')
  })

  it('restores only the items named, and names an unknown one', async () => {
    const before = { pg: pgState(pg), my: mariaState(my) }
    expect(tree(media)).not.toEqual(original.media)
    const r = await runAction('restore', { ...inputs, snapshot: snap.id, only: media, 'safety-snapshot': 'false' })
    expect(r.exitCode, r.log).toBe(0)
    expect(JSON.parse(r.outputs.restored)).toEqual([media])
    expect(r.outputs['safety-snapshot']).toBe('')
    expect(tree(media)).toEqual(original.media)
    expect({ pg: pgState(pg), my: mariaState(my) }).toEqual(before)

    const u = await runAction('restore', { ...inputs, snapshot: snap.id, only: `${media}, nope` })
    expect(u.exitCode).toBe(1)
    expect(u.errors.join('\n')).toContain(`only: snapshot ${snap.id} has no item 'nope' (it has: ${pg}, ${my}, ${media})`)
  })

  it('resolves latest (not a safety snapshot) and before:<release>', async () => {
    copySnapshot(app, snap.id, '20990101T000000Z-before-restore', { label: 'before-restore', time: '2099-01-01T00:00:00Z' })
    copySnapshot(app, snap.id, '20980101T000000Z-newest', { label: 'newest', time: '2098-01-01T00:00:00Z' })
    copySnapshot(app, snap.id, '20970101T000000Z-rel', { time: '2097-01-01T00:00:00Z', release: { id: '20970101T000000Z-abcdef1', sha: 'abcdef1' } })
    const latest = await runAction('restore', { ...inputs, snapshot: 'latest', verify: 'true' })
    expect(latest.exitCode, latest.log).toBe(0)
    expect(latest.outputs.snapshot).toBe('20980101T000000Z-newest')
    const before = await runAction('restore', { ...inputs, snapshot: 'before:20970101T000000Z-abcdef1', verify: 'true' })
    expect(before.exitCode, before.log).toBe(0)
    expect(before.outputs.snapshot).toBe('20970101T000000Z-rel')
    const none = await runAction('restore', { ...inputs, snapshot: 'before:nope', verify: 'true' })
    expect(none.exitCode).toBe(1)
    expect(none.errors.join('\n')).toContain("no snapshot matches 'before:nope'")
    for (const id of ['20990101T000000Z-before-restore', '20980101T000000Z-newest', '20970101T000000Z-rel']) asDeploy(`rm -rf ${q(`${app}/snapshots/${id}`)}`)
  })

  it('drills: a clean snapshot is good, one with a row changed (checksums made to match) is bad, touching nothing live', async () => {
    const live = { pg: pgState(pg), my: mariaState(my), media: tree(media), snapshots: snapshotsIn(app) }
    const good = await runAction('restore', { ...inputs, snapshot: snap.id, verify: 'true' })
    if (process.env.RESTORE_DEBUG) console.log(good.log, good.summary)
    expect(good.exitCode, good.log).toBe(0)
    const verified = JSON.parse(good.outputs.verified)
    expect(verified.ok).toBe(true)
    expect(verified.items.map((i: { result: string }) => i.result)).toEqual(['good', 'good', 'good'])
    expect(verified.items[0].tables).toEqual([
      { table: 'public.note', rows: 300, recordedRows: 300, status: 'same' },
      { table: 'public.tag', rows: 2, recordedRows: 2, status: 'same' },
    ])
    expect(verified.items[2].files.verdict).toBe('same')
    expect(good.summary).toContain('✅ good')

    const forged = '20250103T000000Z-forged'
    copySnapshot(app, snap.id, forged, {})
    tamper(app, forged, snap.items[1].file, p => asDeploy(`zstd -qdc ${q(p)} | sed "s/'one ü'/'0ne ü'/" | zstd -q -c > ${q(`${p}.t`)} && mv ${q(`${p}.t`)} ${q(p)}`))
    tamper(app, forged, snap.items[2].file, p => asDeploy(`d=$(mktemp -d) && zstd -qdc ${q(p)} | tar -x -p -f - -C "$d" && printf 'onE' > "$d/a.txt" && tar -C "$d" -cf - . | zstd -q -c > ${q(p)} && rm -rf "$d"`))
    const bad = await runAction('restore', { ...inputs, snapshot: forged, verify: 'true' })
    if (process.env.RESTORE_DEBUG) console.log(bad.log, bad.errors)
    expect(bad.exitCode).toBe(1)
    const result = JSON.parse(bad.outputs.verified)
    expect(result.ok).toBe(false)
    expect(result.items.map((i: { result: string }) => i.result)).toEqual(['good', 'bad', 'bad'])
    expect(result.items[1].problems).toEqual(['table note holds other rows than the snapshot recorded (3 rows, checksum differs)'])
    expect(bad.errors.join('\n')).toContain(`restore drill of snapshot ${forged} FAILED`)
    expect(bad.log).toMatch(/- sha256 [0-9a-f]{64} a\.txt\n\+ sha256 [0-9a-f]{64} a\.txt/)

    // A flipped byte is caught before any scratch restore.
    const flipped = await runAction('restore', { ...inputs, snapshot: '20250101T000000Z-flipped', verify: 'true' })
    expect(flipped.exitCode).toBe(1)
    expect(flipped.errors.join('\n')).toContain('does not match its manifest')

    expect({ pg: pgState(pg), my: mariaState(my), media: tree(media), snapshots: snapshotsIn(app).filter(s => s !== forged) }).toEqual(live)
    expect(scratchDatabases(pg, my)).toBe('|NULL')
  })

  it('refuses an item without a target, and a symlink planted in the snapshot', async () => {
    const r = await runAction('restore', { ...inputs, snapshot: snap.id, volumes: undefined, verify: 'true' })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(`snapshot ${snap.id} holds directory ${media} (${snap.items[2].file}), but no volumes entry names it`)

    const planted = '20250104T000000Z-planted'
    copySnapshot(app, snap.id, planted, {})
    asDeploy(`cd ${q(`${app}/snapshots/${planted}`)} && mv ${q(snap.items[2].file)} /tmp/slipway-planted-${t} && ln -s /tmp/slipway-planted-${t} ${q(snap.items[2].file)}`)
    later(() => sh(`rm -f /tmp/slipway-planted-${t}`))
    const s = await runAction('restore', { ...inputs, snapshot: planted, verify: 'true' })
    expect(s.exitCode).toBe(1)
    expect(s.errors.join('\n')).toContain(`${snap.items[2].file} is a symlink; refusing to restore from it`)
  })
})
