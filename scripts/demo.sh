#!/usr/bin/env bash
# One command demo: builds Vigil, starts a collector on SQLite and a local agent enrolled to it,
# prints the dashboard URL and runs until Ctrl-C. State is kept in ./vigil-demo (reused next time).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bins -p vigil-agent -p vigil-collector
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/vigil-collector" demo --data-dir "${VIGIL_DEMO_DIR:-vigil-demo}" "$@"
