#!/usr/bin/env bash
# The whole test suite, against the real local Redis and MariaDB (started if they are down).
# Extra arguments go to cargo test, e.g. scripts/test.sh -p exchange-rate-svc
# Then the web app's unit tests (Vitest), the property-based API tests (scripts/schemathesis.sh:
# both services' OpenAPI documents, no 5xx, responses conform) and the browser journey
# (tests/js/browser-journey.mjs), unless extra arguments narrowed the cargo run.
# Ends with one total line: "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# The Socket.IO tests drive npm's socket.io-client under Node (versions pinned in package-lock).
command -v npm >/dev/null || { echo "test.sh: node/npm are required for the Socket.IO tests" >&2; exit 1; }
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
# ... and python-socketio (pinned in tests/py/requirements.txt), in a venv under target/.
venv=target/py-venv
if ! cmp -s tests/py/requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/py/requirements.txt
  cp tests/py/requirements.txt "$venv/requirements.txt"
fi
# Two cores: one test binary at a time, a few tests in parallel inside it.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
if [ $# -eq 0 ]; then
  # The web app's unit tests (Vitest; web/node_modules is installed by the web crate's build).
  (cd web && npx vitest run --reporter=default --reporter=json --outputFile=../target/vitest.json) 2>&1 | tee -a "$log" || status=$?
  summary=$(node -e 'const r = require("./target/vitest.json"); console.log(`web: ${r.numPassedTests} passed, ${r.numFailedTests} failed`)') ||
    { summary="web: 0 passed, 1 failed"; status=1; }
  echo "$summary" | tee -a "$log"
  SCHEMATHESIS_EXAMPLES="${SCHEMATHESIS_EXAMPLES:-30}" scripts/schemathesis.sh 2>&1 | tee -a "$log" || status=$?
  # The web app's journey in Debian's Chromium (playwright-core from tests/js), against the
  # all-in-one binary cargo test just built; screenshots in target/browser-artifacts/.
  node tests/js/browser-journey.mjs "${CARGO_TARGET_DIR:-target}/debug/rategate" 2>&1 | tee -a "$log" || status=$?
fi
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     /^(schemathesis|browser|web): [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
