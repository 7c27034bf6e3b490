import { runCli } from '../cli/main'

void runCli(process.argv.slice(2))
