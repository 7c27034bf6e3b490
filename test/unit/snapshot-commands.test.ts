// Snapshot builders: one-line expectations of the commands, and whole snapshot scripts
// run by local bash (SQLite, directories, a fake container CLI) to prove the promises
// that need no server: atomic finalise, cleanup on failure, containers started again.

import { spawn, spawnSync } from 'child_process'
import { createHash } from 'crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { describe, expect, it } from 'vitest'
import { renderScript } from '../../src/commands/script'
import { pruneSnapshotsScript } from '../../src/commands/snapshot/list'
import { mariadbDump, mycnfFunction } from '../../src/commands/snapshot/mariadb'
import { postgresDump } from '../../src/commands/snapshot/postgres'
import { chooseContainerCli, runtimeFunctions } from '../../src/commands/snapshot/runtime'
import { listingFunction } from '../../src/commands/snapshot/checksums'
import { itemFileBase, snapshotScript } from '../../src/commands/snapshot/snapshot'
import { sqliteDump } from '../../src/commands/snapshot/sqlite'
import type { DbTarget } from '../../src/commands/snapshot/types'
import { containerVolumeArchive, directoryArchive } from '../../src/commands/snapshot/volume'
import { getSnapshotSettings } from '../../src/inputs/snapshot'
import { mapInputs } from '../../src/inputs/source'
import { parseManifest } from '../../src/snapshot/manifest'
import { planSnapshot } from '../../src/snapshot/plan'
import { parseListing } from '../../src/snapshot/snapshot'

const pg: DbTarget = { engine: 'postgres', name: 'app', host: '127.0.0.1', port: 5432, user: 'app', passwordVar: 'SLIPWAY_DB_PASSWORD_1', jobs: 1 }

