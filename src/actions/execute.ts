// The frame every action runs in: report the failure clearly, write the summary, close
// every connection and exit explicitly (open sockets would keep Node alive).

import { describeError } from '../report/errors'
import type { Reporter } from '../report/reporter'

export async function execute(reporter: Reporter, main: () => Promise<void>): Promise<void> {
  let failed = false
  // If the event loop runs dry while main() still waits (a library that never calls
  // back after a connection died), Node would exit 0 and a failed backup would look
  // like a success. Until main() settles, exiting means failing, loudly.
  process.exitCode = 1
  let settled = false
  const onBeforeExit = () => {
    if (settled) return
    settled = true
    reporter.fail('slipway stopped before finishing: an operation was left waiting for an answer that can no longer come (most likely the connection was lost). Nothing it did is reported as done.')
    void reporter.flush()
  }
  process.once('beforeExit', onBeforeExit)
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
  settled = true
  process.removeListener('beforeExit', onBeforeExit)
  process.exitCode = failed ? 1 : 0
}
