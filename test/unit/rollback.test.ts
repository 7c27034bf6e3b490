import { describe, expect, it } from 'vitest'
import { chooseTarget } from '../../src/actions/rollback'
import { parseRollbackProbe, rollbackScript } from '../../src/commands/rollback'

const probe = parseRollbackProbe(
  [
    'current=20260103T000000Z-ccccccc',
    'release=20260101T000000Z-aaaaaaa aaaaaaa1 yes',
    'release=20260102T000000Z-bbbbbbb bbbbbbb1 no',
    'release=20260103T000000Z-ccccccc ccccccc1 yes',
    'release=20260104T000000Z-ddddddd ddddddd1 yes',
    'log={"id":"20260102T000000Z-bbbbbbb","result":"failed"}',
    'log={"id":"20260103T000000Z-ccccccc","result":"ok","snapshot":"20260103T000000Z-pre-release"}',
    'log={broken',
  ].join('\n'),
)
const s = { strategy: 'releases' as const, path: '/srv/app', to: undefined as string | undefined }

describe('chooseTarget', () => {
  it('goes to the newest complete release older than the live one, skipping failed ones', () => {
    expect(chooseTarget(s, probe, 'h')).toEqual({
      from: '20260103T000000Z-ccccccc',
      to: '20260101T000000Z-aaaaaaa',
      undone: ['20260102T000000Z-bbbbbbb', '20260103T000000Z-ccccccc'],
      dir: '/srv/app/releases/20260101T000000Z-aaaaaaa',
    })
    expect(probe.log).toHaveLength(2)
  })
  it('takes a named release by id or sha prefix, and explains one it cannot use', () => {
    expect(chooseTarget({ ...s, to: 'ddddddd1' }, probe, 'h').to).toBe('20260104T000000Z-ddddddd')
    expect(() => chooseTarget({ ...s, to: '20260102T000000Z-bbbbbbb' }, probe, 'h')).toThrow(/never completed/)
    expect(() => chooseTarget({ ...s, to: '20260103T000000Z-ccccccc' }, probe, 'h')).toThrow(/already live/)
    expect(() => chooseTarget(s, parseRollbackProbe('current=20260101T000000Z-aaaaaaa\nrelease=20260101T000000Z-aaaaaaa a yes'), 'h')).toThrow(/no complete release older/)
  })
  it('in place, goes back to the commit the release log recorded before the live one', () => {
    const p = parseRollbackProbe(['head=bbbb', 'log={"id":"r2","sha":"bbbb","previous":"aaaa","result":"ok"}'].join('\n'))
    expect(chooseTarget({ ...s, strategy: 'in-place' }, p, 'h')).toMatchObject({ from: 'bbbb', to: 'aaaa', undone: ['r2'] })
  })
})

describe('rollbackScript', () => {
  it('tests the proxy before switching, and logs the result last', () => {
    const text = rollbackScript({
      root: '/srv/app',
      strategy: 'releases',
      from: 'b',
      to: 'a',
      goLive: { restart: ['touch restarted'], proxy: { kind: 'nginx', sudo: true } },
      record: { id: 'a' },
    })
    expect(text.indexOf('sudo -n nginx -t -q')).toBeLessThan(text.indexOf('mv -T -- /srv/app/.current.tmp /srv/app/current'))
    expect(text).toContain("ln -sfn -- releases/a /srv/app/.current.tmp")
    expect(text.trim().split('\n').pop()).toContain(`'{"id":"a","result":"ok"}' >> /srv/app/.slipway/releases.jsonl`)
  })
})
