// The actions the CLI can run, by name. (The runner starts each action through its own
// entry point in src/entrypoints/.) Each is loaded on first use, so `--help` and usage
// errors answer without loading ssh2. Adding an action is one line here.

import type { ActionName } from '../inputs/schema'
import type { InputSource } from '../inputs/source'
import type { Reporter } from '../report/reporter'

export type ActionMain = (source: InputSource, reporter: Reporter) => Promise<void>

export const ACTIONS: Partial<Record<ActionName, () => Promise<ActionMain>>> = {
  run: () => import('./run').then(m => m.run),
  release: () => import('./release').then(m => (source, reporter) => m.release(source, reporter)),
  snapshot: () => import('./snapshot').then(m => m.run),
  restore: () => import('./restore').then(m => m.run),
  rollback: () => import('./rollback').then(m => m.run),
}
