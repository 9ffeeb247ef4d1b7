#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 60 s each), starting from the small
# seed corpora in fuzz/seeds/ (kept in git) and a working corpus in target/fuzz-corpus/ (not
# kept). Not part of CI's test command: fuzzing is open-ended; run it before a release and after
# touching a parser. Needs cargo-fuzz (installed here if missing). Crashes land in
# fuzz/artifacts/<target>/ and fail the run.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kraken_frame pair_and_decimal socket_args)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes nightly-only flags; this stable toolchain accepts them when told to.
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "== fuzz $t for ${seconds}s"
  (cd fuzz && cargo fuzz run --sanitizer none "$t" "../$corpus" "seeds/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1) 2>&1 | grep -E "^(==|Done|stat::number_of_executed_units|stat::peak_rss|.*(panicked|ERROR|SUMMARY|crash))" || true
  if ls fuzz/artifacts/"$t"/crash-* >/dev/null 2>&1; then
    echo "fuzz $t: crashes in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
