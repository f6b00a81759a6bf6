#!/usr/bin/env bash
# Short fuzz smoke of every decoder target (bench/fuzz.sh for a few seconds each: the committed
# seeds, then a little mutation). The campaign itself: bench/fuzz.sh 600
#
# The smoke builds the same instrumented targets at opt-level 1 in a target directory of its own
# (fuzz/target-smoke): a few seconds of mutation need no fast code, and the build is most of the
# smoke's time. The campaign keeps the full release profile in fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target-smoke}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${FUZZ_OPT_LEVEL:-1}"
exec bash bench/fuzz.sh "${FUZZ_SECONDS:-4}"
