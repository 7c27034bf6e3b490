// What the tests know about the local test server (test/server/up.sh writes it).
import { execFileSync } from 'child_process'
import { readFileSync } from 'fs'

const STATE = process.env.SLIPWAY_TEST_STATE ?? '/var/lib/slipway-test'

function readEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of readFileSync(`${STATE}/env`, 'utf8').split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return env
}

export const server = (() => {
  const e = readEnv()
  const read = (p: string) => readFileSync(p, 'utf8')
  return {
    env: e,
    host: `${e.SLIPWAY_TEST_HOST}:${e.SLIPWAY_TEST_PORT}`,
    /** A namespace host behind the jump host (10.213.N.2:22). */
    netnsHost: (n: number) => `10.213.${n}.2`,
    user: e.SLIPWAY_TEST_USER,
    key: read(e.SLIPWAY_TEST_KEY),
    passKey: read(e.SLIPWAY_TEST_KEY_PASS),
    ecdsaKey: read(e.SLIPWAY_TEST_KEY_ECDSA),
    passphrase: read(e.SLIPWAY_TEST_PASSPHRASE_FILE).trim(),
    password: read(e.SLIPWAY_TEST_PASSWORD_FILE).trim(),
    strangerKey: read(e.SLIPWAY_TEST_STRANGER_KEY),
    hostFingerprint: e.SLIPWAY_TEST_HOST_FP,
    netnsFingerprint: e.SLIPWAY_TEST_NETNS_HOST_FP,
    dbPassword: read(e.SLIPWAY_TEST_DB_PASSWORD_FILE).trim(),
    state: STATE,
    /** known_hosts lines for the main sshd and every namespace host, as ssh-keyscan prints them. */
    knownHosts(): string {
      const hostKey = read(`${STATE}/keys/host_ed25519.pub`).split(' ').slice(0, 2).join(' ')
      const nsKey = read(`${STATE}/keys/netns_host_ed25519.pub`).split(' ').slice(0, 2).join(' ')
      const n = Number(e.SLIPWAY_TEST_NETNS_HOSTS ?? 1)
      const ns = Array.from({ length: n }, (_, i) => `10.213.${i + 1}.2 ${nsKey}`)
      return [`[127.0.0.1]:2222 ${hostKey}`, ...ns].join('\n')
    },
  }
})()

/** Connection inputs for the main test sshd with the plain key, pinned by known-hosts. */
export function connection(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    host: server.host,
    user: server.user,
    'private-key': server.key,
    'known-hosts': server.knownHosts(),
    ...overrides,
  }
}

/** Run a shell command on this machine as root (the server side of the test). */
export function sh(command: string): string {
  return execFileSync('bash', ['-c', command], { encoding: 'utf8' })
}

/** A fresh directory owned by deploy under /srv/slipway. */
export function freshAppDir(name: string): string {
  const dir = `/srv/slipway/${name}-${process.pid}-${Date.now().toString(36)}`
  sh(`install -d -o deploy -g deploy -m 0755 ${dir}`)
  return dir
}
