// A TCP proxy between the action and sshd, so a case can take the network away from
// one connection at a chosen moment: `cut` resets both sides (what a dropped route or a
// killed runner VM looks like to each end once packets flow again), `blackhole` keeps
// both sockets open and silently drops everything (a path that just goes dark: neither
// end hears a thing).

import net from 'net'

interface Pair {
  client: net.Socket
  upstream: net.Socket
  dark: boolean
}

export class TcpProxy {
  private constructor(
    private readonly server: net.Server,
    private readonly pairs: Pair[],
    readonly port: number,
  ) {}

  static start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      const pairs: Pair[] = []
      const server = net.createServer(client => {
        const upstream = net.connect(targetPort, targetHost)
        const pair: Pair = { client, upstream, dark: false }
        pairs.push(pair)
        const forward = (from: net.Socket, to: net.Socket) => {
          from.on('data', chunk => {
            if (!pair.dark && !to.destroyed) to.write(chunk)
          })
          from.on('end', () => {
            if (!pair.dark) to.end()
          })
          from.on('error', () => to.destroy())
          from.on('close', () => {
            if (!pair.dark) to.destroy()
          })
        }
        forward(client, upstream)
        forward(upstream, client)
      })
      server.on('error', reject)
      server.listen(0, '127.0.0.1', () => {
        resolve(new TcpProxy(server, pairs, (server.address() as net.AddressInfo).port))
      })
    })
  }

  /** Local ports of the proxy's connections to sshd: how sshd (and `ss`) sees each session. */
  upstreamPorts(): number[] {
    return this.pairs.filter(p => !p.upstream.destroyed && p.upstream.localPort).map(p => p.upstream.localPort!)
  }

  /** Connections made so far (the action opens one per host; more means it reconnected). */
  get connections(): number {
    return this.pairs.length
  }

  /** Reset every connection, both ways. */
  cut(): void {
    for (const p of this.pairs) {
      p.client.resetAndDestroy()
      p.upstream.resetAndDestroy()
    }
  }

  /** Stop forwarding in both directions and tell neither end. */
  blackhole(): void {
    for (const p of this.pairs) p.dark = true
  }

  /** Close everything, including darkened sockets. */
  close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy()
      p.upstream.destroy()
    }
    return new Promise(resolve => this.server.close(() => resolve()))
  }
}
