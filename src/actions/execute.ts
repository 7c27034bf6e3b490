// The frame every action runs in: report the failure clearly, write the summary, close
// every connection and exit explicitly (open sockets would keep Node alive).

import { describeError } from '../report/errors'
import type { Reporter } from '../report/reporter'

export async function execute(reporter: Reporter, main: () => Promise<void>): Promise<void> {
  let failed = false
  try {
    await main()
  } catch (err) {
    failed = true
    reporter.fail(describeError(err))
    if (err instanceof Error && !(err as { describe?: unknown }).describe && err.stack) reporter.debug(err.stack)
  }
  try {
    await reporter.flush()
  } catch (err) {
    reporter.warning(`could not write the job summary: ${describeError(err)}`)
  }
  if (failed) process.exitCode = 1
}
