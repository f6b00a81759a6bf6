#!/usr/bin/env bash
# One command demo: builds Vigil, starts a collector on SQLite, a local agent enrolled to it and a
# simulated province around them (VIGIL_DEMO_PROVINCE=0: only the local agent), prints the
# dashboard URL and runs until Ctrl-C. State is kept in ./vigil-demo (reused next time).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bins -p vigil-agent -p vigil-collector
target="${CARGO_TARGET_DIR:-target}"
province=(--province)
[ "${VIGIL_DEMO_PROVINCE:-1}" = 0 ] && province=()
exec "$target/release/vigil-collector" demo "${province[@]}" --data-dir "${VIGIL_DEMO_DIR:-vigil-demo}" "$@"