describe('dump commands', () => {
  it('postgres: custom format, password in the environment of pg_dump only', () => {
    expect(postgresDump(pg, '01-postgres-app.pgdump')).toBe(
      'PGPASSWORD="${SLIPWAY_DB_PASSWORD_1-}" pg_dump --format=custom --no-password --host 127.0.0.1 --port 5432 --username app --dbname app --file "$snap_tmp"/01-postgres-app.pgdump',
    )
    expect(postgresDump({ engine: 'postgres', name: 'app', jobs: 1 }, '01-postgres-app.pgdump')).toBe('pg_dump --format=custom --no-password --dbname app --file "$snap_tmp"/01-postgres-app.pgdump')
  })
  it('postgres in a container: the password goes through stdin, not exec -e', () => {
    expect(postgresDump({ ...pg, container: 'db' }, '01-postgres-app.pgdump')).toBe(
      `printf '%s\\n' "\${SLIPWAY_DB_PASSWORD_1-}" | "\${snap_cli[@]}" exec -i db sh -c 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec "$@"' sh pg_dump --format=custom --no-password --host 127.0.0.1 --port 5432 --username app --dbname app > "$snap_tmp"/01-postgres-app.pgdump`,
    )
  })
  it('postgres with jobs: directory format, tarred into one file', () => {
    expect(postgresDump({ ...pg, jobs: 4 }, '01-postgres-app.pgdir.tar').split('\n')[0]).toContain('pg_dump --format=directory --jobs=4 ')
  })
  it('mariadb: one transaction, routines, triggers, events; password as an option file on stdin', () => {
    expect(mariadbDump({ ...pg, engine: 'mariadb', port: 3306 }, '02-mariadb-app.sql').split('\n')[1]).toBe(
      'snap_mycnf "${SLIPWAY_DB_PASSWORD_1-}" | "$snap_my_tool" --defaults-extra-file=/dev/stdin --single-transaction --routines --triggers --events --hex-blob --no-tablespaces --default-character-set=utf8mb4 --host 127.0.0.1 --port 3306 --user app -- app | "${snap_compress[@]}" > "$snap_tmp"/02-mariadb-app.sql"$snap_ext"',
    )
    expect(mariadbDump({ engine: 'mysql', name: 'shop', host: '/run/mysqld/mysqld.sock', jobs: 1 }, '02-mysql-shop.sql')).toBe(
      'snap_my_tool=$(snap_tool mysqldump mariadb-dump)\n"$snap_my_tool" --single-transaction --routines --triggers --events --hex-blob --no-tablespaces --default-character-set=utf8mb4 --socket /run/mysqld/mysqld.sock -- shop | "${snap_compress[@]}" > "$snap_tmp"/02-mysql-shop.sql"$snap_ext"',
    )
  })
  it('sqlite: the online backup API, checked, then compressed', () => {
    expect(sqliteDump({ engine: 'sqlite', name: '/srv/app/db.sqlite3', jobs: 1 }, '03-sqlite-db.sqlite3').split('\n')[0]).toBe(
      `(cd -- "$snap_tmp" && sqlite3 -bail -cmd '.timeout 30000' /srv/app/db.sqlite3 '.backup main '\\''03-sqlite-db.sqlite3'\\''')`,
    )
  })
  it('directories: tar, where "file changed as we read it" is not a failure', () => {
    expect(directoryArchive('/srv/app/shared/media', '04-volume-media.tar')).toBe(
      '{ tar -C /srv/app/shared/media --warning=no-file-changed -cf - . || [ $? -eq 1 ]; } | "${snap_compress[@]}" > "$snap_tmp"/04-volume-media.tar"$snap_ext"',
    )
    expect(directoryArchive("/srv/it's", 'x.tar')).toContain(`tar -C '/srv/it'\\''s'`)
  })
  it('named volumes: podman volume export, docker cp through a container that mounts it', () => {
    const s = containerVolumeArchive('app_data', '05-volume-app_data.tar')
    expect(s).toContain('"${snap_cli[@]}" volume export "$snap_v" | "${snap_compress[@]}" > "$snap_tmp"/05-volume-app_data.tar"$snap_ext"')
    expect(s).toContain('"${snap_cli[@]}" cp "$snap_c:$snap_dest/." -')
  })
  it('container CLI: the one asked for, then through sudo -n', () => {
    expect(chooseContainerCli('podman', ['web'], [])).toContain(`for snap_c in podman 'sudo -n podman'; do`)
    expect(chooseContainerCli('sudo docker', ['web'], [])).toContain(`for snap_c in 'sudo -n docker'; do`)
    expect(chooseContainerCli(undefined, [], ['v'])).toContain(`for snap_c in docker 'sudo -n docker' podman 'sudo -n podman'; do`)
  })
  it('prune: renamed out of the way before removal', () => {
    expect(pruneSnapshotsScript('/srv/app', ['20260101T000000Z'])).toBe(
      "cd -- /srv/app/snapshots\nmv -T -- 20260101T000000Z .deleting-20260101T000000Z && rm -rf -- .deleting-20260101T000000Z && echo 'removed snapshot 20260101T000000Z'",
    )
  })
  it('names files by position, engine and a safe slug', () => {
    expect(itemFileBase({ kind: 'database', index: 1, db: pg })).toBe('01-postgres-app.pgdump')
    expect(itemFileBase({ kind: 'database', index: 2, db: { engine: 'sqlite', name: '/srv/a/my db.sqlite3', jobs: 1 } })).toBe('02-sqlite-my_db.sqlite3')
    expect(itemFileBase({ kind: 'volume', index: 12, volume: { kind: 'directory', path: '/srv/app/shared/media/' } })).toBe('12-volume-media.tar')
    expect(itemFileBase({ kind: 'volume', index: 3, volume: { kind: 'container-volume', name: 'app.data' } })).toBe('03-volume-app_data.tar')
  })
})

