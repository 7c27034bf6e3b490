// actions/restore: put a snapshot back on every host, or with `verify: true` prove that
// it would restore (a drill) without touching anything live.

import { restart } from '../commands/release'
import { Fleet, failedHosts, hostTable } from '../fleet/fleet'
import type { Host } from '../fleet/host'
import { describeRef, getRestoreSettings, RestoreOutput, type RestoreSettings } from '../inputs/restore'
import type { InputSource } from '../inputs/source'
import { withLock } from '../lock/lock'
import { SlipwayError, describeError } from '../report/errors'
import { formatDuration, markdownTable, type Reporter } from '../report/reporter'
import { drill, findSnapshot, prepareRestore, restoreVerified, SAFETY_LABEL, verifyFiles, type DrillResult, type RestoredItem } from '../restore/restore'
import { formatBytes, type Manifest } from '../snapshot/manifest'
import { takeSnapshot } from '../snapshot/snapshot'

export { getRestoreSettings as getInputs }

interface HostResult {
  manifest: Manifest
  safety?: Manifest
  restored?: RestoredItem[]
  drill?: DrillResult
  restartMs?: number
}

async function restoreHost(host: Host, s: RestoreSettings, reporter: Reporter): Promise<HostResult> {
  const app = { root: s.path }
  const manifest = await findSnapshot(host, app, s.ref)
  host.log(`snapshot ${manifest.id} (${describeRef(s.ref)}), taken ${manifest.time}${manifest.release ? ` before release ${manifest.release.id}` : ''}: ${manifest.items.length} item(s), ${formatBytes(manifest.bytes)}`)
  if (s.verify) {
    const result = await drill(host, app, manifest, s.targets, { only: s.only }, reporter)
    return { manifest, drill: result }
  }
  const prepared = await prepareRestore(host, app, manifest, s.targets, s.only)
  // Before the safety snapshot: a damaged snapshot fails in seconds, not after a dump.
  await verifyFiles(host, manifest, prepared.plan)
  const safety = s.safetySnapshot ? await takeSnapshot(host, app, prepared.targets, { label: SAFETY_LABEL }, reporter) : undefined
  if (safety) host.log(`safety snapshot ${safety.id} holds the state before this restore`)
  let restored: RestoredItem[]
  try {
    restored = await restoreVerified(host, prepared, reporter)
  } catch (err) {
    if (safety && err instanceof SlipwayError) throw new SlipwayError(err.message, `${err.hint ? `${err.hint} ` : ''}The state before this restore is in safety snapshot ${safety.id}.`)
    throw err
  }
  let restartMs: number | undefined
  if (s.restart.length) {
    const started = Date.now()
    await host.step({ step: 'restart', body: restart(s.restart, `${s.path}/current`), strict: true })
    restartMs = Date.now() - started
  }
  return { manifest, safety, restored, restartMs }
}

export async function run(source: InputSource, reporter: Reporter): Promise<void> {
  const s = getRestoreSettings(source, v => reporter.secret(v))
  const fleet = new Fleet(s.connection, reporter)
  try {
    const outcomes = await fleet.run(host => withLock(host, { kind: 'restore', root: s.path, timeoutMs: s.lockTimeoutMs, breakLock: s.breakLock }, reporter, () => restoreHost(host, s, reporter)))
    const first = outcomes.find(o => o.value)?.value
    if (first) {
      reporter.output(RestoreOutput.Snapshot, first.manifest.id)
      reporter.output(RestoreOutput.SafetySnapshot, first.safety?.id ?? '')
      reporter.output(RestoreOutput.Restored, JSON.stringify((first.restored ?? []).map(r => r.name)))
      if (first.drill) reporter.output(RestoreOutput.Verified, JSON.stringify(first.drill))
    }
    reporter.output(
      RestoreOutput.Hosts,
      JSON.stringify(
        outcomes.map(o => ({
          host: o.host.label,
          status: o.status,
          snapshot: o.value?.manifest.id ?? null,
          safetySnapshot: o.value?.safety?.id ?? null,
          restored: o.value?.restored?.map(r => r.name) ?? [],
          ...(o.value?.drill ? { verified: o.value.drill.ok } : {}),
        })),
      ),
    )
    reporter.summary(summarize(s, outcomes.flatMap(o => (o.value ? [{ host: o.host.label, ...o.value }] : [])), hostTable(outcomes, o => detail(o.value!))))
    const failures = failedHosts(outcomes)
    for (const f of failures) reporter.error(describeError(f.error))
    if (failures.length) throw new SlipwayError(`${failures.length} of ${outcomes.length} host(s) failed: ${failures.map(f => f.host.label).join(', ')}`)
    const bad = outcomes.filter(o => o.value?.drill && !o.value.drill.ok)
    if (bad.length) {
      const problems = bad.flatMap(o => o.value!.drill!.items.filter(i => i.result === 'bad').map(i => `${o.host.label}: ${i.name} (${i.file}): ${i.problems.join('; ')}`))
      throw new SlipwayError(`restore drill of snapshot ${bad[0].value!.manifest.id} FAILED: it does not restore to what was recorded when it was taken\n${problems.map(p => `  ${p}`).join('\n')}`, 'Do not rely on this snapshot; take a new one and drill it.')
    }
  } finally {
    await fleet.close()
  }
}

function detail(r: HostResult): string {
  if (r.drill) return `drill of ${r.manifest.id}: ${r.drill.ok ? 'good' : 'BAD'}`
  return `${r.manifest.id} restored${r.safety ? `; safety snapshot ${r.safety.id}` : ''}`
}

function summarize(s: RestoreSettings, results: (HostResult & { host: string })[], hosts: string): string {
  const parts = [`### slipway ${s.verify ? 'restore drill' : 'restore'}`, hosts]
  for (const r of results) {
    const m = r.manifest
    parts.push(`#### ${r.host}: \`${m.id}\` (taken ${m.time}${m.release ? `, before release \`${m.release.id}\`` : ''})`)
    if (r.drill) {
      parts.push(
        markdownTable(
          ['Item', 'File', 'Size', 'Time', 'Result', 'Checked'],
          r.drill.items.map(i => {
            const item = m.items.find(x => x.file === i.file)!
            const checked = i.tables
              ? `${i.tables.filter(t => t.status === 'same').length}/${i.tables.length} tables equal${i.tables.some(t => t.status === 'changed during snapshot') ? ' (some written to during the snapshot)' : ''}`
              : i.files
                ? `${i.files.entries} entries, ${i.files.verdict}`
                : ''
            return [i.name, i.file, formatBytes(item.bytes), formatDuration(i.durationMs), i.result === 'good' ? '✅ good' : i.result === 'bad' ? `❌ bad: ${i.problems.join('; ')}` : '⚠️ restored, nothing recorded to compare', checked]
          }),
        ),
      )
      continue
    }
    if (r.safety) parts.push(`Safety snapshot \`${r.safety.id}\` (${formatBytes(r.safety.bytes)}) holds the state before the restore.`)
    parts.push(markdownTable(['Item', 'File', 'Size', 'Time'], (r.restored ?? []).map(i => [`${i.kind === 'database' ? i.engine : 'volume'} ${i.name}`, i.file, formatBytes(i.bytes), formatDuration(i.durationMs)])))
    if (r.restartMs !== undefined) parts.push(`Restarted in ${formatDuration(r.restartMs)}.`)
  }
  return parts.join('\n\n')
}
