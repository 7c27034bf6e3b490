// actions/snapshot against the real test server, driven through dist/snapshot/index.js
// exactly as the GitHub runner drives it: real PostgreSQL (a role that must give its
// password), MariaDB, SQLite, a media directory with awkward entries, and a podman
// volume used by a running container.

import { execFileSync } from 'child_process'
import { createHash, randomBytes } from 'crypto'
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statfsSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join, relative } from 'path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseManifest, type Manifest } from '../../src/snapshot/manifest'
import { download, upload } from '../../src/ssh/transfer'
import { openHost } from './support/host'
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

function pgDatabase(): string {
  const db = `snap_${tag()}`
  psql('postgres', `create database ${db} owner ${ROLE}`)
  psql(db, `set role ${ROLE}; create table note (id int primary key, body text); insert into note select g, 'note ' || g || ' ü ''quoted''' from generate_series(1, 500) g`)
  later(() => psql('postgres', `drop database if exists ${db} with (force)`))
  return db
}

function mariaDatabase(): string {
  // The test server grants user app everything on app_%.
  const db = `app_snap_${tag()}`
  maria(`create database ${db}; create table ${db}.note (id int primary key, body text); insert into ${db}.note values (1, 'one ü'), (2, 'two ''quoted'''), (3, NULL)`)
  later(() => maria(`drop database if exists ${db}`))
  return db
}

/** A media directory with the entries archives get wrong: odd names, modes, symlinks. */
function mediaDir(app: string): string {
  const media = `${app}/shared/media`
  sh(`install -d -o deploy -g deploy -m 0755 ${app}/shared ${media}`)
  asDeploy(`cd ${q(media)}
    mkdir -p 'sub dir/deeper' empty && chmod 0750 'sub dir'
    printf 'odd\\n' > "it's \\"odd\\" \\$(id) ü.txt"
    printf 'dash' > ./-rf
    head -c 4096 /dev/urandom > 'sub dir/deeper/blob.bin' && chmod 0604 'sub dir/deeper/blob.bin'
    ln -s 'sub dir/deeper/blob.bin' link-to-blob
    ln -s /nonexistent dangling`)
  return media
}

/** A podman volume used by a running container (as root: deploy drives it through sudo -n podman). */
function podmanVolume(): { volume: string; container: string } {
  const volume = `slw_snap_${tag()}`
  const container = `${volume}_app`
  sh(`podman volume create ${volume} >/dev/null && podman run -d --name ${container} -v ${volume}:/data localhost/bb sh -c 'trap "exit 0" TERM; while :; do sleep 1; done' >/dev/null`)
  sh(`podman exec ${container} sh -c 'echo data > /data/a; mkdir -p /data/d; echo nested > /data/d/b; ln -s a /data/l; chmod 600 /data/a; chown 1234:5678 /data/d/b'`)
  later(() => sh(`podman rm -f -t 0 ${container} >/dev/null 2>&1; podman volume rm -f ${volume} >/dev/null 2>&1; true`))
  return { volume, container }
}

/**
 * A container with the host's database clients bind-mounted, standing in for a
 * database container (no image with PostgreSQL can be pulled here).
 */
function toolsContainer(): string {
  const name = `slw_snap_tools_${tag()}`
  sh(
    `podman run -d --name ${name} --network host -v /usr:/usr:ro -v /usr/lib:/lib:ro -v /usr/lib64:/lib64:ro -v /etc:/etc:ro -v /var/run/postgresql:/var/run/postgresql localhost/bb sleep 1000000 >/dev/null`,
  )
  later(() => sh(`podman rm -f -t 0 ${name} >/dev/null 2>&1; true`))
  return name
}

const containerState = (c: string) => sh(`podman inspect -f '{{.State.Running}} {{.State.StartedAt}}' ${c}`).trim()

/** Every stored file of a snapshot, checked against its manifest. */
function verifyOnServer(dir: string, manifest: Manifest): void {
  for (const item of manifest.items) {
    const data = readFileSync(join(dir, item.file))
    expect(data.length, item.file).toBe(item.bytes)
    expect(createHash('sha256').update(data).digest('hex'), item.file).toBe(item.sha256)
    expect(lstatSync(join(dir, item.file)).mode & 0o777).toBe(0o600)
  }
  expect(lstatSync(dir).mode & 0o777).toBe(0o700)
  expect(lstatSync(dir).uid).toBe(Number(sh('id -u deploy').trim()))
}

