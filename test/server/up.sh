#!/usr/bin/env bash
# Bring up the local test server, idempotently, as root: everything slipway's
# integration tests, benchmarks and demo talk to. Safe to run again at any time; it
# starts only what is not running.
#
#   sshd     127.0.0.1:2222 (also the jump host), user `deploy`, keys in $STATE/keys
#   hosts    sshd in network namespaces slw-h<N> at 10.213.<N>.2:22 (behind the jump host)
#   postgres socket + 127.0.0.1:5432; role/db `app` (password in $STATE/env)
#   mariadb  socket + 127.0.0.1:3306; user/db `app`
#   nginx    127.0.0.1:8080, config in $STATE/nginx (sites in $STATE/nginx/sites/*.conf)
#   podman   runc, lowered ulimits, image localhost/bb (busybox)
#
# Usage: test/server/up.sh [--hosts N]   (N namespace hosts, default 1)
# Prints the environment the tests read (also written to $STATE/env).
set -euo pipefail

STATE=${SLIPWAY_TEST_STATE:-/var/lib/slipway-test}
HOSTS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) HOSTS=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
log() { printf '[test-server] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then echo "test/server/up.sh must run as root (it starts sshd, databases and nginx)" >&2; exit 1; fi

packages() {
  local need=() p
  for p in openssh-server openssh-client sudo git zstd sqlite3 nginx python3-django gunicorn python3-daphne \
    python3-psycopg2 python3-mysqldb python3-venv python3-pip podman runc busybox-static iproute2 procps \
    postgresql-client mariadb-client curl caddy apache2 psmisc redis-server redis-tools time; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # Debian starts packaged daemons on install where it can; the test server runs its own.
  for svc in nginx apache2; do
    if [ -f "/run/$svc.pid" ]; then kill "$(cat "/run/$svc.pid")" 2>/dev/null || true; fi
  done
  rm -f /run/nginx.pid /run/apache2/apache2.pid
}

users() {
  id deploy >/dev/null 2>&1 || useradd -m -s /bin/bash deploy
  id intruder >/dev/null 2>&1 || useradd -m -s /bin/bash intruder
  # Without UsePAM a locked account ('!' in shadow) cannot log in at all; give deploy a
  # real password (the password-auth test uses it) and leave intruder key-less.
  install -d -m 0700 "$STATE/keys"
  [ -f "$STATE/keys/deploy_password" ] || openssl rand -hex 12 > "$STATE/keys/deploy_password"
  echo "deploy:$(cat "$STATE/keys/deploy_password")" | chpasswd
  usermod -p '*' intruder
  install -d -o deploy -g deploy -m 0755 /srv/slipway
  cat > /etc/sudoers.d/slipway-deploy <<EOF
# What a deploy user typically may do as root: test and reload the proxy, drive containers.
Defaults:deploy !requiretty
deploy ALL=(root) NOPASSWD: /usr/sbin/nginx, /usr/sbin/apachectl, /usr/bin/caddy, /usr/bin/podman, /usr/bin/docker
EOF
  chmod 0440 /etc/sudoers.d/slipway-deploy
  visudo -cq -f /etc/sudoers.d/slipway-deploy
}

keys() {
  install -d -m 0700 "$STATE/keys"
  local k="$STATE/keys"
  [ -f "$k/deploy_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C 'slipway-test plain' -f "$k/deploy_ed25519"
  # A passphrase key in the classic PEM format (RSA), the other shape users paste.
  if [ ! -f "$k/deploy_rsa_pass" ]; then
    openssl rand -hex 12 > "$k/passphrase"
    ssh-keygen -q -t rsa -b 3072 -m PEM -N "$(cat "$k/passphrase")" -C 'slipway-test passphrase' -f "$k/deploy_rsa_pass"
  fi
  [ -f "$k/deploy_ecdsa" ] || ssh-keygen -q -t ecdsa -b 256 -N '' -C 'slipway-test ecdsa' -f "$k/deploy_ecdsa"
  # A key the server does not know, for the "wrong key" test.
  [ -f "$k/stranger_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C 'not authorized' -f "$k/stranger_ed25519"
  [ -f "$k/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C 'slipway-test host' -f "$k/host_ed25519"
  [ -f "$k/host_rsa" ] || ssh-keygen -q -t rsa -b 3072 -N '' -C 'slipway-test host rsa' -f "$k/host_rsa"
  [ -f "$k/netns_host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C 'slipway-test netns host' -f "$k/netns_host_ed25519"
  [ -f "$k/impostor_host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C 'slipway-test impostor' -f "$k/impostor_host_ed25519"
  install -d -o deploy -g deploy -m 0700 /home/deploy/.ssh
  cat "$k/deploy_ed25519.pub" "$k/deploy_rsa_pass.pub" "$k/deploy_ecdsa.pub" > /home/deploy/.ssh/authorized_keys
  chown deploy:deploy /home/deploy/.ssh/authorized_keys
  chmod 0600 /home/deploy/.ssh/authorized_keys
}

# sshd_config for one instance. $1 name, $2 listen address, $3 port, $4 host key.
sshd_conf() {
  local name=$1 addr=$2 port=$3 hostkey=$4 conf="$STATE/sshd/$1.conf"
  install -d -m 0755 "$STATE/sshd" /run/sshd
  cat > "$conf" <<EOF
Port $port
ListenAddress $addr
HostKey $hostkey
PidFile $STATE/sshd/$name.pid
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowTcpForwarding yes
AllowUsers deploy intruder
MaxSessions 64
MaxStartups 100:30:200
ClientAliveInterval 0
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
  echo "$conf"
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_sshd() { # $1 name, $2 netns ('' for none), rest: sshd_conf args
  local name=$1 ns=$2
  shift 2
  local conf
  conf=$(sshd_conf "$name" "$@")
  running "$STATE/sshd/$name.pid" && return 0
  if [ -n "$ns" ]; then
    ip netns exec "$ns" /usr/sbin/sshd -f "$conf" -E "$STATE/sshd/$name.log"
  else
    /usr/sbin/sshd -f "$conf" -E "$STATE/sshd/$name.log"
  fi
  for _ in $(seq 50); do running "$STATE/sshd/$name.pid" && return 0; sleep 0.1; done
  log "sshd $name did not start:"; tail -5 "$STATE/sshd/$name.log" >&2; return 1
}

# Host N lives in namespace slw-hN at 10.213.N.2, reachable from the root namespace
# (the jump host's side) through a veth pair.
netns_host() {
  local n=$1 ns="slw-h$1"
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
    ip link add "slw-h$n-o" type veth peer name "slw-h$n-i"
    ip link set "slw-h$n-i" netns "$ns"
    ip addr add "10.213.$n.1/24" dev "slw-h$n-o"
    ip link set "slw-h$n-o" up
    ip netns exec "$ns" ip addr add "10.213.$n.2/24" dev "slw-h$n-i"
    ip netns exec "$ns" ip link set "slw-h$n-i" up
    ip netns exec "$ns" ip link set lo up
  fi
  start_sshd "h$n" "$ns" "10.213.$n.2" 22 "$STATE/keys/netns_host_ed25519"
}

setup_postgres() {
  if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  local pw
  pw=$(cat "$STATE/db_password" 2>/dev/null || { openssl rand -hex 12 | tee "$STATE/db_password"; })
  psql -U postgres -h /var/run/postgresql -qtAc "select 1 from pg_roles where rolname='app'" | grep -q 1 ||
    psql -U postgres -h /var/run/postgresql -qc "create role app login createdb password '$pw'"
  psql -U postgres -h /var/run/postgresql -qtAc "select 1 from pg_roles where rolname='deploy'" | grep -q 1 ||
    psql -U postgres -h /var/run/postgresql -qc "create role deploy login createdb superuser"
  psql -U postgres -h /var/run/postgresql -qtAc "select 1 from pg_database where datname='app'" | grep -q 1 ||
    psql -U postgres -h /var/run/postgresql -qc "create database app owner app"
}

setup_mariadb() {
  if ! mariadb-admin ping >/dev/null 2>&1; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 100); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  local pw
  pw=$(cat "$STATE/db_password")
  mariadb -e "create database if not exists app; create user if not exists 'app'@'localhost' identified by '$pw';
    create user if not exists 'app'@'127.0.0.1' identified by '$pw';
    grant all on \`app\`.* to 'app'@'localhost'; grant all on \`app\`.* to 'app'@'127.0.0.1';
    grant all on \`app_%\`.* to 'app'@'localhost'; grant all on \`app_%\`.* to 'app'@'127.0.0.1';
    create user if not exists 'deploy'@'localhost' identified via unix_socket;
    grant all on *.* to 'deploy'@'localhost' with grant option;"
}

setup_redis() {
  # node-svc machines start Redis before the session; a stopped one is started the same way.
  mkdir -p /var/lib/redis /var/log/redis
  redis-cli ping >/dev/null 2>&1 ||
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

nginx_server() {
  local d="$STATE/nginx"
  install -d -m 0755 "$d" "$d/sites" "$d/logs"
  chown deploy:deploy "$d/sites"
  cat > "$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log;
events { worker_connections 1024; }
http {
  access_log $d/logs/access.log;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  include $d/sites/*.conf;
  server { listen 127.0.0.1:8080 default_server; location = /up { return 200 "nginx up\n"; } }
}
EOF
  /usr/sbin/nginx -t -c "$d/nginx.conf" -q
  running "$d/nginx.pid" || /usr/sbin/nginx -c "$d/nginx.conf"
}

podman_setup() {
  install -d /etc/containers
  cat > /etc/containers/containers.conf <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
EOF
  if ! podman image exists localhost/bb 2>/dev/null; then
    log "building the busybox image localhost/bb"
    local r
    r=$(mktemp -d)
    mkdir -p "$r/bin" "$r/data" "$r/tmp"
    cp /bin/busybox "$r/bin/"
    for t in sh ls cat echo sleep touch mkdir rm cp mv tar gzip sha256sum find stat chmod chown ln wc head tail true false id; do ln -s busybox "$r/bin/$t"; done
    tar -C "$r" -c . | podman import -q - localhost/bb >/dev/null
    rm -rf "$r"
  fi
}

install -d -m 0755 "$STATE"
packages
users
keys
start_sshd main '' 127.0.0.1 2222 "$STATE/keys/host_ed25519"
for n in $(seq 1 "$HOSTS"); do netns_host "$n"; done
setup_postgres
setup_mariadb
setup_redis
nginx_server
podman_setup

fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }
cat > "$STATE/env" <<EOF
SLIPWAY_TEST_STATE=$STATE
SLIPWAY_TEST_HOST=127.0.0.1
SLIPWAY_TEST_PORT=2222
SLIPWAY_TEST_USER=deploy
SLIPWAY_TEST_KEY=$STATE/keys/deploy_ed25519
SLIPWAY_TEST_KEY_PASS=$STATE/keys/deploy_rsa_pass
SLIPWAY_TEST_KEY_ECDSA=$STATE/keys/deploy_ecdsa
SLIPWAY_TEST_PASSPHRASE_FILE=$STATE/keys/passphrase
SLIPWAY_TEST_PASSWORD_FILE=$STATE/keys/deploy_password
SLIPWAY_TEST_STRANGER_KEY=$STATE/keys/stranger_ed25519
SLIPWAY_TEST_HOST_FP=$(fp "$STATE/keys/host_ed25519.pub")
SLIPWAY_TEST_NETNS_HOST_FP=$(fp "$STATE/keys/netns_host_ed25519.pub")
SLIPWAY_TEST_IMPOSTOR_KEY=$STATE/keys/impostor_host_ed25519
SLIPWAY_TEST_NETNS_HOSTS=$HOSTS
SLIPWAY_TEST_DB_PASSWORD_FILE=$STATE/db_password
SLIPWAY_TEST_NGINX_CONF=$STATE/nginx/nginx.conf
SLIPWAY_TEST_NGINX_SITES=$STATE/nginx/sites
SLIPWAY_TEST_NGINX_PORT=8080
EOF
log "up: sshd 127.0.0.1:2222, $HOSTS namespace host(s), postgres, mariadb, nginx :8080, podman"
cat "$STATE/env"