describe('the whole script', () => {
  it('passes shellcheck, every engine and volume kind included', () => {
    const s = getSnapshotSettings(
      mapInputs({
        databases: [
          '- engine: postgres\n  name: a\n  password: x',
          '- engine: postgres\n  name: b\n  container: c\n  password: y',
          '- engine: postgres\n  name: big\n  jobs: 3',
          '- engine: mariadb\n  name: m\n  password-env: P',
          '- engine: mysql\n  name: n\n  container: c',
          '- engine: sqlite\n  name: /a/b.db',
        ].join('\n'),
        volumes: '- /srv/m\n- volume:v',
        'stop-containers': 'web',
      }),
      () => undefined,
    )
    const { plan, env } = planSnapshot('/srv/app', s, { label: 'x', release: { id: 'r1', sha: 'abc' } })
    const text = renderScript({ ...snapshotScript(plan, env), lockDir: '/srv/app/.slipway/lock' }, { nonce: 'n' })
    // Unused variables (manifest fields kept for later), one-item loops and the like are fine.
    const r = spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', '-e', 'SC2034,SC2209,SC2043', '-'], { input: text, encoding: 'utf8' })
    expect(r.error, 'shellcheck is needed (apt-get install shellcheck)').toBeUndefined()
    expect(r.stdout).toBe('')
    expect(r.status).toBe(0)
  })
})

describe('secrets', () => {
  it('never puts a password into the script body, only into its env', () => {
    const s = getSnapshotSettings(mapInputs({ databases: '- engine: postgres\n  name: app\n  password: "pw-in-yaml-9f3"\n- engine: mariadb\n  name: shop\n  password: "pw2-x\'y"' }), () => undefined)
    const { plan, env } = planSnapshot('/srv/app', s, {})
    const script = snapshotScript(plan, env)
    expect(script.body).not.toContain('pw-in-yaml-9f3')
    expect(script.body).not.toContain('pw2-x')
    expect(script.env).toEqual({ SLIPWAY_DB_PASSWORD_1: 'pw-in-yaml-9f3', SLIPWAY_DB_PASSWORD_2: "pw2-x'y" })
  })
  it('writes a MariaDB option file that keeps quotes, backslashes and # in the password', () => {
    const r = spawnSync('bash', ['-c', `${mycnfFunction()}\nsnap_mycnf "$PW"`], { env: { PW: 'a"b\\c #d;e' }, encoding: 'utf8' })
    expect(r.stdout).toBe('[client]\npassword="a\\"b\\\\c #d;e"\n')
  })
  it('escapes JSON strings in the manifest', () => {
    const r = spawnSync('bash', ['-c', `${runtimeFunctions()}\nsnap_json "$V"`], { env: { V: 'a"b\\c\td\x01' }, encoding: 'utf8' })
    expect(JSON.parse(`"${r.stdout}"`)).toBe('a"b\\cd')
  })
})

/** A scratch app with a SQLite database and a media directory with awkward entries. */
function scratchApp() {
  const root = mkdtempSync(join(tmpdir(), 'slipway-snap-'))
  const media = join(root, 'shared', 'media')
  mkdirSync(join(media, 'sub dir'), { recursive: true })
  writeFileSync(join(media, "it's a \"file\" $(id).txt"), 'odd name\n')
  writeFileSync(join(media, 'sub dir', 'ünï.bin'), Buffer.from([0, 1, 2, 255]))
  chmodSync(join(media, 'sub dir', 'ünï.bin'), 0o640)
  symlinkSync('sub dir/ünï.bin', join(media, 'link'))
  const db = join(root, 'db.sqlite3')
  spawnSync('sqlite3', [db, 'create table t(x); insert into t values (1), (2), (3);'])
  return { root, media, db }
}

interface LocalRun {
  code: number | null
  stdout: string
  stderr: string
}

function runLocally(root: string, inputs: Record<string, string>, opts: { path?: string; label?: string; lockDir?: string } = {}): Promise<LocalRun> & { pid?: number } {
  const s = getSnapshotSettings(mapInputs(inputs), () => undefined)
  const { plan, env } = planSnapshot(root, s, { label: opts.label })
  const child = spawn('bash', ['-se'], { env: { PATH: `${opts.path ? `${opts.path}:` : ''}${process.env.PATH}`, HOME: root }, detached: true })
  child.stdin.end(renderScript({ ...snapshotScript(plan, env), lockDir: opts.lockDir }, { nonce: 'test' }))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', c => (stdout += c))
  child.stderr.on('data', c => (stderr += c))
  const done = new Promise<LocalRun>(resolve => child.on('close', code => resolve({ code, stdout, stderr })))
  return Object.assign(done, { pid: child.pid })
}

