#!/usr/bin/env bash
# Fuzz campaign: builds every libFuzzer target of fuzz/ and runs each in turn for a given time at
# nice 19, starting from its committed seeds (fuzz/seeds/<target>, read only) and the corpus kept
# from earlier runs (fuzz/corpus/<target>, not committed). Prints one line per target (seconds,
# executions, executions/s, corpus size) and fails when a target crashed, timed out or ran out of
# memory; the input that did it is kept in fuzz/artifacts/.
#
# Usage: bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s, every target)
# Env:   FUZZ_TARGET_DIR (default fuzz/target), FUZZ_LOG_DIR (default bench/out/fuzz)
#
# The targets are built with SanitizerCoverage and no sanitizer (like `cargo fuzz build
# --sanitizer none`), so the stable toolchain builds them; panics, failed assertions,
# debug-assertion overflows, inputs running over 60 s and memory over 2 GiB are what they catch.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
secs="${1:-600}"
shift || true
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$repo/fuzz/target}"
logs="${FUZZ_LOG_DIR:-$repo/bench/out/fuzz}"
mkdir -p "$logs" fuzz/artifacts

all=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^vigil-fuzz$')
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets <<<"$all"
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all" || { echo "fuzz: no target $t (targets: $(echo $all))" >&2; exit 2; }
done

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
# An explicit --target keeps these flags away from build scripts and proc macros.
host="$(rustc -vV | sed -n 's/^host: //p')"
(cd fuzz && cargo build --release --locked --bins --quiet --target "$host")
bin="$CARGO_TARGET_DIR/$host/release"

failed=()
printf '%-18s %8s %12s %10s %8s  %s\n' target seconds execs execs/s corpus result
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus"
  log="$logs/$t.log"
  rc=0
  # An input running over -timeout seconds is a finding, and so is memory over -rss_limit_mb. The
  # timeout is wall-clock time, hence generous: at nice 19 on a busy machine inputs are starved.
  nice -n 19 "$bin/$t" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t-" \
    "$corpus" "fuzz/seeds/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
  took="${took:-$secs}"
  files=$(find "$corpus" -type f | wc -l)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc; $(grep -m1 -oE 'Test unit written to [^ ]*' "$log" || echo "see $log"))"
    failed+=("$t")
  fi
  printf '%-18s %8s %12s %10s %8s  %s\n' "$t" "$took" "${execs:-?}" \
    "$(( ${execs:-0} / (took > 0 ? took : 1) ))" "$files" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashed: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
