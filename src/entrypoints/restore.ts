import { execute } from '../actions/execute'
import { run } from '../actions/restore'
import { actionSource } from '../inputs/config'
import { ActionReporter } from '../report/reporter'

const reporter = new ActionReporter()
void execute(reporter, () => run(actionSource(process.env, m => reporter.info(m)), reporter)).then(() => process.exit())
