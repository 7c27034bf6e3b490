// Bring the real test server up once before the integration tests (idempotent).
import { execFileSync } from 'child_process'
import { existsSync } from 'fs'

export default function setup(): void {
  if (process.env.SLIPWAY_SKIP_SERVER_UP === '1') return
  execFileSync('bash', ['test/server/up.sh', '--hosts', process.env.SLIPWAY_TEST_HOSTS ?? '2'], { stdio: ['ignore', 'ignore', 'inherit'] })
  for (const action of ['run', 'release', 'rollback', 'snapshot', 'restore', 'cli']) {
    if (!existsSync(`dist/${action}/index.js`)) throw new Error(`dist/${action}/index.js is missing: run npm run build first`)
  }
}
