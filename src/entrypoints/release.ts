import { execute } from '../actions/execute'
import { release } from '../actions/release'
import { actionSource } from '../inputs/config'
import { ActionReporter } from '../report/reporter'

const reporter = new ActionReporter()
void execute(reporter, () => release(actionSource(process.env, m => reporter.info(m)), reporter)).then(() => process.exit())
