// A release-ready fixture app (test/integration/support/app.ts) reached through a
// TcpProxy, plus what the fault cases read back from its directory on the server.

import { existsSync, readdirSync, readFileSync, readlinkSync } from 'fs'
import { server } from '../../integration/support/server'
import type { TcpProxy } from './proxy'

/** Connection inputs through the proxy: the genuine host key, pinned for the proxy's port. */
export function viaProxy(proxy: TcpProxy): Record<string, string> {
  const hostKey = readFileSync(`${server.state}/keys/host_ed25519.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
  return { host: `127.0.0.1:${proxy.port}`, 'known-hosts': `[127.0.0.1]:${proxy.port} ${hostKey}` }
}

export function live(root: string): string {
  try {
    return readlinkSync(`${root}/current`).replace(/^releases\//, '')
  } catch {
    return ''
  }
}

export function releaseDirs(root: string): string[] {
  return existsSync(`${root}/releases`) ? readdirSync(`${root}/releases`).sort() : []
}

export function complete(root: string, id: string): boolean {
  return existsSync(`${root}/.slipway/releases/${id}/complete`)
}

export function lastLogEntry(root: string): Record<string, unknown> | undefined {
  try {
    const lines = readFileSync(`${root}/.slipway/releases.jsonl`, 'utf8').trim().split('\n')
    return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** The release id the action announced ("releasing v2 (…) as <id> to …"). */
export function announcedId(log: string): string | undefined {
  return /releasing \S+ \([0-9a-f]{12}\) as (\d{8}T\d{6}Z-[0-9a-f]+) to /.exec(log)?.[1]
}
