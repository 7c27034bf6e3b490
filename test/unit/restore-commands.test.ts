// Restore builders: one-line expectations of the commands, plus the pure decisions of
// the orchestration (which snapshot, which target, what a drill found).

import { spawnSync } from 'child_process'
import { describe, expect, it } from 'vitest'
import { mariadbDumpComplete, mariadbScratchName, mariadbSwapSql, sqlIdent, sqlString } from '../../src/commands/restore/mariadb'
import { postgresCreateScratch, postgresDropScratch, postgresRestore } from '../../src/commands/restore/postgres'
import { databaseRestoreScript, decompressCommand, drillScript, postgresScratchName, volumesRestoreScript } from '../../src/commands/restore/restore'
import { sqliteRestore } from '../../src/commands/restore/sqlite'
import type { RestorePlan } from '../../src/commands/restore/types'
import { parseVerify, verifyScript } from '../../src/commands/restore/verify'
import { VOLUME_IMPORT_SH } from '../../src/commands/restore/volume'
import { renderScript } from '../../src/commands/script'
import type { DbTarget } from '../../src/commands/snapshot/types'
import { parseSnapshotRef } from '../../src/inputs/restore'
import { getSnapshotSettings } from '../../src/inputs/snapshot'
import { mapInputs } from '../../src/inputs/source'
import { compareTables, matchItems } from '../../src/restore/restore'
import type { Manifest, ManifestItem } from '../../src/snapshot/manifest'
import { planSnapshot } from '../../src/snapshot/plan'

const pg: DbTarget = { engine: 'postgres', name: 'app', host: '127.0.0.1', user: 'app', passwordVar: 'SLIPWAY_DB_PASSWORD_1', jobs: 1 }
const my: DbTarget = { engine: 'mariadb', name: 'shop', user: 'app', passwordVar: 'SLIPWAY_DB_PASSWORD_2', jobs: 1 }

describe('restore commands', () => {
  it('postgres: the dump as SQL after the prelude, COMMIT only when pg_restore succeeded', () => {
    expect(postgresRestore(pg, '/s/01-postgres-app.pgdump', 'pg_dump custom')).toMatch(
      /^\{ printf '%s\\n' 'BEGIN;[\s\S]*'; if pg_restore --no-owner --exit-on-error --file=- -- \/s\/01-postgres-app\.pgdump; then printf 'COMMIT;\\n'; else printf '%s\\n' 'DO \$slipway\$ BEGIN RAISE EXCEPTION[\s\S]*'; fi; \} \| PGPASSWORD="\$\{SLIPWAY_DB_PASSWORD_1-\}" psql -X -q -A -t -v ON_ERROR_STOP=1 --no-password --host 127\.0\.0\.1 --username app --dbname app$/,
    )
  })
  it('postgres in a container: password then dump on stdin, pg_restore and psql run there', () => {
    expect(postgresRestore({ ...pg, container: 'db' }, '/s/f.pgdump', 'pg_dump custom')).toMatch(
      /^\{ printf '%s\\n' "\$\{SLIPWAY_DB_PASSWORD_1-\}"; cat -- \/s\/f\.pgdump; \} \| "\$\{snap_cli\[@\]\}" exec -i db sh -c 'IFS= read -r PGPASSWORD; export PGPASSWORD; \{ printf /,
    )
  })
  it('postgres scratch databases: created like the live one, dropped with FORCE', () => {
    expect(postgresCreateScratch(pg, 'app_slipway_drill_1a2b')).toContain(`psql -X -q -A -t -v ON_ERROR_STOP=1 -v scratch=app_slipway_drill_1a2b --no-password`)
    expect(postgresDropScratch(pg, 'app_slipway_drill_1a2b')).toContain(`'DROP DATABASE IF EXISTS "app_slipway_drill_1a2b" WITH (FORCE);'`)
    expect(postgresScratchName('x'.repeat(70), 'abcd1234')).toHaveLength(63)
  })
  it('mariadb: one RENAME TABLE moves live out and the restored tables in', () => {
    expect(mariadbSwapSql('shop', 'shop_slipway_new_1', 'shop_slipway_old_1')).toContain("SET @r = (SELECT CONCAT('RENAME TABLE ', GROUP_CONCAT(r ORDER BY o, table_name SEPARATOR ', '))")
    expect(mariadbScratchName('shop', 'new', '1a2b3c4d')).toBe('shop_slipway_new_1a2b3c4d')
    expect(sqlIdent('a`b')).toBe('`a``b`')
    expect(sqlString("it's \\")).toBe("'it''s \\\\'")
  })
  it('mariadb: a dump without its last line is refused before anything is loaded', () => {
    expect(mariadbDumpComplete('/s/02-mariadb-shop.sql.zst', decompressCommand('zstd'))).toBe(
      `zstd -q -dc < /s/02-mariadb-shop.sql.zst | tail -n 1 | grep -q '^-- Dump completed' || snap_fail '02-mariadb-shop.sql.zst is incomplete: it does not end with the '\\''-- Dump completed'\\'' line that mariadb-dump writes last (cut short?); nothing was changed'`,
    )
  })
  it('sqlite: decompressed beside the live file, checked, renamed over it', () => {
    expect(sqliteRestore('/srv/app/db.sqlite3', '/s/03-sqlite-db.sqlite3.gz', decompressCommand('gzip'), '20260101T000000Z').split('\n')).toEqual([
      'rst_db=/srv/app/db.sqlite3; rst_tmp=/srv/app/db.sqlite3.slipway-restore-20260101T000000Z',
      `__slipway_at_exit 'rm -f -- "$rst_tmp"'`,
      'gzip -dc < /s/03-sqlite-db.sqlite3.gz > "$rst_tmp"',
      `[ "$(sqlite3 "$rst_tmp" 'pragma quick_check')" = ok ] || snap_fail 'the restored copy of /srv/app/db.sqlite3 does not pass sqlite'\\''s quick_check'`,
      'if [ -e "$rst_db" ]; then chmod --reference="$rst_db" -- "$rst_tmp"; fi',
      'rm -f -- "$rst_db-wal" "$rst_db-shm"',
      'mv -f -- "$rst_tmp" "$rst_db"',
      'rm -f -- "$rst_db-wal" "$rst_db-shm"',
    ])
  })
  it('verify: refuses symlinks, reports size and sha256 per file', () => {
    expect(verifyScript('/s', ['manifest.json', '01-postgres-app.pgdump']).split('\n')[2]).toBe('for f in manifest.json 01-postgres-app.pgdump; do')
    expect([...parseVerify(`file 01-a.x 3 ${'a'.repeat(64)}\nbad 02-b.y is a symlink\n`).values()]).toEqual([
      { file: '01-a.x', bytes: 3, sha256: 'a'.repeat(64) },
      { file: '02-b.y', problem: 'is a symlink' },
    ])
  })
  it('named volumes: extracted inside the volume first, old contents removed only then', () => {
    expect(VOLUME_IMPORT_SH.split('\n').indexOf('tar -xf - -C .slipway-restore')).toBeLessThan(VOLUME_IMPORT_SH.split('\n').findIndex(l => l.includes('rm -rf -- "$e"')))
  })
  it('refuses a compression it does not know', () => {
    expect(() => decompressCommand('xz')).toThrow("compression 'xz' is not one slipway can undo")
  })
})