/** Type, mode, owner, content or link target of every entry below `root`. */
function tree(root: string, owners = true): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      const st = lstatSync(p)
      const rel = relative(root, p)
      const owner = owners ? ` ${st.uid}:${st.gid}` : ''
      if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(p)}`
      else if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o7777).toString(8)}${owner}`
        walk(p)
      } else out[rel] = `file ${(st.mode & 0o7777).toString(8)}${owner} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`
    }
  }
  walk(root)
  return out
}

function extract(archive: string, compression: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-extract-'))
  const decompress = compression === 'zstd' ? 'zstd -dc' : compression === 'gzip' ? 'gzip -dc' : 'cat'
  sh(`${decompress} < ${q(archive)} | tar -x -p --same-owner -f - -C ${q(dir)}`)
  return dir
}

/** Sample the server's process list while an action runs: no secret may ever show. */
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

/** Where a secret may not appear: the log, raw output minus the runner's mask commands, summary, outputs. */
function exposures(r: ActionRun, secret: string): string[] {
  const raw = r.raw
    .split('\n')
    .filter(l => !l.startsWith('::add-mask::'))
    .join('\n')
  return Object.entries({ log: r.log, raw, summary: r.summary, outputs: JSON.stringify(r.outputs) })
    .filter(([, text]) => text.includes(secret))
    .map(([where]) => where)
}

