#!/bin/sh
# FIM benchmark: baseline / fast check / full check of a tree (default /usr) with vigil's scanner,
# against `b3sum` over the same files. Warm cache: everything is read once first.
# Builds in its own target directory so it never disturbs other builds.
set -eu
TREE=${1:-/usr}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/target-fim-bench}
cd "$(dirname "$0")/.."
cargo test --release -q -p vigil-agent --lib fim::tests::bench --no-run >/dev/null 2>&1
echo "warming the cache of $TREE ..."
find "$TREE" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true
files=$(find "$TREE" -type f | wc -l)
echo "files: $files"
if command -v b3sum >/dev/null; then
    start=$(date +%s.%N)
    find "$TREE" -type f -print0 | xargs -0 b3sum >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    echo "BENCH b3sum_s=$(echo "$end - $start" | bc)"
else
    echo "b3sum not installed (apt-get install b3sum)"
fi
VIGIL_FIM_BENCH_PATH="$TREE" \
    cargo test --release -q -p vigil-agent --lib fim::tests::bench_baseline_and_check \
    -- --ignored --nocapture 2>&1 | grep -E 'BENCH|Baseline of'
