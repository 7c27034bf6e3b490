// Testing and reloading the reverse proxy. The configuration is always tested first;
// a reload happens only when the test passes, so a broken config never takes the
// site down.

import type { ProxySettings } from '../inputs/release'
import { cmd, lines, type Shell } from './shell'

export interface ProxyCommands {
  test?: Shell
  reload?: Shell
}

export function proxyCommands(p: ProxySettings): ProxyCommands {
  const sudo = (...words: string[]) => (p.sudo ? cmd('sudo', '-n', ...words) : cmd(...words))
  const defaults: ProxyCommands =
    p.kind === 'nginx'
      ? { test: sudo('nginx', '-t', '-q', ...(p.config ? ['-c', p.config] : [])), reload: sudo('nginx', ...(p.config ? ['-c', p.config] : []), '-s', 'reload') }
      : p.kind === 'caddy'
        ? {
            test: sudo('caddy', 'validate', '--config', p.config ?? '/etc/caddy/Caddyfile'),
            reload: sudo('caddy', 'reload', '--config', p.config ?? '/etc/caddy/Caddyfile'),
          }
        : p.kind === 'apache'
          ? // Debian's apachectl takes configtest/graceful only as its sole argument; with
            // a config file it passes the options through to httpd: -t and -k graceful.
            p.config
            ? { test: sudo('apachectl', '-f', p.config, '-t'), reload: sudo('apachectl', '-f', p.config, '-k', 'graceful') }
            : { test: sudo('apachectl', 'configtest'), reload: sudo('apachectl', 'graceful') }
          : {}
  return { test: p.test ?? defaults.test, reload: p.reload ?? defaults.reload }
}

/** Test, then reload; the test's own output explains a failure. */
export function testAndReload(p: ProxySettings, onTestFailure: 'fail' | 'warn' = 'fail'): Shell {
  const c = proxyCommands(p)
  if (!c.test && !c.reload) return ''
  const failed =
    onTestFailure === 'fail'
      ? `echo "the ${p.kind} configuration test failed; not reloading" >&2; exit 1`
      : `echo "warning: the ${p.kind} configuration test fails, so it was not reloaded; it keeps serving its loaded configuration" >&2`
  return lines(c.test ? (c.reload ? `if ! ${c.test}; then ${failed}; else ${c.reload}; fi` : `if ! ${c.test}; then ${failed}; fi`) : (c.reload ?? ''))
}

/** Only the configuration test (before the switch: a broken config then changes nothing). */
export function proxyTest(p: ProxySettings): Shell {
  const c = proxyCommands(p)
  return c.test ? `if ! ${c.test}; then echo "the ${p.kind} configuration test failed; nothing was changed" >&2; exit 1; fi` : ''
}
