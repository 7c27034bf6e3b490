import { describe, expect, it } from 'vitest'
import { forEachHost } from '../../src/fleet/parallel'
import { LineSplitter } from '../../src/ssh/lines'
import { Redactor, markdownTable } from '../../src/report/reporter'

const hosts = Array.from({ length: 6 }, (_, i) => ({ host: `h${i}`, port: 22, user: 'deploy', label: `deploy@h${i}` }))
const tick = (ms: number) => new Promise(r => setTimeout(r, ms))

describe('forEachHost', () => {
  it('never runs more than `parallel` hosts at once', async () => {
    let running = 0
    let peak = 0
    const out = await forEachHost(hosts, { parallel: 2, failFast: true }, async h => {
      peak = Math.max(peak, ++running)
      await tick(5)
      running--
      return h.host
    })
    expect(peak).toBe(2)
    expect(out.map(o => o.status)).toEqual(Array(6).fill('ok'))
  })
  it('with fail-fast starts no new host after a failure but lets those in flight finish', async () => {
    const out = await forEachHost(hosts, { parallel: 2, failFast: true }, async h => {
      await tick(h.host === 'h1' ? 1 : 10)
      if (h.host === 'h1') throw new Error('boom')
    })
    expect(out.map(o => o.status)).toEqual(['ok', 'failed', 'skipped', 'skipped', 'skipped', 'skipped'])
  })
  it('without fail-fast runs every host', async () => {
    const out = await forEachHost(hosts, { parallel: 3, failFast: false }, async h => {
      if (h.host === 'h0') throw new Error('boom')
    })
    expect(out.filter(o => o.status === 'ok')).toHaveLength(5)
  })
})

describe('LineSplitter', () => {
  it('joins chunks into lines without splitting UTF-8 characters', () => {
    const lines: string[] = []
    const s = new LineSplitter(l => lines.push(l))
    const bytes = Buffer.from('héllo\r\nwörld\nlast')
    for (const b of bytes) s.push(Buffer.from([b]))
    s.end()
    expect(lines).toEqual(['héllo', 'wörld', 'last'])
  })
})

describe('Redactor', () => {
  it('masks registered values, multi-line values line by line, and leaves tiny values alone', () => {
    const r = new Redactor()
    r.add('hunter22')
    r.add('-----BEGIN KEY-----\nabcdefgh\n-----END KEY-----')
    r.add('ab')
    expect(r.redact('pw=hunter22 line=abcdefgh ab')).toBe('pw=*** line=*** ab')
    expect(r.redactDeep({ a: ['hunter22'] })).toEqual({ a: ['***'] })
  })
  it('escapes table cells', () => {
    expect(markdownTable(['a'], [['x|y\nz']])).toBe('| a |\n| --- |\n| x\\|y<br>z |')
  })
})
