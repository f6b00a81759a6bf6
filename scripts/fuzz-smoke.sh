#!/usr/bin/env bash
# Short fuzz smoke of every decoder target (bench/fuzz.sh for a few seconds each: the committed
# seeds, then a little mutation). The campaign itself: bench/fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash bench/fuzz.sh "${FUZZ_SECONDS:-4}"
