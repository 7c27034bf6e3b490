// `databases: django`: the app's own settings.DATABASES, read on the server through
// manage.py of the live release. Only names, hosts and users come back to the runner;
// passwords are read again inside the snapshot script and stay on the server.

import { appEnvironment } from '../django'
import { lines, quote, type Shell } from '../shell'

/** Python for `manage.py shell -c`: one JSON list on fd 3, nothing secret in it. */
export const DISCOVER_DATABASES = [
  'import json, os',
  'from django.conf import settings',
  'out = []',
  'for alias, db in settings.DATABASES.items():',
  '    engine = str(db.get("ENGINE") or "")',
  '    name = db.get("NAME") or ""',
  '    if "sqlite3" in engine and name and str(name) != ":memory:":',
  '        name = os.path.abspath(str(name))',
  '    options = db.get("OPTIONS") or {}',
  '    out.append({"alias": str(alias), "engine": engine, "name": str(name), "host": str(db.get("HOST") or options.get("unix_socket") or ""),',
  '                "port": str(db.get("PORT") or ""), "user": str(db.get("USER") or ""), "hasPassword": bool(db.get("PASSWORD"))})',
  'with os.fdopen(3, "w") as f:',
  '    json.dump(out, f)',
].join('\n')

/**
 * The app's settings print what they like on stdout; the JSON goes to fd 3, which is
 * the step's stdout, and everything else to the log.
 */
export function discoverDatabasesScript(root: string, projectDir: string, python: string): Shell {
  return lines('umask 077', `( ${appEnvironment(root, projectDir, python)}`, `"$PY" manage.py shell -c ${quote(DISCOVER_DATABASES)} ) 3>&1 1>&2`)
}

/** Python that prints `export VAR='password'` for each alias, quoted by shlex. */
export function passwordExports(vars: Record<string, string>): string {
  return [
    'import os, shlex',
    'from django.conf import settings',
    `want = ${JSON.stringify(vars)}`,
    'with os.fdopen(3, "w") as f:',
    '    for alias, var in want.items():',
    '        f.write("export %s=%s\\n" % (var, shlex.quote(str(settings.DATABASES[alias].get("PASSWORD") or ""))))',
  ].join('\n')
}

/**
 * Inside the snapshot script: read the passwords of these aliases into variables. The
 * exports travel through a pipe into this shell, never through a command line or a file.
 */
export function djangoPasswords(root: string, projectDir: string, python: string, vars: Record<string, string>): Shell {
  return lines(
    `snap_django_env=$( ( ${appEnvironment(root, projectDir, python)}`,
    `"$PY" manage.py shell -c ${quote(passwordExports(vars))} ) 3>&1 1>&2 )`,
    'eval "$snap_django_env"',
    'unset snap_django_env',
  )
}
