import { execute } from '../actions/execute'
import { run } from '../actions/run'
import { actionInputs } from '../inputs/source'
import { ActionReporter } from '../report/reporter'

const reporter = new ActionReporter()
void execute(reporter, () => run(actionInputs(), reporter)).then(() => process.exit())
