// Where input values come from. The GitHub runner hands them over as INPUT_<NAME>
// environment variables; the CLI as flags; slipway.yml holds the ones that rarely
// change. Actions read every value through this interface, so one getInputs()
// serves all three.

export interface InputSource {
  /** The value as given, or undefined when not given (an empty string counts as not given). */
  get(name: string): string | undefined
  /** How to name this input in an error message: `'host'`, or `'hosts' (slipway.yml line 3)`. */
  describe(name: string): string
}

/** Inputs the way @actions/core reads them: INPUT_ + name upper-cased, spaces as underscores. */
export function actionInputs(env: NodeJS.ProcessEnv = process.env): InputSource {
  return {
    get(name) {
      const value = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`]
      return value === undefined || value.trim() === '' ? undefined : value
    },
    describe: name => name,
  }
}

/** A fixed map of values (CLI flags, tests). */
export function mapInputs(values: Record<string, string | undefined>, label = (n: string) => n): InputSource {
  return {
    get(name) {
      const value = values[name]
      return value === undefined || value.trim() === '' ? undefined : value
    },
    describe: label,
  }
}

/** The first source that has a value wins: explicit inputs over the config file. */
export function layered(...sources: InputSource[]): InputSource {
  const owner = (name: string) => sources.find(s => s.get(name) !== undefined)
  return {
    get: name => owner(name)?.get(name),
    describe: name => (owner(name) ?? sources[0]).describe(name),
  }
}