/** A directory of fake programs put first on PATH. */
function fakeBin(programs: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-bin-'))
  for (const [name, body] of Object.entries(programs)) {
    writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`)
    chmodSync(join(dir, name), 0o755)
  }
  return dir
}

const mode = (p: string) => statSync(p).mode & 0o777

describe('the snapshot script, run by local bash', () => {
  it('captures SQLite and a directory into snapshots/<id>/ with a manifest that matches the files', async () => {
    const app = scratchApp()
    const r = await runLocally(app.root, { databases: `- engine: sqlite\n  name: ${app.db}`, volumes: `- ${app.media}`, compression: 'gzip' }, { label: 'nightly' })
    expect(r.code, r.stderr).toBe(0)
    const manifest = parseManifest(r.stdout)
    expect(manifest.id).toMatch(/^\d{8}T\d{6}Z-nightly$/)
    expect(manifest.label).toBe('nightly')
    const dir = join(app.root, 'snapshots', manifest.id)
    expect(readdirSync(join(app.root, 'snapshots'))).toEqual([manifest.id])
    expect(readdirSync(dir).sort()).toEqual(['01-sqlite-db.sqlite3.gz', '02-volume-media.files', '02-volume-media.tar.gz', 'manifest.json'])
    expect(mode(join(app.root, 'snapshots'))).toBe(0o700)
    expect(mode(dir)).toBe(0o700)
    for (const f of readdirSync(dir)) expect(mode(join(dir, f))).toBe(0o600)
    for (const item of manifest.items) {
      const data = readFileSync(join(dir, item.file))
      expect(item.bytes).toBe(data.length)
      expect(item.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    }
    expect(manifest.items[0]).toMatchObject({ kind: 'database', engine: 'sqlite', format: 'sqlite3 .backup', compression: 'gzip', toolVersion: expect.stringMatching(/^sqlite3 3\.\d+.*; gzip/) })
    expect(manifest.bytes).toBe(manifest.items[0].bytes + manifest.items[1].bytes)
    // What a restore drill compares against: rows of the backup, a fingerprint of the archive.
    expect(manifest.items[0]).toMatchObject({ tableSums: 'slipway-rows-2', tables: [{ table: 't', rows: 3, checksum: expect.stringMatching(/^[0-9a-f]{64}$/) }] })
    const listingFile = join(dir, '02-volume-media.files')
    expect(manifest.items[1].listing).toEqual({ file: '02-volume-media.files', bytes: statSync(listingFile).size, sha256: createHash('sha256').update(readFileSync(listingFile)).digest('hex'), entries: 4 })
    expect(readFileSync(listingFile, 'utf8')).toContain('entry lrwxrwxrwx link -> sub dir/')

    const restored = join(app.root, 'restored.sqlite3')
    spawnSync('bash', ['-c', `gzip -dc < "${dir}/01-sqlite-db.sqlite3.gz" > "${restored}"`])
    expect(spawnSync('sqlite3', [restored, 'select group_concat(x) from t'], { encoding: 'utf8' }).stdout.trim()).toBe('1,2,3')
    const listing = spawnSync('tar', ['-tvzf', join(dir, '02-volume-media.tar.gz')], { encoding: 'utf8' }).stdout
    expect(listing).toContain(`./it's a "file" $(id).txt`)
    expect(listing).toMatch(/-rw-r----- .* \.\/sub dir\/ünï\.bin/)
    expect(listing).toContain('./link -> sub dir/ünï.bin')
  })

  it('leaves no trace of a snapshot that fails halfway, and older snapshots stay intact', async () => {
    const app = scratchApp()
    const first = await runLocally(app.root, { databases: `- engine: sqlite\n  name: ${app.db}` })
    expect(first.code, first.stderr).toBe(0)
    const firstId = parseManifest(first.stdout).id
    const before = readFileSync(join(app.root, 'snapshots', firstId, 'manifest.json'), 'utf8')
    // The directory is archived after the database is dumped: tar failing there means
    // a temporary directory with a finished dump in it must be thrown away.
    const bin = fakeBin({ tar: 'if [ "$1" = --version ]; then echo "tar (fake) 1"; exit 0; fi; echo "tar: ./x: Cannot open: Permission denied" >&2; exit 2' })
    const r = await runLocally(app.root, { databases: `- engine: sqlite\n  name: ${app.db}`, volumes: `- ${app.media}` }, { path: bin })
    expect(r.code).not.toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`slipway: snapshot failed while: archive directory ${app.media}`)
    expect(r.stderr).toContain('removed the incomplete snapshot')
    expect(readdirSync(join(app.root, 'snapshots'))).toEqual([firstId])
    expect(readFileSync(join(app.root, 'snapshots', firstId, 'manifest.json'), 'utf8')).toBe(before)
  })

  it('checks free space first and writes nothing when the estimate does not fit', async () => {
    const app = scratchApp()
    const bin = fakeBin({ df: 'echo "Filesystem 1-blocks Used Available Capacity Mounted on"; echo "fake 100000 99000 1000 99% /"' })
    const r = await runLocally(app.root, { volumes: `- ${app.media}` }, { path: bin })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/slipway: not enough free space in .*\/snapshots: about [\d.]+KiB needed \(directory .*media: [\d.]+KiB\), 1000B available\. Nothing was written\./)
    expect(readdirSync(join(app.root, 'snapshots'))).toEqual([])
  })

  it('stops the containers for the archive and starts them again, also when the archive fails', async () => {
    const app = scratchApp()
    const log = join(app.root, 'cli.log')
    const podman = `echo "$*" >> ${log}
case "$1 $2" in
  "container inspect") if [ "$3" = --format ]; then echo true; fi ;;
  "--version ") echo "podman version 4.3.1" ;;
esac
exit 0`
    const ok = await runLocally(app.root, { volumes: `- ${app.media}`, 'stop-containers': 'web, worker', 'container-cli': 'podman' }, { path: fakeBin({ podman }) })
    expect(ok.code, ok.stderr).toBe(0)
    const calls = () => readFileSync(log, 'utf8').split('\n').filter(l => /^(stop|start)/.test(l))
    expect(calls()).toEqual(['stop web', 'stop worker', 'start web', 'start worker'])

    writeFileSync(log, '')
    const tar = 'if [ "$1" = --version ]; then echo "tar (fake) 1"; exit 0; fi; exit 2'
    const failed = await runLocally(app.root, { volumes: `- ${app.media}`, 'stop-containers': 'web', 'container-cli': 'podman' }, { path: fakeBin({ podman, tar }) })
    expect(failed.code).not.toBe(0)
    expect(calls()).toEqual(['stop web', 'start web'])
    expect(failed.stderr).toContain('started container web again')
    expect(readdirSync(join(app.root, 'snapshots')).filter(d => !d.startsWith('2'))).toEqual([])

    // A container that will not start again fails the step, but the finished snapshot stays.
    const stubborn = podman.replace('exit 0', '[ "$1" = start ] && exit 1; exit 0')
    const before = readdirSync(join(app.root, 'snapshots')).length
    const r = await runLocally(app.root, { volumes: `- ${app.media}`, 'stop-containers': 'web', 'container-cli': 'podman' }, { path: fakeBin({ podman: stubborn }) })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/could not start container web again[\s\S]*snapshot \S+ is complete, but a stopped container could not be started again/)
    expect(readdirSync(join(app.root, 'snapshots'))).toHaveLength(before + 1)
  })

  it('cleans up and starts containers again when the process group is terminated mid-archive', async () => {
    const app = scratchApp()
    const log = join(app.root, 'cli.log')
    const podman = `echo "$*" >> ${log}; if [ "$1 $2 $3" = "container inspect --format" ]; then echo true; fi; exit 0`
    const tar = `if [ "$1" = --version ]; then echo "tar (fake) 1"; exit 0; fi; touch ${app.root}/tar-started; sleep 30`
    const run = runLocally(app.root, { volumes: `- ${app.media}`, 'stop-containers': 'web', 'container-cli': 'podman' }, { path: fakeBin({ podman, tar }) })
    for (let i = 0; i < 100 && !existsSync(join(app.root, 'tar-started')); i++) await new Promise(r => setTimeout(r, 50))
    expect(readdirSync(join(app.root, 'snapshots')).some(d => d.startsWith('.tmp-'))).toBe(true)
    // What the app lock's guardian does when the runner vanishes.
    process.kill(-run.pid!, 'SIGTERM')
    const r = await run
    expect(r.code).not.toBe(0)
    expect(readdirSync(join(app.root, 'snapshots'))).toEqual([])
    expect(readFileSync(log, 'utf8')).toMatch(/stop web\n(.*\n)*start web\n/)
  })
})

