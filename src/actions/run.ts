// actions/run: a bash script, or a manage.py command, on every host.

import { appEnvironment, manage } from '../commands/django'
import type { RemoteScript } from '../commands/script'
import { lines } from '../commands/shell'
import { Fleet, failedHosts, hostTable } from '../fleet/fleet'
import { getConnectionSettings, type ConnectionSettings, type SecretSink } from '../inputs/connection'
import { Input, Output } from '../inputs/names'
import { parseBoolean, parseRemotePath, splitWords } from '../inputs/parse'
import type { InputSource } from '../inputs/source'
import { InputError, SlipwayError, describeError } from '../report/errors'
import { stepError } from '../ssh/session'
import type { Reporter } from '../report/reporter'

/** Stdout kept per host when capture is on; GitHub limits outputs to about 1 MB in all. */
const CAPTURE_BYTES = 64 * 1024

export interface RunInputs {
  connection: ConnectionSettings
  /** Directory to run in: the app root (its live release for `manage`). */
  path?: string
  /** Bash run as given, under `set -e -o pipefail`. */
  script?: string
  /** Arguments for `python manage.py`, already split into words. */
  manage?: string[]
  /** Where manage.py lives below the release (e.g. `src`). */
  projectDir: string
  /** Interpreter when the release has no .venv. */
  python: string
  /** Set the stdout output. */
  capture: boolean
}

export function getInputs(source: InputSource, secret: SecretSink): RunInputs {
  const connection = getConnectionSettings(source, secret)
  const script = source.get(Input.Run)
  const manageText = source.get(Input.Manage)
  if (script === undefined && manageText === undefined) {
    throw new InputError(source.describe(Input.Run), 'is required (or manage)', 'Give a bash script in run, or manage.py arguments in manage.')
  }
  if (script !== undefined && manageText !== undefined) {
    throw new InputError(source.describe(Input.Manage), 'cannot be combined with run', 'Use two steps, or call python manage.py from the run script.')
  }
  if (script?.includes('\0')) throw new InputError(source.describe(Input.Run), 'contains a NUL byte')
  const path = parseRemotePath(source.get(Input.Path), source.describe(Input.Path))
  const manageArgs = manageText === undefined ? undefined : splitWords(manageText, source.describe(Input.Manage))
  if (manageArgs && !path) throw new InputError(source.describe(Input.Path), 'is required with manage', 'Set path to the app directory on the server.')
  return {
    connection,
    path,
    script,
    manage: manageArgs,
    projectDir: source.get(Input.ProjectDir)?.trim().replace(/^\/+|\/+$/g, '') ?? '',
    python: source.get(Input.Python)?.trim() ?? 'python3',
    capture: parseBoolean(source.get(Input.Capture), source.describe(Input.Capture), false),
  }
}

/** The remote script for one host: pure, so its text has a unit test. */
export function buildRunScript(inputs: Pick<RunInputs, 'path' | 'script' | 'manage' | 'projectDir' | 'python'>): RemoteScript {
  if (inputs.manage) {
    return {
      step: `manage.py ${inputs.manage.join(' ')}`.slice(0, 60),
      body: lines(appEnvironment(inputs.path!, inputs.projectDir, inputs.python), manage(inputs.manage)),
      strict: true,
    }
  }
  return { step: 'run', body: inputs.script!, cwd: inputs.path, strict: false }
}

export async function run(source: InputSource, reporter: Reporter): Promise<void> {
  const inputs = getInputs(source, v => reporter.secret(v))
  const fleet = new Fleet(inputs.connection, reporter)
  try {
    const script = buildRunScript(inputs)
    const outcomes = await fleet.run(async host => {
      const r = await host.step(script, { captureBytes: inputs.capture ? CAPTURE_BYTES : 0, allowFailure: true })
      if (r.code !== 0 || r.timedOut) {
        // Keep the exit code for the output; the error names the failing line.
        throw Object.assign(stepError(host.label, script.step, r, inputs.connection.commandTimeoutMs), { exitCode: r.code })
      }
      return r
    })

    const failures = failedHosts(outcomes)
    const firstCode = failures.map(f => (f.error as { exitCode?: number | null }).exitCode).find(c => typeof c === 'number')
    reporter.output(Output.ExitCode, String(failures.length === 0 ? 0 : (firstCode ?? 255)))
    if (inputs.capture) {
      const first = outcomes[0]?.value
      if (first) reporter.output(Output.Stdout, first.stdout.replace(/\n$/, ''))
    }
    reporter.output(
      Output.Hosts,
      JSON.stringify(
        outcomes.map(o => ({
          host: o.host.label,
          status: o.status,
          'exit-code': o.value?.code ?? (o.error as { exitCode?: number } | undefined)?.exitCode ?? null,
          'duration-ms': o.durationMs,
          ...(inputs.capture && o.value ? { stdout: o.value.stdout } : {}),
        })),
      ),
    )
    reporter.summary(`### slipway run: ${script.step}\n\n${hostTable(outcomes, o => `exit 0${o.value?.stdoutTruncated ? ', stdout truncated' : ''}`)}`)
    for (const f of failures) reporter.error(describeError(f.error))
    if (failures.length) {
      throw new SlipwayError(`${failures.length} of ${outcomes.length} host(s) failed: ${failures.map(f => f.host.label).join(', ')}`)
    }
  } finally {
    await fleet.close()
  }
}
