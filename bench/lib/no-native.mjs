// Preloaded (node --import) by the download diagnostics: makes ssh2's optional native
// addons (sshcrypto.node, cpufeatures.node) fail to load, as they do in the ncc bundles
// under dist/, where ssh2 falls back to its JavaScript paths.
import Module from 'module'

const load = Module._load
Module._load = function (request, ...rest) {
  if (/(sshcrypto|cpufeatures)\.node$/.test(request) || request === 'cpu-features') throw new Error(`native addon ${request} disabled (as in dist/)`)
  return load.call(this, request, ...rest)
}
