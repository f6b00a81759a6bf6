#!/usr/bin/env bash
# Collector memory under a login attack (issue 17): peak RSS above idle while N wrong logins for
# one user run P at a time, and how the answers split (401 = a password was checked).
# Usage: bench/login_rss.sh [N] [P] [collector binary]
#   (default 200 100, and the release build of this tree, built first)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
par="${2:-100}"
bin="${3:-}"
if [ -z "$bin" ]; then
    cargo build --release --locked --bin vigil-collector -p vigil-collector >/dev/null
    bin="${CARGO_TARGET_DIR:-target}/release/vigil-collector"
fi
d=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"' EXIT
port=$((20000 + RANDOM % 20000))
"$bin" init --data-dir "$d/c" --quic "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" \
    --plain-http >/dev/null
echo 'a-good-long-password' | "$bin" user add --data-dir "$d/c" --name admin --role admin \
    --password-stdin >/dev/null
"$bin" run --data-dir "$d/c" >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$((port + 1))/" && break
    sleep 0.1
done
rss() { awk -v f="$1" '$1 == f {print $2}' "/proc/$pid/status"; }
idle=$(rss VmRSS:)
seq 1 "$n" | xargs -P "$par" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    -H 'Content-Type: application/json' -d '{"name":"admin","password":"wrong-password-123"}' \
    "http://127.0.0.1:$((port + 1))/api/v1/login" >"$d/codes"
peak=$(rss VmHWM:)
echo "BENCH login_rss: $n wrong logins, $par in parallel: idle ${idle} KiB, peak ${peak} KiB," \
    "peak above idle $(((peak - idle) / 1024)) MiB; answers: $(sort "$d/codes" | uniq -c | tr '\n' ' ')"
