#!/usr/bin/env bash
# Makes sure the local Redis and MariaDB the services and tests use are up, starting (and on a
# Debian machine without them, installing) what is missing, and that the tools the multi-process
# tests run are installed: redis-server (a private one per Redis-restart test, six per Redis
# Cluster test) and redis-cli (which joins them), HAProxy (the
# load balancer of deploy/haproxy.cfg) and Chromium (the browser journey). Fails loudly if it cannot.
#   REDIS_URL  default redis://127.0.0.1:6379  (only the host:port of a local Redis is checked)
#   MariaDB    127.0.0.1:3306, user root, empty password (the machine's default)
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port name seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}

need_pkg() { # binary package
  command -v "$1" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing $2 (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null ||
      { log "could not install $2"; return 1; }
  else
    log "$1 is not installed and cannot be installed here; install $2"
    return 1
  fi
}

ensure_redis() {
  if port_open 127.0.0.1 6379; then return 0; fi
  log "Redis is not running on 127.0.0.1:6379; starting it"
  need_pkg redis-server redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 127.0.0.1 6379 redis 10 || { log "FAILED: Redis did not come up on 127.0.0.1:6379"; exit 1; }
  log "Redis is up"
}

ensure_mariadb() {
  if port_open 127.0.0.1 3306; then return 0; fi
  log "MariaDB is not running on 127.0.0.1:3306; starting it"
  need_pkg mariadbd mariadb-server || need_pkg /usr/sbin/mariadbd mariadb-server
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port 127.0.0.1 3306 mariadb 30 || { log "FAILED: MariaDB did not come up on 127.0.0.1:3306"; exit 1; }
  log "MariaDB is up"
}

ensure_redis
ensure_mariadb
need_pkg redis-server redis-server || { log "FAILED: redis-server is needed by the Redis-restart test"; exit 1; }
need_pkg redis-cli redis-tools || { log "FAILED: redis-cli is needed to join the Redis Cluster the cluster tests start"; exit 1; }
need_pkg haproxy haproxy || { log "FAILED: haproxy is needed by the load-balancer test"; exit 1; }
need_pkg chromium chromium || { log "FAILED: Debian's chromium is needed by the browser tests"; exit 1; }
