// Django's manage.py, run with the interpreter of the release it belongs to.

import { cmd, lines, quote, type Shell } from './shell'

/**
 * Shell that sets APP (the directory holding manage.py) and PY (its interpreter):
 * the live release when `<root>/current` exists, else `<root>` itself (a plain
 * checkout), then `project-dir` below it. The release's own .venv wins over `python`.
 */
export function appEnvironment(root: string, projectDir: string, python: string): Shell {
  return lines(
    `base=${quote(root)}`,
    'if [ -e "$base/current" ]; then base="$base/current"; fi',
    `APP="$base"${projectDir ? `/${quote(projectDir)}` : ''}`,
    releasePython('"$base"', python),
    'cd -- "$APP"',
    `[ -f manage.py ] || { echo "no manage.py in $APP" >&2; exit 2; }`,
  )
}

/**
 * Set PY to the interpreter of the release in `dir` (a shell word, already quoted or a
 * variable): its own .venv when it has one, else `python`.
 */
export function releasePython(dir: Shell, python: string): Shell {
  return `PY=${quote(python)}; if [ -x ${dir}/.venv/bin/python ]; then PY=${dir}/.venv/bin/python; fi`
}

/** `python manage.py <args>` in the app directory set up by appEnvironment. */
export function manage(args: string[]): Shell {
  return `"$PY" manage.py ${cmd(...args)}`
}
