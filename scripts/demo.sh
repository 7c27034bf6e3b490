#!/usr/bin/env bash
# The demo (README): bring up the local demo server (sshd, PostgreSQL, nginx; as root)
# and release a small Django app to it with slipway's CLI, which runs the same code as
# the action: v1, then v2, then a release whose health check fails and is rolled back.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/cli/index.js ] || npm run build
bash test/server/up.sh --hosts 1 >/dev/null
state=/var/lib/slipway-test

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The app: a generated git repository (tags v1, v2, bad-health, ...) standing in for a
# checkout on a runner, and an app directory on the "server" with its local settings.
work=/tmp/slipway-demo
root=/srv/slipway/demo
rm -rf "$work"
mkdir -p "$work"
bash test/fixtures/make-app-repo.sh "$work/repo" >/dev/null
if [ -f "$root/shared/run/gunicorn.pid" ]; then su deploy -s /bin/bash -c "bash $here/test/fixtures/app-server.sh stop $root" >/dev/null 2>&1 || true; fi
rm -rf "$root"
install -d -o deploy -g deploy "$root" "$root/shared" "$root/shared/fixture" "$root/shared/run" "$root/shared/log" "$root/shared/media"
psql -U postgres -h /var/run/postgresql -qc 'drop database if exists slipway_demo with (force)' -qc 'create database slipway_demo owner app'
cat > "$root/shared/fixture/local_settings.py" <<PY
SECRET_KEY = 'demo-$(openssl rand -hex 8)'
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'slipway_demo', 'USER': 'app',
                         'PASSWORD': '$(cat "$state/db_password")', 'HOST': '127.0.0.1', 'PORT': '5432'}}
MEDIA_ROOT = '$root/shared/media'
PY
chown deploy:deploy "$root/shared/fixture/local_settings.py"
chmod 640 "$root/shared/fixture/local_settings.py"
bash test/fixtures/app-server.sh nginx-site "$root" demo 8090 8091 > "$state/nginx/sites/slipway-demo.conf"
/usr/sbin/nginx -t -q -c "$state/nginx/nginx.conf" && /usr/sbin/nginx -s reload -c "$state/nginx/nginx.conf"
printf '[127.0.0.1]:2222 %s\n' "$(cut -d' ' -f1,2 "$state/keys/host_ed25519.pub")" > "$work/known_hosts"

release() {
  node bin/slipway.js release \
    --host deploy@127.0.0.1:2222 --private-key-file "$state/keys/deploy_ed25519" --known-hosts-file "$work/known_hosts" \
    --path "$root" --working-directory "$work/repo" --ref "$1" \
    --shared fixture/local_settings.py --python /usr/bin/python3 --system-site-packages \
    --restart "$here/test/fixtures/app-server.sh restart $root 8091" \
    --proxy nginx --proxy-config "$state/nginx/nginx.conf" \
    --health-url http://127.0.0.1:8090/health --health-timeout 15s \
    --databases '- engine: postgres
  name: slipway_demo
  host: 127.0.0.1
  user: app
  password-env: DB_PASSWORD' --env "DB_PASSWORD=$(cat "$state/db_password")" --keep last=3
}

say "release v1"
release v1
say "the site answers: $(curl -s http://127.0.0.1:8090/health)"
say "release v2 (a new migration; a snapshot is taken first)"
release v2
say "the site answers: $(curl -s http://127.0.0.1:8090/health)"
say "release bad-health (its health check fails: slipway rolls back)"
release bad-health || echo "(failed as expected)"
say "the site still answers: $(curl -s http://127.0.0.1:8090/health)"
say "on the server: $root"
ls -l "$root" "$root/releases" "$root/snapshots"
say "release log ($root/.slipway/releases.jsonl)"
cat "$root/.slipway/releases.jsonl"
