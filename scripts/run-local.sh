#!/usr/bin/env bash
# Runs rategate's two services against the local Redis and MariaDB (started if down), building
# them first. FEED=sim gives an offline, clearly labelled simulated feed; every other variable is
# in .env.example (a .env file is read). Ctrl-C stops everything.
#
# On first run it generates a JWT secret and an admin password for local use and keeps them in
# .rategate-local.env (git-ignored), so later runs log in with the same credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
if [ -f .env ]; then set -a; . ./.env; set +a; fi
local_env=.rategate-local.env
if [ ! -f "$local_env" ]; then
  rand() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"; }
  {
    echo "JWT_SECRET=$(rand 48)"
    echo "ADMIN_EMAIL=admin@rategate.local"
    echo "ADMIN_PASSWORD=Local-$(rand 20)"
  } > "$local_env"
  chmod 600 "$local_env"
fi
set -a; . "./$local_env"; set +a

cargo build --release --locked -p exchange-rate-svc -p user-api-svc
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
HTTP_ADDR="${EXCHANGE_HTTP_ADDR:-127.0.0.1:8081}" "${CARGO_TARGET_DIR:-target}/release/exchange-rate-svc" &
pids+=($!)
HTTP_ADDR="${API_HTTP_ADDR:-127.0.0.1:8080}" "${CARGO_TARGET_DIR:-target}/release/user-api-svc" &
pids+=($!)
cat <<MSG

  live rates page   http://${API_HTTP_ADDR:-127.0.0.1:8080}/
  API docs          http://${API_HTTP_ADDR:-127.0.0.1:8080}/docs
  feed status       http://${EXCHANGE_HTTP_ADDR:-127.0.0.1:8081}/status
  admin login       $ADMIN_EMAIL / $ADMIN_PASSWORD   (kept in $local_env)

MSG
wait -n