function snapshotsIn(app: string): string[] {
  return existsSync(`${app}/snapshots`) ? readdirSync(`${app}/snapshots`).sort() : []
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

describe('snapshot action', () => {
  it('captures PostgreSQL, MariaDB (on the host and in containers), SQLite, a directory and a podman volume; restores match; downloads verify', async () => {
    const app = freshAppDir('snap-all')
    const pg = pgDatabase()
    const my = mariaDatabase()
    const tools = toolsContainer()
    const media = mediaDir(app)
    const { volume, container } = podmanVolume()
    const sqlite = `${app}/shared/db.sqlite3`
    asDeploy(`sqlite3 ${q(sqlite)} "create table t (x); insert into t values ('a'), ('b'), ('c');"`)
    const download = mkdtempSync(join(tmpdir(), 'slipway-download-'))
    const before = containerState(container)

    const ps = sampleProcesses()
    const r = await runAction('snapshot', {
      ...connection(),
      path: app,
      databases: [
        `- engine: postgres`,
        `  name: ${pg}`,
        `  host: 127.0.0.1`,
        `  user: ${ROLE}`,
        `  password: ${server.dbPassword}`,
        `- engine: postgres`,
        `  name: ${pg}`,
        `  user: ${ROLE}`,
        `  password: ${server.dbPassword}`,
        `  container: ${tools}`,
        `- engine: mariadb`,
        `  name: ${my}`,
        `  user: app`,
        `  password: ${server.dbPassword}`,
        `- engine: mysql`,
        `  name: ${my}`,
        `  host: 127.0.0.1`,
        `  user: app`,
        `  password: ${server.dbPassword}`,
        `  container: ${tools}`,
        `- engine: sqlite`,
        `  name: ${sqlite}`,
      ].join('\n'),
      volumes: `- ${media}\n- volume:${volume}`,
      'container-cli': 'podman',
      'stop-containers': container,
      label: 'all',
      download,
    })
    const processes = ps.stop()
    if (process.env.SNAP_DEBUG) console.log(r.log, '\n-----\n', r.summary)
    expect(r.exitCode, r.log).toBe(0)

    const manifest = parseManifest(r.outputs.manifest)
    expect(r.outputs.snapshot).toBe(manifest.id)
    expect(manifest.id).toMatch(/^\d{8}T\d{6}Z-all$/)
    expect(r.outputs.path).toBe(`${app}/snapshots/${manifest.id}`)
    expect(Number(r.outputs.size)).toBe(manifest.bytes)
    expect(manifest.items.map(i => `${i.kind}:${i.engine}:${i.file}`)).toEqual([
      `database:postgres:01-postgres-${pg}.pgdump`,
      `database:postgres:02-postgres-${pg}.pgdump`,
      `database:mariadb:03-mariadb-${my}.sql.zst`,
      `database:mysql:04-mysql-${my}.sql.zst`,
      'database:sqlite:05-sqlite-db.sqlite3.zst',
      'volume:directory:06-volume-media.tar.zst',
      `volume:container-volume:07-volume-${volume}.tar.zst`,
    ])
    expect(manifest.items[0]).toMatchObject({ toolVersion: expect.stringMatching(/^pg_dump \(PostgreSQL\) 15/), serverVersion: expect.stringMatching(/^15\./) })
    expect(manifest.items[2]).toMatchObject({ toolVersion: expect.stringMatching(/mariadb-dump/i), serverVersion: expect.stringMatching(/MariaDB/) })
    expect(manifest.items[6].format).toBe('podman volume export')
    // Row counts and checksums of what each dump holds; the same data gives the same sums
    // whichever client dumped it, and restore drills compare against them.
    expect(manifest.items[0].tables).toEqual([{ table: 'public.note', rows: 500, checksum: expect.stringMatching(/^-?\d+$/) }])
    expect(manifest.items[1].tables).toEqual(manifest.items[0].tables)
    expect(manifest.items[2].tables).toEqual([{ table: 'note', rows: 3, checksum: expect.stringMatching(/^\d+-\d+$/) }])
    expect(manifest.items[3].tables).toEqual(manifest.items[2].tables)
    expect(manifest.items[4].tables).toEqual([{ table: 't', rows: 3, checksum: expect.stringMatching(/^[0-9a-f]{64}$/) }])
    expect(manifest.items[5].listing?.entries).toBeGreaterThan(5)
    expect(snapshotsIn(app)).toEqual([manifest.id])
    const dir = `${app}/snapshots/${manifest.id}`
    verifyOnServer(dir, manifest)
    expect(parseManifest(readFileSync(`${dir}/manifest.json`, 'utf8'), manifest.id)).toEqual(manifest)

    // Each dump restores into a scratch database with the same rows.
    const rows = (db: string) => psql(db, 'select id, body from note order by id')
    for (const file of [manifest.items[0].file, manifest.items[1].file]) {
      const scratch = `snap_restore_${tag()}`
      psql('postgres', `create database ${scratch}`)
      later(() => psql('postgres', `drop database if exists ${scratch} with (force)`))
      sh(`pg_restore -U postgres -h /var/run/postgresql --no-owner -d ${scratch} ${q(`${dir}/${file}`)}`)
      expect(rows(scratch)).toBe(rows(pg))
    }
    for (const file of [manifest.items[2].file, manifest.items[3].file]) {
      const scratch = `app_snap_restore_${tag()}`
      maria(`create database ${scratch}`)
      later(() => maria(`drop database if exists ${scratch}`))
      sh(`zstd -dc < ${q(`${dir}/${file}`)} | mariadb ${scratch}`)
      expect(maria(`select id, body from ${scratch}.note order by id`)).toBe(maria(`select id, body from ${my}.note order by id`))
    }
    const restored = `${download}/restored.sqlite3`
    sh(`zstd -dc < ${q(`${dir}/05-sqlite-db.sqlite3.zst`)} > ${q(restored)}`)
    expect(sh(`sqlite3 ${q(restored)} 'select group_concat(x) from t'`).trim()).toBe('a,b,c')

    // Archives hold what the source holds: content, modes, owners, symlink targets.
    expect(tree(extract(`${dir}/06-volume-media.tar.zst`, 'zstd'))).toEqual(tree(media))
    const mountpoint = sh(`podman volume inspect --format '{{.Mountpoint}}' ${volume}`).trim()
    expect(tree(extract(`${dir}/${manifest.items[6].file}`, 'zstd'))).toEqual(tree(mountpoint))

    // The container was stopped for the archive and runs again.
    const after = containerState(container)
    expect(after.startsWith('true ')).toBe(true)
    expect(after).not.toBe(before)
    expect(r.log).toContain(`stopping container ${container}`)

    // Downloaded, verified, and identical.
    expect(r.outputs.downloaded).toBe(join(download, manifest.id))
    expect(readdirSync(r.outputs.downloaded).sort()).toEqual([...manifest.items.flatMap(i => [i.file, ...(i.listing ? [i.listing.file] : [])]), 'manifest.json'].sort())
    for (const item of manifest.items) expect(readFileSync(join(r.outputs.downloaded, item.file)).equals(readFileSync(join(dir, item.file)))).toBe(true)

    expect(r.summary).toContain(`\`${manifest.id}\``)
    for (const item of manifest.items) expect(r.summary).toContain(item.file)
    expect(exposures(r, server.dbPassword)).toEqual([])
    expect(processes).not.toContain(server.dbPassword)
    expect(processes).toContain('bash -se')
  })

  it('reads the databases from the Django settings on the server; the password never reaches the runner', async () => {
    const app = freshAppDir('snap-django')
    const pg = pgDatabase()
    const release = `${app}/releases/r1`
    asDeploy(`mkdir -p ${q(`${release}/proj`)} && ln -s releases/r1 ${q(`${app}/current`)}
      cd ${q(release)}
      cat > manage.py <<'PY'
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
from django.core.management import execute_from_command_line
print("settings chatter on stdout")
execute_from_command_line(sys.argv)
PY
      touch proj/__init__.py
      cat > proj/settings.py <<PY
SECRET_KEY = "x"
INSTALLED_APPS = []
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "${pg}", "HOST": "127.0.0.1", "USER": "${ROLE}", "PASSWORD": "${server.dbPassword}"},
    "files": {"ENGINE": "django.db.backends.sqlite3", "NAME": "files.sqlite3"},
}
PY
      sqlite3 files.sqlite3 "create table f (x); insert into f values (42);"`)
    const ps = sampleProcesses()
    const r = await runAction('snapshot', { ...connection(), path: app, databases: 'django', compression: 'gzip' })
    const processes = ps.stop()
    expect(r.exitCode, r.log).toBe(0)
    const manifest = parseManifest(r.outputs.manifest)
    expect(manifest.items.map(i => [i.engine, i.alias, i.name])).toEqual([
      ['postgres', 'default', pg],
      ['sqlite', 'files', `${release}/files.sqlite3`],
    ])
    verifyOnServer(r.outputs.path, manifest)
    expect(r.raw).not.toContain(server.dbPassword)
    expect(processes).not.toContain(server.dbPassword)
    expect(r.log).toContain('settings chatter on stdout')
  })

  it('starts the stopped container again when archiving fails, and leaves nothing behind', async () => {
    const app = freshAppDir('snap-archive-fails')
    const media = mediaDir(app)
    // A file deploy cannot read: tar exits 2 halfway through the volumes.
    sh(`install -d -o deploy -m 0755 ${q(`${media}/locked`)} && echo secret > ${q(`${media}/locked/root-only`)} && chmod 0600 ${q(`${media}/locked/root-only`)}`)
    const { volume, container } = podmanVolume()
    const r = await runAction('snapshot', { ...connection(), path: app, volumes: `- volume:${volume}\n- ${media}`, 'container-cli': 'podman', 'stop-containers': container })
    if (process.env.SNAP_DEBUG) console.log(r.errors.join('\n'))
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(`step 'snapshot: archive directory ${media}' failed: tar: ./locked/root-only: Cannot open: Permission denied`)
    expect(r.log).toContain(`started container ${container} again`)
    expect(containerState(container).startsWith('true ')).toBe(true)
    expect(snapshotsIn(app)).toEqual([])
  })

  it('refuses a wrong database password naming the database, before writing anything, and never shows the password', async () => {
    const app = freshAppDir('snap-wrong-password')
    const pg = pgDatabase()
    const wrong = `wrong-${randomBytes(6).toString('hex')}`
    const pgRun = await runAction('snapshot', { ...connection(), path: app, databases: `- engine: postgres\n  name: ${pg}\n  host: 127.0.0.1\n  user: ${ROLE}\n  password: ${wrong}` })
    if (process.env.SNAP_DEBUG) console.log(pgRun.errors.join('\n'))
    expect(pgRun.exitCode).toBe(1)
    expect(pgRun.errors.join('\n')).toContain(`cannot connect to postgres database '${pg}'`)
    expect(pgRun.errors.join('\n')).toContain('password authentication failed')
    expect(exposures(pgRun, wrong)).toEqual([])
    expect(snapshotsIn(app)).toEqual([])

    const my = mariaDatabase()
    const myRun = await runAction('snapshot', { ...connection(), path: app, databases: `- engine: mariadb\n  name: ${my}\n  user: app\n  password: ${wrong}` })
    expect(myRun.exitCode).toBe(1)
    expect(myRun.errors.join('\n')).toContain(`cannot connect to mariadb database '${my}'`)
    expect(myRun.errors.join('\n')).toContain('Access denied')
    expect(exposures(myRun, wrong)).toEqual([])
    expect(snapshotsIn(app)).toEqual([])
  })

  describe('disk full (a small tmpfs as the snapshots directory)', () => {
    let app: string
    let snapshots: string
    beforeAll(() => {
      app = freshAppDir('snap-full')
      snapshots = `${app}/snapshots`
      sh(`install -d -o deploy -g deploy -m 0700 ${snapshots} && mount -t tmpfs -o size=4m,uid=$(id -u deploy),gid=$(id -g deploy),mode=0700 slipway-snap-test ${snapshots}`)
      later(() => sh(`umount ${snapshots} || umount -l ${snapshots}`))
      asDeploy(`sqlite3 ${q(`${app}/db.sqlite3`)} "create table t (x); insert into t values (1);"`)
    })

    it('fails the free-space check with numbers, writes nothing, and keeps older snapshots', async () => {
      const first = await runAction('snapshot', { ...connection(), path: app, databases: `- engine: sqlite\n  name: ${app}/db.sqlite3` })
      expect(first.exitCode, first.log).toBe(0)
      const firstManifest = readFileSync(`${snapshots}/${first.outputs.snapshot}/manifest.json`, 'utf8')

      const big = `${app}/big`
      sh(`install -d -o deploy ${big} && head -c 6000000 /dev/urandom > ${big}/random.bin && chown deploy ${big}/random.bin`)
      const r = await runAction('snapshot', { ...connection(), path: app, databases: `- engine: sqlite\n  name: ${app}/db.sqlite3`, volumes: `- ${big}` })
      expect(r.exitCode).toBe(1)
      expect(r.errors.join('\n')).toMatch(new RegExp(`not enough free space in ${snapshots}: about 5\\.\\dMiB needed \\(SQLite database .*; directory ${big}: 5\\.\\dMiB\\), [\\d.]+[KM]iB available`))
      expect(snapshotsIn(app)).toEqual([first.outputs.snapshot])
      expect(readFileSync(`${snapshots}/${first.outputs.snapshot}/manifest.json`, 'utf8')).toBe(firstManifest)
    })

    it('when the disk fills during the snapshot: a clear error, no partial snapshot, older snapshots intact', async () => {
      const kept = snapshotsIn(app)
      expect(kept).toHaveLength(1)
      const big = `${app}/big2`
      sh(`install -d -o deploy ${big} && head -c 1500000 /dev/urandom > ${big}/random.bin && chown deploy ${big}/random.bin`)
      const pg = pgDatabase()
      psql(pg, `set role ${ROLE}; insert into note select g, repeat(md5(g::text), 20) from generate_series(501, 3000) g`)
      // Fill the disk as soon as the snapshot has passed its free-space check and
      // started writing (its temporary directory appears), as another process might.
      let filled = false
      const watcher = setInterval(() => {
        if (filled || !readdirSync(snapshots).some(d => d.startsWith('.tmp-'))) return
        filled = true
        const st = statfsSync(snapshots)
        sh(`head -c ${Math.max(0, st.bavail * st.bsize - 8192)} /dev/zero > ${snapshots}/filler || true`)
      }, 2)
      try {
        const r = await runAction('snapshot', {
          ...connection(),
          path: app,
          databases: `- engine: postgres\n  name: ${pg}\n  user: ${ROLE}\n  password: ${server.dbPassword}`,
          volumes: `- ${big}`,
        })
        if (process.env.SNAP_DEBUG) console.log(r.errors.join('\n'))
        expect(filled).toBe(true)
        expect(r.exitCode).toBe(1)
        expect(r.errors.join('\n')).toMatch(/ran out of disk space in .*snapshots; the incomplete snapshot was removed and older snapshots are untouched/)
      } finally {
        clearInterval(watcher)
        sh(`rm -f ${snapshots}/filler`)
      }
      expect(snapshotsIn(app)).toEqual(kept)
      verifyOnServer(`${snapshots}/${kept[0]}`, parseManifest(readFileSync(`${snapshots}/${kept[0]}/manifest.json`, 'utf8')))
    })
  })

  it('prunes by keep with restic semantics, keeping the newest and snapshots of releases still on the server', async () => {
    const app = freshAppDir('snap-prune')
    asDeploy(`mkdir -p ${q(`${app}/releases/r-live`)} ${q(`${app}/snapshots`)} && touch ${q(`${app}/db.sqlite3`)}`)
    const old = (id: string, time: string, release?: string) => {
      const manifest = { format: 1, id, time, host: 'test', bytes: 0, durationMs: 0, items: [], ...(release ? { release: { id: release, sha: 'abc1234' } } : {}) }
      asDeploy(`mkdir -p ${q(`${app}/snapshots/${id}`)} && printf '%s' ${q(JSON.stringify(manifest))} > ${q(`${app}/snapshots/${id}/manifest.json`)}`)
    }
    old('20250101T000000Z', '2025-01-01T00:00:00Z', 'r-live')
    old('20250201T000000Z', '2025-02-01T00:00:00Z', 'r-gone')
    old('20250301T000000Z', '2025-03-01T00:00:00Z')
    old('20250401T000000Z-x', '2025-04-01T00:00:00Z')
    // Not a snapshot: never touched.
    asDeploy(`mkdir -p ${q(`${app}/snapshots/notes`)}`)
    const r = await runAction('snapshot', { ...connection(), path: app, databases: `- engine: sqlite\n  name: ${app}/db.sqlite3`, keep: 'last=2' })
    expect(r.exitCode, r.log).toBe(0)
    expect(snapshotsIn(app)).toEqual(['20250101T000000Z', '20250401T000000Z-x', r.outputs.snapshot, 'notes'].sort())
    expect(JSON.parse(r.outputs.pruned).sort()).toEqual(['20250201T000000Z', '20250301T000000Z'])
    expect(r.summary).toContain('Retention `last=2`: kept 3, removed 2')
  })
})

describe('SFTP transfers', () => {
  it('uploads and downloads through .partial names, verified by sha256 on both ends', async () => {
    const { session } = await openHost()
    try {
      const app = freshAppDir('snap-transfer')
      const local = mkdtempSync(join(tmpdir(), 'slipway-transfer-'))
      const data = randomBytes(3 * 1024 * 1024 + 17)
      const sha = createHash('sha256').update(data).digest('hex')
      writeFileSync(join(local, 'up.bin'), data)
      let progress = 0
      const up = await upload(session, join(local, 'up.bin'), `${app}/up.bin`, { onProgress: done => (progress = done) })
      expect(up).toMatchObject({ sha256: sha, bytes: data.length })
      expect(progress).toBe(data.length)
      expect(readFileSync(`${app}/up.bin`).equals(data)).toBe(true)
      expect(existsSync(`${app}/up.bin.partial`)).toBe(false)

      const down = await download(session, `${app}/up.bin`, join(local, 'down.bin'), { expectedSha256: sha })
      expect(down.sha256).toBe(sha)
      expect(readFileSync(join(local, 'down.bin')).equals(data)).toBe(true)

      // A file that does not match the manifest is refused and not kept under either name.
      await expect(download(session, `${app}/up.bin`, join(local, 'bad.bin'), { expectedSha256: '0'.repeat(64) })).rejects.toThrow(/arrived with sha256 .* but the manifest says 0000/)
      expect(readdirSync(local).sort()).toEqual(['down.bin', 'up.bin'])
      await expect(upload(session, join(local, 'up.bin'), `${app}/x.bin`, { expectedSha256: '1'.repeat(64) })).rejects.toThrow(/not uploading it/)
      await expect(download(session, `${app}/missing.bin`, join(local, 'm.bin'))).rejects.toThrow(/cannot read .*missing\.bin over SFTP/)
    } finally {
      session.close()
    }
  })
})