function item(over: Partial<ManifestItem>): ManifestItem {
  return { kind: 'database', engine: 'postgres', name: 'app', file: '01-postgres-app.pgdump', format: 'pg_dump custom', compression: 'none', bytes: 1, sha256: 'a'.repeat(64), toolVersion: '', serverVersion: '', durationMs: 0, ...over }
}
const manifest = (items: ManifestItem[]): Manifest => ({ format: 1, id: '20260101T000000Z', time: '2026-01-01T00:00:00Z', host: 'h', bytes: 0, durationMs: 0, items })
const planned = (databases: string, volumes = '') => planSnapshot('/srv/app', getSnapshotSettings(mapInputs({ databases, volumes }), () => undefined), {}).plan.items

describe('whole scripts', () => {
  const plan = (items: RestorePlan['items']): RestorePlan => ({ dir: '/srv/app/snapshots/20260101T000000Z', id: '20260101T000000Z', token: '1a2b3c4d', items, stopContainers: ['web'] })
  const shellcheck = (text: string) => spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', '-e', 'SC2034,SC2209,SC2043,SC2016', '-'], { input: text, encoding: 'utf8' }).stdout
  it('pass shellcheck: each database engine, volumes, drills', () => {
    const items: RestorePlan['items'] = [
      { item: item({}), target: { kind: 'database', db: pg }, path: '/srv/app/snapshots/20260101T000000Z/01-postgres-app.pgdump' },
      { item: item({ engine: 'mariadb', name: 'shop', file: '02-mariadb-shop.sql.zst', compression: 'zstd' }), target: { kind: 'database', db: { ...my, container: 'db' } }, path: '/s/02' },
      { item: item({ engine: 'sqlite', name: '/srv/app/db.sqlite3', file: '03-sqlite-db.sqlite3.gz', compression: 'gzip' }), target: { kind: 'database', db: { engine: 'sqlite', name: '/srv/app/db.sqlite3', jobs: 1 } }, path: '/s/03' },
      { item: item({ kind: 'volume', engine: 'directory', name: '/srv/m', file: '04-volume-m.tar.zst', compression: 'zstd' }), target: { kind: 'volume', volume: { kind: 'directory', path: '/srv/m' } }, path: '/s/04', listingPath: '/s/04.files' },
      { item: item({ kind: 'volume', engine: 'container-volume', name: 'volume:v', file: '05-volume-v.tar.zst', compression: 'zstd' }), target: { kind: 'volume', volume: { kind: 'container-volume', name: 'v' } }, path: '/s/05' },
    ]
    const p = plan(items)
    const scripts = [...items.slice(0, 3).map(i => databaseRestoreScript(p, i, {})), volumesRestoreScript(p, items.slice(3)), ...items.map(i => drillScript(p, i, {}))]
    for (const s of scripts) expect(shellcheck(renderScript({ ...s, lockDir: '/srv/app/.slipway/lock' }, { nonce: 'n' })), s.step).toBe('')
  })
})

