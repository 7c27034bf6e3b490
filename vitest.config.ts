import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/setup.ts'],
          // One real server is shared; files run one after another, tests inside a
          // file may still run their hosts in parallel.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          // Brings up 20 namespace hosts on top of the integration server, and writes
          // test/faults/REPORT.md from every case's result when the run ends.
          globalSetup: ['test/faults/setup.ts'],
          // Faults are injected into one shared server: one file at a time.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The same real server as the integration tests; each file is one server
          // shape (containers, proxies, ports 8200-8299), one after another.
          globalSetup: ['test/integration/setup.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
