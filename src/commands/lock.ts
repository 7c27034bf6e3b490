// The app lock, as bash. One lock per app directory serialises releases, snapshots,
// restores and rollbacks.
//
// `mkdir` is the atomic test-and-set. The process that made the directory (the
// guardian) stays alive for exactly as long as the runner's SSH connection: it reads
// its stdin, touches a heartbeat every few seconds, and when stdin ends without a
// "release" line (the runner died or the network dropped) it ends the work still
// running under the lock, runs the recovery the caller supplied (e.g. put the previous
// release back), and only then removes the lock. A holder whose process is gone (the
// server rebooted) is detected by pid and boot id and taken over with a report; a
// holder that is alive but silent is "stale" and only broken on request.

import { heredoc, lines, quote, type Shell } from './shell'

/** Lines the guardian prints on stdout, for the runner to follow. */
export const LOCK_EVENT = 'slipway-lock'

export interface GuardianOptions {
  /** `<root>/.slipway/lock` */
  lockDir: string
  /** Who is asking: JSON with kind, run URL, actor, runner host, time. */
  holder: string
  /** Unique per acquisition, so we never remove somebody else's lock. */
  token: string
  timeoutSeconds: number
  /** A live holder whose heartbeat is older than this is reported as stale. */
  staleSeconds: number
  breakLock: boolean
  /** Runs when the connection is lost while the lock is held (after our work is ended). */
  recovery?: Shell
  heartbeatSeconds?: number
  /**
   * A read-only look at the server run right after the lock is taken, in the same
   * round trip (the release's probe). Its stdout is framed by `probe-begin`/`probe-end`
   * events; a failure is reported as `probe-failed <status>` and keeps the lock.
   */
  afterAcquire?: Shell
}

