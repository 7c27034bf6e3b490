// `slipway <action> [options]`: the same actions as the workflow steps, from a terminal.
// The log goes to stderr, outputs to stdout as name=value, so `slipway run ... | grep`
// and `eval "$(slipway ...)"`-style scripting see only the outputs.

import { homedir } from 'os'
import { ACTIONS } from '../actions/index'
import { execute } from '../actions/execute'
import { describeError } from '../report/errors'
import { ConsoleReporter } from '../report/reporter'
import { parseCommandLine, UsageError } from './args'
import { actionHelp, commandSpecs, usage } from './help'
import { cliSettings, type Terminal } from './source'

export async function main(argv: readonly string[], term: Terminal): Promise<number> {
  const specs = commandSpecs()
  let line
  try {
    line = parseCommandLine(argv, specs)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`slipway: ${err.describe()}\n`)
    return 2
  }
  if (line.kind === 'help') {
    const text = line.command ? actionHelp(line.command, specs[line.command]!) : usage()
    // Bare `slipway` is a mistake that deserves the usage, not a success.
    ;(line.bare ? process.stderr : process.stdout).write(text)
    return line.bare ? 2 : 0
  }

  const { command, warnings, verbose } = line
  const reporter = new ConsoleReporter(verbose)
  for (const w of warnings) reporter.warning(w)
  const action = await ACTIONS[command]!()
  await execute(reporter, async () => {
    const settings = cliSettings(line, specs[command]!, term)
    for (const w of settings.warnings) reporter.warning(w)
    for (const n of settings.notes) reporter.info(n)
    await action(settings.source, reporter)
  })
  return process.exitCode === undefined || Number(process.exitCode) === 0 ? 0 : 1
}

/** Run, wait until stdout and stderr are written, and exit: open sockets would keep Node alive. */
export async function runCli(argv: readonly string[]): Promise<never> {
  let code: number
  try {
    code = await main(argv, { env: process.env, cwd: process.cwd(), home: process.env.HOME || homedir() })
  } catch (err) {
    process.stderr.write(`slipway: ${describeError(err)}\n`)
    code = 1
  }
  await Promise.all([process.stdout, process.stderr].map(s => new Promise(done => s.write('', done))))
  process.exit(code)
}
