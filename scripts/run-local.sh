#!/usr/bin/env bash
# Runs rategate's services against the local Redis (and MariaDB), building them first.
# FEED=sim for offline demos; every other variable is in .env.example. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
[ -f .env ] && set -a && . ./.env && set +a
cargo build --release --locked -p exchange-rate-svc
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
HTTP_ADDR="${EXCHANGE_HTTP_ADDR:-127.0.0.1:8081}" target/release/exchange-rate-svc &
pids+=($!)
echo "exchange-rate-svc: http://${EXCHANGE_HTTP_ADDR:-127.0.0.1:8081}/rates  (status: /status)"
echo "watch the bus:     redis-cli SUBSCRIBE ${REDIS_PREFIX:-rategate:}rates"
wait -n
