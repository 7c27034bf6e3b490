// Every input and output name in one place, so a rename is one edit and a typo is a
// compile error. The action.yml files declare the same names; a unit test keeps the
// two in step.

export const Input = {
  // Connection (every action)
  Host: 'host',
  User: 'user',
  Port: 'port',
  PrivateKey: 'private-key',
  Passphrase: 'passphrase',
  Password: 'password',
  KnownHosts: 'known-hosts',
  Fingerprint: 'fingerprint',
  InsecureSkipHostKeyCheck: 'insecure-skip-host-key-check',
  JumpHost: 'jump-host',
  JumpPrivateKey: 'jump-private-key',
  JumpPassphrase: 'jump-passphrase',
  ConnectTimeout: 'connect-timeout',
  CommandTimeout: 'command-timeout',
  Parallel: 'parallel',
  FailFast: 'fail-fast',
  Env: 'env',
  Config: 'config',
  // Where the app lives
  Path: 'path',
  // run
  Run: 'run',
  Manage: 'manage',
  Capture: 'capture',
  ProjectDir: 'project-dir',
  Python: 'python',
} as const

// Snapshot inputs (actions/snapshot, and the release action before it migrates) are
// named in src/inputs/snapshot.ts; release inputs in src/inputs/release.ts.

export const Output = {
  ExitCode: 'exit-code',
  Stdout: 'stdout',
  Hosts: 'hosts',
} as const
