#!/usr/bin/env bash
# The whole test suite, against the real local Redis and MariaDB (started if they are down).
# Extra arguments go to cargo test, e.g. scripts/test.sh -p exchange-rate-svc
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# Two cores: one test binary at a time, a few tests in parallel inside it.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
exec cargo test --workspace --locked "$@"
