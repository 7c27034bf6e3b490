// Where things live under the app's `path` on the server. Capistrano and Deployer
// users will recognise it:
//
//   <path>/current -> releases/<id>     the live release, switched atomically
//   <path>/releases/<id>/               one directory per release
//   <path>/shared/                      files and directories linked into every release
//   <path>/venvs/<requirements hash>/   virtualenvs, reused while requirements are unchanged
//   <path>/repo/                        bare git object cache that pushes land in
//   <path>/snapshots/<id>/              database and volume snapshots with manifest.json
//   <path>/.slipway/                    lock, release log, state

import { joinPath } from './shell'

export interface Layout {
  root: string
  current: string
  releases: string
  shared: string
  venvs: string
  repo: string
  snapshots: string
  meta: string
  lock: string
  log: string
}

export function layout(root: string): Layout {
  const at = (...p: string[]) => joinPath(root, ...p)
  return {
    root,
    current: at('current'),
    releases: at('releases'),
    shared: at('shared'),
    venvs: at('venvs'),
    repo: at('repo'),
    snapshots: at('snapshots'),
    meta: at('.slipway'),
    lock: at('.slipway', 'lock'),
    log: at('.slipway', 'releases.jsonl'),
  }
}
