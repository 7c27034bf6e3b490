# The floor: the same release as slipway's, written by hand as one bash script and sent
# with its git pack through ONE `ssh host bash -s`. The harness prepends the variables
# (ROOT, ID, SHA, RESTART, NGINX_CONF, HEALTH_URL) and appends the pack: bash reads the
# whole { ... } group before running it, so index-pack then reads the rest of stdin.
# No lock, no rollback, no migration plan, no release log beyond one line: the least a
# release needs. `mark` only notes the time of each step (a bash builtin, no process).
set -euo pipefail
{
# Step times for the report (EPOCHREALTIME: no process is started for them).
mark() { printf 'floor-step %s %s\n' "$1" "$EPOCHREALTIME" >&2; }
mark ship
G="$ROOT/repo"
git --git-dir "$G" index-pack --stdin --fix-thin >/dev/null
git --git-dir "$G" update-ref "refs/slipway/$ID" "$SHA"
exec </dev/null
mark build
REL="$ROOT/releases/$ID"
mkdir -p "$REL"
git --git-dir "$G" archive --format=tar "$SHA" | tar -x -C "$REL"
printf '%s\n' "$SHA" > "$REL/REVISION"
ln -sfn "$ROOT/shared/fixture/local_settings.py" "$REL/fixture/local_settings.py"
cd "$REL"
key=$( { sha256sum requirements.txt; /usr/bin/python3 -c 'import sys; print(sys.version)'; echo ssp=1; } | sha256sum | cut -c1-16)
venv="$ROOT/venvs/$key"
if [ ! -f "$venv/.slipway-complete" ]; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -r requirements.txt
  touch "$venv/.slipway-complete"
fi
ln -sfn "$venv" "$REL/.venv"
PY="$REL/.venv/bin/python"
mark check
"$PY" manage.py check
mark migrate
"$PY" manage.py migrate --noinput
mark collectstatic
"$PY" manage.py collectstatic --noinput >/dev/null
mark "proxy test"
sudo -n /usr/sbin/nginx -t -q -c "$NGINX_CONF"
mark switch
ln -sfn "releases/$ID" "$ROOT/.current.tmp"
mv -T "$ROOT/.current.tmp" "$ROOT/current"
mark restart
(cd "$ROOT/current" && eval "$RESTART")
mark proxy
sudo -n /usr/sbin/nginx -c "$NGINX_CONF" -s reload
mark health
code=000
for _ in $(seq 1 30); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$HEALTH_URL" || true)
  [ "$code" = 200 ] && break
  sleep 1
done
[ "$code" = 200 ] || { echo "health check failed: $code" >&2; exit 1; }
mark finish
printf '{"id":"%s","sha":"%s","result":"ok"}\n' "$ID" "$SHA" >> "$ROOT/.slipway/releases.jsonl"
cd "$ROOT/releases"
ls -1 | sort -r | tail -n +6 | while read -r r; do [ "$r" = "$ID" ] || rm -rf -- "$r"; done
mark end
} ; exit
