// A restore as the builders see it: each item of the snapshot paired with the target it
// goes back to (from the action's inputs: credentials are never in a manifest), and the
// path of its file on the server, built only from a validated snapshot id and a
// validated file name.

import type { ContainerCli } from '../../inputs/snapshot'
import type { ManifestItem } from '../../snapshot/manifest'
import type { DbTarget } from '../snapshot/types'

export type RestoreTarget = { kind: 'database'; db: DbTarget } | { kind: 'volume'; volume: { kind: 'directory'; path: string } | { kind: 'container-volume'; name: string } }

export interface RestoreItem {
  /** The manifest entry: file, format, compression, sums. */
  item: ManifestItem
  target: RestoreTarget
  /** `<root>/snapshots/<id>/<file>`. */
  path: string
  /** The listing beside an archive, when the snapshot recorded one. */
  listingPath?: string
}

export interface RestorePlan {
  /** `<root>/snapshots/<id>`. */
  dir: string
  id: string
  /** Random, for the names of scratch databases and directories of this run. */
  token: string
  items: RestoreItem[]
  containerCli?: ContainerCli
  stopContainers: string[]
  djangoPasswords?: { root: string; projectDir: string; python: string; vars: Record<string, string> }
}
