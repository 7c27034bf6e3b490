#!/usr/bin/env bash
# Restarts the stand-in job worker (worker.py) of an app, by pid file, as the deploy user:
# what `systemctl restart inloop-huey` does on a real server.
#
#   worker.sh restart <app_dir> <run_dir> <queue>   stop the running one (it finishes its job), start anew
#   worker.sh stop <run_dir>
#
# Returns once the new worker has set Django up and reached Redis (it writes
# <run_dir>/worker.ready), and fails with its log when it cannot: a release whose code
# the worker cannot import fails its restart step, so slipway puts the previous one back.
set -euo pipefail

die() { echo "worker: $*" >&2; exit 1; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

stop() { # $1 run_dir
  local pid
  pid=$(cat "$1/worker.pid" 2>/dev/null || true)
  if alive "$pid" && grep -qF worker.py "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid"; fi
  fi
  rm -f "$1/worker.pid" "$1/worker.ready"
}

case "${1:-}" in
  restart)
    [ $# -eq 4 ] || die "usage: worker.sh restart <app_dir> <run_dir> <queue>"
    app=$2 run=$3 queue=$4
    mkdir -p "$run"
    stop "$run"
    py=/usr/bin/python3
    [ -x "$app/.venv/bin/python" ] && py=$app/.venv/bin/python
    here=$(cd "$(dirname "$0")" && pwd)
    log=$run/worker.log
    : >> "$log"
    mark=$(stat -c %s "$log")
    # Its own session, no inherited descriptors: the worker outlives this SSH step.
    setsid "$py" "$here/worker.py" "$app" "$queue" "$run/worker.ready" </dev/null >>"$log" 2>&1 3>&- &
    pid=$!
    echo "$pid" > "$run/worker.pid"
    for _ in $(seq 300); do
      if [ "$(cut -d' ' -f1 "$run/worker.ready" 2>/dev/null)" = "$pid" ]; then
        echo "worker pid $pid runs release $(cut -d' ' -f2 "$run/worker.ready")"
        exit 0
      fi
      alive "$pid" || break
      sleep 0.1
    done
    tail -c +$((mark + 1)) "$log" | tail -n 20 >&2
    die "the worker for $app did not start (see its log above)"
    ;;
  stop)
    [ $# -eq 2 ] || die "usage: worker.sh stop <run_dir>"
    stop "$2"
    ;;
  *) die "usage: worker.sh restart <app_dir> <run_dir> <queue> | stop <run_dir>" ;;
esac