describe('choosing what to restore', () => {
  it('parses snapshot references strictly', () => {
    expect(parseSnapshotRef('latest', 'snapshot')).toEqual({ kind: 'latest' })
    expect(parseSnapshotRef(' 20260101T000000Z-nightly ', 'snapshot')).toEqual({ kind: 'id', id: '20260101T000000Z-nightly' })
    expect(parseSnapshotRef('before:20260101T000000Z-abc1234', 'snapshot')).toEqual({ kind: 'before', release: '20260101T000000Z-abc1234' })
    expect(() => parseSnapshotRef('../20260101T000000Z', 'snapshot')).toThrow("Input 'snapshot': '../20260101T000000Z' is not a snapshot id")
    expect(() => parseSnapshotRef('before:../x', 'snapshot')).toThrow("'../x' is not a release id")
    expect(() => parseSnapshotRef('', 'snapshot')).toThrow("Input 'snapshot': is required")
  })
  it('pairs items with targets by kind, engine and name; mysql and mariadb are one family', () => {
    const m = manifest([item({}), item({ engine: 'mysql', name: 'shop', file: '02-mysql-shop.sql' }), item({ kind: 'volume', engine: 'directory', name: '/srv/m', file: '03-volume-m.tar' })])
    const pairs = matchItems(m, planned('- engine: postgres\n  name: app\n- engine: mariadb\n  name: shop', '- /srv/m'))
    expect(pairs.map(p => [p.item.file, p.target.kind === 'database' ? p.target.db.engine : p.target.volume.kind])).toEqual([
      ['01-postgres-app.pgdump', 'postgres'],
      ['02-mysql-shop.sql', 'mariadb'],
      ['03-volume-m.tar', 'directory'],
    ])
  })
  it('names an item without a target, a target without an item, and an unknown only', () => {
    const m = manifest([item({}), item({ kind: 'volume', engine: 'directory', name: '/srv/m', file: '02-volume-m.tar' })])
    expect(() => matchItems(m, planned('- engine: postgres\n  name: app'))).toThrow('snapshot 20260101T000000Z holds directory /srv/m (02-volume-m.tar), but no volumes entry names it')
    expect(() => matchItems(manifest([item({})]), planned('- engine: postgres\n  name: app\n- engine: sqlite\n  name: /srv/db.sqlite3'))).toThrow(
      'snapshot 20260101T000000Z has nothing for sqlite database /srv/db.sqlite3, which is configured to be restored',
    )
    expect(() => matchItems(m, planned('- engine: postgres\n  name: app'), ['/srv/x'])).toThrow("only: snapshot 20260101T000000Z has no item '/srv/x' (it has: app, /srv/m)")
    expect(matchItems(m, planned('- engine: postgres\n  name: app'), ['app']).map(p => p.item.file)).toEqual(['01-postgres-app.pgdump'])
  })
  it('tells two targets of the same name apart by their container', () => {
    const m = manifest([item({ container: 'db' }), item({ file: '02-postgres-app.pgdump' })])
    const pairs = matchItems(m, planned('- engine: postgres\n  name: app\n- engine: postgres\n  name: app\n  container: db'))
    expect(pairs.map(p => (p.target.kind === 'database' ? p.target.db.container ?? 'host' : ''))).toEqual(['db', 'host'])
  })
})

describe('drill verdicts', () => {
  const recorded = [
    { table: 'a', rows: 2, checksum: '1-2' },
    { table: 'b', rows: 1, checksum: '3-4' },
    { table: 'c', changed: true as const },
  ]
  it('good when every recorded table comes back with the same rows', () => {
    expect(compareTables(recorded, [{ table: 'a', rows: 2, checksum: '1-2' }, { table: 'b', rows: 1, checksum: '3-4' }, { table: 'c', rows: 5, checksum: 'x' }]).problems).toEqual([])
  })
  it('bad for other rows, other counts, missing and unexpected tables', () => {
    expect(compareTables(recorded, [{ table: 'a', rows: 2, checksum: '9-9' }, { table: 'd', rows: 0, checksum: '0-0' }, { table: 'c', rows: 1, checksum: 'x' }]).problems).toEqual([
      'table a holds other rows than the snapshot recorded (2 rows, checksum differs)',
      'table b is missing after the restore',
      'table d is not in the snapshot\'s record',
    ])
    expect(compareTables([{ table: 'a', rows: 2, checksum: '1-2' }], [{ table: 'a', rows: 3, checksum: '1-2' }]).problems).toEqual(['table a has 3 rows, the snapshot recorded 2'])
  })
  it('has nothing to compare for snapshots taken before sums were recorded', () => {
    expect(compareTables(undefined, [{ table: 'a', rows: 2, checksum: '1-2' }])).toEqual({ checks: [{ table: 'a', rows: 2, status: 'not recorded' }], problems: [] })
  })
})