export function guardianScript(o: GuardianOptions): Shell {
  const beat = o.heartbeatSeconds ?? 5
  return lines(
    // Everything the lock holds (holder, token, recovery.sh) is for the deploy user only.
    'umask 077',
    `lock=${quote(o.lockDir)}`,
    'meta=$(dirname -- "$lock")',
    // 0700 and owned by the deploy user: another local user can neither read the
    // holder nor create the lock directory to block or hijack releases.
    'mkdir -p -- "$meta" && chmod 0700 -- "$meta"',
    `holder=${quote(o.holder)}`,
    `token=${quote(o.token)}`,
    'boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)',
    `event() { printf '${LOCK_EVENT}:%s\\n' "$*"; }`,
    // Alive = same boot and the recorded guardian process still exists. A lock made a
    // moment ago may not have its pid file yet; give it 10 seconds.
    'holder_alive() {',
    '  local pid b age',
    '  pid=$(cat "$lock/pid" 2>/dev/null) || pid=',
    '  b=$(cat "$lock/boot" 2>/dev/null) || b=',
    '  if [ -z "$pid" ]; then age=$(( $(date +%s) - $(stat -c %Y "$lock" 2>/dev/null || date +%s) )); [ "$age" -lt 10 ]; return; fi',
    '  [ "$b" = "$boot" ] && kill -0 "$pid" 2>/dev/null',
    '}',
    'heartbeat_age() { echo $(( $(date +%s) - $(stat -c %Y "$lock/heartbeat" 2>/dev/null || stat -c %Y "$lock" 2>/dev/null || date +%s) )); }',
    'take_over() { local to="$lock.broken.$(date +%s).$$"; mv -T -- "$lock" "$to" 2>/dev/null && rm -rf -- "$to"; }',
    'waited_for=',
    'start=$SECONDS',
    `deadline=$((SECONDS + ${o.timeoutSeconds}))`,
    'while ! mkdir -- "$lock" 2>/dev/null; do',
    '  other=$(cat "$lock/holder" 2>/dev/null) || other=unknown',
    '  if ! holder_alive; then',
    '    event "dead $other"',
    // Its runner and its guardian died together (a reboot, kill -9): do what that
    // guardian would have done, e.g. put back the release it left half-made.
    '    if [ -f "$lock/recovery.sh" ]; then',
    '      event "recovering $other"',
    '      { echo "$(date -u +%FT%TZ) recovering after $other"; bash "$lock/recovery.sh"; } </dev/null >>"$meta/recovery.log" 2>&1 || event "recovery-failed $other"',
    '    fi',
    '    take_over',
    '    continue',
    '  fi',
    `  if [ "$(heartbeat_age)" -gt ${o.staleSeconds} ]; then`,
    o.breakLock ? '    event "broken $other"; take_over; continue' : '    event "stale $(heartbeat_age) $other"',
    '  fi',
    '  if [ "$waited_for" != "$other" ]; then event "waiting $other"; waited_for=$other; fi',
    '  if [ "$SECONDS" -ge "$deadline" ]; then event "timeout $other"; exit 75; fi',
    '  sleep 1',
    'done',
    // Ours now. The guardian is this bash: its pid is what "alive" checks.
    'printf "%s\\n" "$holder" > "$lock/holder"',
    'printf "%s\\n" "$token" > "$lock/token"',
    'printf "%s\\n" "$$" > "$lock/pid"',
    'printf "%s\\n" "$boot" > "$lock/boot"',
    'mkdir -p -- "$lock/work"',
    'touch -- "$lock/heartbeat"',
    'if [ -n "$waited_for" ]; then printf \'{"time":"%s","holder":%s,"waited_for":%s,"waited_seconds":%s}\\n\' "$(date -u +%FT%TZ)" "$holder" "$waited_for" "$((SECONDS - start))" >> "$meta/lock.log"; fi',
    'event acquired',
    o.afterAcquire
      ? lines('event probe-begin', `probe_rc=0; ( ${o.afterAcquire}
) </dev/null || probe_rc=$?`, 'if [ "$probe_rc" -eq 0 ]; then event probe-end; else event "probe-failed $probe_rc"; fi')
      : '',
    'ours() { [ "$(cat "$lock/token" 2>/dev/null)" = "$token" ]; }',
    'while :; do',
    `  rc=0; IFS= read -r -t ${beat} line || rc=$?`,
    '  if [ "$rc" -eq 0 ]; then',
    '    if [ "$line" = release ]; then if ours; then rm -rf -- "$lock"; fi; event released; exit 0; fi',
    '    continue',
    '  fi',
    // read exits above 128 on timeout: beat and wait again. Anything else is EOF.
    '  if [ "$rc" -gt 128 ]; then if ours; then touch -- "$lock/heartbeat"; fi; continue; fi',
    '  break',
    'done',
    // The runner is gone while holding the lock. Nobody reads our stdout any more: a
    // write to it would kill us with SIGPIPE halfway through the recovery, so from here
    // on everything goes to a log beside the lock.
    'trap "" PIPE',
    'exec >>"$meta/recovery.log" 2>&1',
    'echo "$(date -u +%FT%TZ) connection to the runner lost while holding the lock; recovering"',
    'ours || exit 0',
    // Each registered file is named after a process group; a group is gone when
    // kill -0 finds no member (a step that exec'd another program leaves its file).
    'groups_alive() { local f; for f in "$lock"/work/*; do [ -e "$f" ] && kill -0 -- "-${f##*/}" 2>/dev/null && return 0; done; return 1; }',
    'for f in "$lock"/work/*; do if [ -e "$f" ]; then kill -TERM -- "-${f##*/}" 2>/dev/null || true; fi; done',
    'for _ in $(seq 50); do groups_alive || break; sleep 0.2; done',
    'for f in "$lock"/work/*; do if [ -e "$f" ]; then kill -KILL -- "-${f##*/}" 2>/dev/null || true; fi; done',
    o.recovery ? `( ${o.recovery}\n) || echo "slipway: recovery after a lost connection failed" >&2` : '',
    // The run may have written a recovery that depends on what it found (the previous
    // release to go back to); it runs after the fixed one.
    'if [ -f "$lock/recovery.sh" ]; then bash "$lock/recovery.sh" || echo "slipway: recovery after a lost connection failed" >&2; fi',
    'if ours; then rm -rf -- "$lock"; fi',
    'exit 0',
  )
}

/**
 * Lines that register a script as work under the lock (its process group), so a
 * guardian whose runner vanished can end it. Removed again when the script exits.
 */
export function registerWork(lockDir: string): Shell {
  return lines(
    `__slipway_work=${quote(lockDir)}/work/$__slipway_pgid`,
    ': > "$__slipway_work" 2>/dev/null || true',
    `__slipway_at_exit 'rm -f -- "$__slipway_work"'`,
  )
}

/** Store the recovery the guardian runs if the connection is lost from now on. */
export function setRecovery(lockDir: string, recovery: Shell): Shell {
  return heredoc(`cat > ${quote(`${lockDir}/recovery.sh`)}`, lines('set -u', recovery))
}
