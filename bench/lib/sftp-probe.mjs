// Diagnostic for the download scenario: ssh2's sftp.fastGet (the call slipway makes in
// src/ssh/transfer.ts) with a given concurrency and chunk size, straight from
// node_modules, printing the milliseconds the transfer took. Not slipway's code path
// end to end: it isolates the SFTP request pattern from everything around it.
//   node [--import ./no-native.mjs] sftp-probe.mjs <host> <port> <keyfile> <remote file> <local file> <concurrency> <chunkBytes> [cipher]
import { readFileSync } from 'fs'
import { performance } from 'perf_hooks'
import ssh2 from 'ssh2'

const { Client } = ssh2
const [host, port, keyFile, remote, local, concurrency, chunkSize, cipher] = process.argv.slice(2)
const c = new Client()
c.on('error', e => {
  console.error(e.message)
  process.exit(1)
})
c.on('ready', () =>
  c.sftp((err, sftp) => {
    if (err) throw err
    const t = performance.now()
    sftp.fastGet(remote, local, { concurrency: Number(concurrency), chunkSize: Number(chunkSize) }, e => {
      if (e) throw e
      console.log(Math.round(performance.now() - t))
      c.end()
    })
  }),
).connect({ host, port: Number(port), username: 'deploy', privateKey: readFileSync(keyFile), ...(cipher ? { algorithms: { cipher: [cipher] } } : {}) })
