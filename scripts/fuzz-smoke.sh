#!/usr/bin/env bash
# Short fuzz smoke of every decoder target (libFuzzer with SanitizerCoverage, no sanitizer, so it
# builds on the stable toolchain like `cargo fuzz build --sanitizer none`). Longer runs:
#   FUZZ_SECONDS=600 bash scripts/fuzz-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${FUZZ_SECONDS:-15}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
# An explicit --target keeps these flags away from build scripts and proc macros.
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --locked --bins --quiet --target "$host"
for t in frame_decoder session enroll_token; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  "$CARGO_TARGET_DIR/$host/release/$t" -max_total_time="$secs" -max_len=8192 -print_final_stats=1 "corpus/$t" 2>&1 \
    | grep -E "stat::number_of_executed_units|Done|ERROR|panicked" || true
  # libFuzzer exits non-zero on a crash; pipefail is defeated by grep, so check the artifacts.
  if ls crash-* leak-* timeout-* >/dev/null 2>&1; then echo "fuzz: $t found a crash" >&2; exit 1; fi
done
