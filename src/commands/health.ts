// The health check runs on the server itself (the app may listen only on loopback),
// with curl when present and Python otherwise.

import type { HealthSettings } from '../inputs/release'
import { atExit } from './script'
import { lines, quote, type Shell } from './shell'

/** Retry until the URL answers the expected status (and text) or the deadline passes. */
export function healthCheck(h: HealthSettings): Shell {
  const seconds = Math.max(1, Math.ceil(h.timeoutMs / 1000))
  return lines(
    `url=${quote(h.url)}; want=${h.status}; text=${quote(h.text ?? '')}; ca=${quote(h.ca ?? '')}`,
    'body=$(mktemp)',
    atExit('rm -f "$body"'),
    'fetch() {',
    '  if command -v curl >/dev/null 2>&1; then',
    '    curl -sS -o "$body" -w \'%{http_code}\' --max-time 10 ${ca:+--cacert "$ca"} "$url" 2>"$body.err" || { cat "$body.err" > "$body"; echo 000; }',
    '    rm -f "$body.err"',
    '  else',
    `    python3 -c 'import sys,ssl,urllib.request,urllib.error
try:
  ctx=ssl.create_default_context(cafile=sys.argv[3] or None)
  r=urllib.request.urlopen(sys.argv[1],timeout=10,context=ctx); c=r.status; b=r.read()
except urllib.error.HTTPError as e: c=e.code; b=e.read()
except Exception as e: c=0; b=str(e).encode()
open(sys.argv[2],"wb").write(b); print("%03d"%c)' "$url" "$body" "$ca"`,
    '  fi',
    '}',
    `deadline=$((SECONDS + ${seconds})); attempt=0`,
    'while :; do',
    '  attempt=$((attempt + 1)); code=$(fetch)',
    '  if [ "$code" = "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" "$body"; }; then',
    '    echo "health: $url answered $code after $attempt attempt(s)"; break',
    '  fi',
    '  if [ "$SECONDS" -ge "$deadline" ]; then',
    `    echo "health check failed: $url answered $code (expected $want\${text:+ with text '$text'}) after $attempt attempt(s) in ${seconds} s; body: $(head -c 300 "$body" | tr '\\n' ' ')" >&2`,
    '    exit 1',
    '  fi',
    '  sleep 1',
    'done',
  )
}