describe('under the app lock', () => {
  it('keeps the EXIT trap set before it (the lock unregisters the work), on success and failure', async () => {
    const app = scratchApp()
    const lockDir = join(app.root, '.slipway', 'lock')
    mkdirSync(join(lockDir, 'work'), { recursive: true })
    const ok = await runLocally(app.root, { volumes: `- ${app.media}` }, { lockDir })
    expect(ok.code, ok.stderr).toBe(0)
    expect(readdirSync(join(lockDir, 'work'))).toEqual([])
    const failed = await runLocally(app.root, { volumes: `- ${app.media}` }, { lockDir, path: fakeBin({ tar: 'exit 2' }) })
    expect(failed.code).not.toBe(0)
    expect(readdirSync(join(lockDir, 'work'))).toEqual([])
  })
})

describe('plan', () => {
  const django = (name?: string) => getSnapshotSettings(mapInputs({ databases: name ? `- engine: django\n  name: ${name}` : 'django', 'project-dir': 'src' }), () => undefined)
  const discovered = [
    { alias: 'default', engine: 'django.db.backends.postgresql', name: 'app', host: '', port: '5432', user: 'app', hasPassword: true },
    { alias: 'files', engine: 'django.db.backends.sqlite3', name: '/srv/app/files.sqlite3', host: '', port: '', user: '', hasPassword: false },
    { alias: 'nothing', engine: 'django.db.backends.dummy', name: '', host: '', port: '', user: '', hasPassword: false },
  ]
  it('turns Django aliases into items whose passwords stay on the server', () => {
    const { plan, env } = planSnapshot('/srv/app', django(), {}, discovered)
    expect(env).toEqual({})
    expect(plan.items.map(i => (i.kind === 'database' ? i.db : undefined))).toEqual([
      { engine: 'postgres', name: 'app', host: undefined, port: 5432, user: 'app', jobs: 1, alias: 'default', passwordVar: 'SLIPWAY_DJANGO_PASSWORD_1' },
      { engine: 'sqlite', name: '/srv/app/files.sqlite3', host: undefined, port: undefined, user: undefined, jobs: 1, alias: 'files', passwordVar: undefined },
    ])
    expect(plan.djangoPasswords).toEqual({ root: '/srv/app', projectDir: 'src', python: 'python3', vars: { default: 'SLIPWAY_DJANGO_PASSWORD_1' } })
    expect(planSnapshot('/srv/app', django('files'), {}, discovered).plan.items).toHaveLength(1)
  })
  it('says which alias it cannot take', () => {
    expect(() => planSnapshot('/srv/app', django('cache'), {}, discovered)).toThrow("the Django settings have no database alias 'cache' (they have: default, files, nothing)")
    expect(() => planSnapshot('/srv/app', django(), {}, [{ ...discovered[0], alias: 'legacy', engine: 'django.db.backends.oracle' }])).toThrow(
      "Django database 'legacy' uses ENGINE django.db.backends.oracle, which slipway cannot snapshot",
    )
  })
})

describe('listing', () => {
  it('reads manifests, releases and ignores what is not a snapshot', () => {
    const manifest = { format: 1, id: '20260101T000000Z', time: '2026-01-01T00:00:00Z', host: 'h', bytes: 0, durationMs: 1, release: { id: 'r1', sha: 'abc' }, items: [] }
    const out = [
      `\x1esnapshot 20260101T000000Z\n${JSON.stringify(manifest)}\n`,
      '\x1esnapshot 20260102T000000Z\n{not json\n',
      '\x1esnapshot ..\n\n',
      '\x1esnapshot-releases\nr1\nr2\n',
    ].join('')
    const l = parseListing(out)
    expect(l.snapshots.map(s => [s.id, s.manifest?.release?.id ?? s.problem?.slice(0, 31)])).toEqual([
      ['20260101T000000Z', 'r1'],
      ['20260102T000000Z', 'manifest.json is not valid JSON'],
    ])
    expect(l.strangers).toEqual(['..'])
    expect(l.releases).toEqual(['r1', 'r2'])
  })
})

describe('manifest', () => {
  const item = { kind: 'database', engine: 'postgres', name: 'app', file: '01-postgres-app.pgdump', format: 'pg_dump custom', compression: 'none', bytes: 3, sha256: 'a'.repeat(64), toolVersion: '', serverVersion: '', durationMs: 1 }
  const manifest = (over: Record<string, unknown> = {}, itemOver: Record<string, unknown> = {}) =>
    JSON.stringify({ format: 1, id: '20260101T000000Z-nightly', time: '2026-01-01T00:00:00Z', host: 'h', bytes: 3, durationMs: 1, items: [{ ...item, ...itemOver }], ...over })

  it('reads what the snapshot script writes', () => {
    expect(parseManifest(manifest(), '20260101T000000Z-nightly').items[0].file).toBe('01-postgres-app.pgdump')
  })
  it.each([
    [{ id: '../20260101T000000Z' }, {}, "id '../20260101T000000Z' is not a snapshot id"],
    [{ id: '20260101T000000Z/..' }, {}, 'is not a snapshot id'],
    [{ id: '20260101T000000Z-..' }, {}, 'is not a snapshot id'],
    [{}, { file: '../../etc/passwd' }, "items[0].file '../../etc/passwd' is not a snapshot file name"],
    [{}, { file: '01-postgres-a/b' }, 'is not a snapshot file name'],
    [{}, { file: '01-postgres-..' }, 'is not a snapshot file name'],
    [{}, { file: 'manifest.json' }, 'is not a snapshot file name'],
    [{}, { sha256: 'xyz' }, 'items[0].sha256 is not a sha256'],
    [{}, { bytes: -1 }, 'items[0].bytes is not a size'],
    [{ release: { id: '../../x', sha: 'a' } }, {}, "release id '../../x' is not a release id"],
    [{ format: 2 }, {}, 'manifest format 2 is not supported'],
    [{ time: 'yesterday' }, {}, "time 'yesterday' is not an ISO 8601 UTC time"],
  ])('refuses %j %j', (over, itemOver, message) => {
    expect(() => parseManifest(manifest(over, itemOver))).toThrow(message)
  })
  it('refuses a manifest found in another directory than its id', () => {
    expect(() => parseManifest(manifest(), '20260102T000000Z')).toThrow("manifest id '20260101T000000Z-nightly' does not match its directory '20260102T000000Z'")
  })
})

describe('snap_listing', () => {
  it('describes a volume the same whether tar wrote ./names and a root entry or bare names (podman volume export)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'listing-'))
    mkdirSync(join(dir, 'vol/notes'), { recursive: true })
    writeFileSync(join(dir, 'vol/notes/1.txt'), 'one\n')
    symlinkSync('notes/1.txt', join(dir, 'vol/latest'))
    const listing = (tarArgs: string) =>
      spawnSync('bash', ['-c', `set -euo pipefail\n${listingFunction()}\ntar ${tarArgs} | snap_listing`], { encoding: 'utf8', cwd: join(dir, 'vol') }).stdout
    const dotted = listing('-cf - .')
    const bare = listing('-cf - notes latest')
    expect(dotted).toBe(bare)
    expect(dotted).toContain('entry lrwxrwxrwx latest -> notes/1.txt')
    expect(dotted).toMatch(/^sha256 [0-9a-f]{64} notes\/1\.txt$/m)
    // A changed file is still a different listing.
    writeFileSync(join(dir, 'vol/notes/1.txt'), 'uno\n')
    expect(listing('-cf - .')).not.toBe(bare)
  })
})
