#!/usr/bin/env bash
# Idle agent footprint: RSS and CPU time of a connected, idle vigil-agent over 60 s.
# Usage: bench/idle.sh [seconds]   (builds release binaries first)
# VIGIL_IDLE_MAX_RSS_KIB: the idle RSS target (default 32768 KiB; the default configuration
# measured 30,024 KiB on a Debian build host with ~80k files under the FIM trees, 34,912 KiB
# before the FIM queue stopped preallocating); above it the script says so and exits 1.
# VIGIL_IDLE_BIN_DIR: measure the binaries in this directory instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
max_rss="${VIGIL_IDLE_MAX_RSS_KIB:-32768}"
if [ -n "${VIGIL_IDLE_BIN_DIR:-}" ]; then
    t="$VIGIL_IDLE_BIN_DIR"
else
    cargo build --release --locked --bins -p vigil-agent -p vigil-collector >/dev/null
    t="${CARGO_TARGET_DIR:-target}/release"
fi
d=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$d"' EXIT
port=$((20000 + RANDOM % 20000))
"$t/vigil-collector" init --data-dir "$d/c" --quic "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" >/dev/null
"$t/vigil-collector" agency add --data-dir "$d/c" --id p --name P >/dev/null
tok=$("$t/vigil-collector" token create --data-dir "$d/c" --agency p 2>/dev/null)
"$t/vigil-collector" run --data-dir "$d/c" 2>/dev/null &
sleep 1
"$t/vigil-agent" enroll --token "$tok" --state-dir "$d/a" --machine-id bench-idle >/dev/null
# VIGIL_IDLE_CONFIG: an agent.toml to run with (default: none, built-in defaults).
cfg_args=()
[ -n "${VIGIL_IDLE_CONFIG:-}" ] && cfg_args=(--config "$VIGIL_IDLE_CONFIG")
"$t/vigil-agent" run --state-dir "$d/a" "${cfg_args[@]}" 2>/dev/null &
apid=$!
# Let start-up work settle (inventory, first check run, FIM baseline of the default trees).
settle="${VIGIL_IDLE_SETTLE:-60}"
sleep "$settle"
# VIGIL_IDLE_RESTART=1: measure a restarted agent (baseline loaded from disk, not created), the
# steady state of a long-running host.
if [ -n "${VIGIL_IDLE_RESTART:-}" ]; then
    # Stopped before its first baseline is complete, the agent saves none and the restart would
    # create it again: wait (up to 10 min) until it is saved.
    for _ in $(seq 600); do
        [ -e "$d/a/fim/baseline.bin" ] && break
        sleep 1
    done
    kill "$apid"
    wait "$apid" 2>/dev/null || true
    "$t/vigil-agent" run --state-dir "$d/a" "${cfg_args[@]}" 2>/dev/null &
    apid=$!
    sleep "$settle"
fi
tick=$(getconf CLK_TCK)
wakeups() { cat /proc/"$apid"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}'; }
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$apid/stat")
w0=$(wakeups)
sleep "$secs"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$apid/stat")
w1=$(wakeups)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$apid/status")
anon=$(awk '/RssAnon/ {print $2}' "/proc/$apid/status")
file=$(awk '/RssFile/ {print $2}' "/proc/$apid/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$apid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$apid/status")
cpu_ms=$(( ( (u1 - u0) + (s1 - s0) ) * 1000 / tick ))
wake=$((w1 > w0 ? w1 - w0 : 0))
echo "idle agent (${VIGIL_IDLE_CONFIG:-default config: checks, FIM on the default trees, netwatch}) over ${secs}s after ${settle}s settle: RSS ${rss} KiB (peak ${hwm} KiB), CPU ${cpu_ms} ms = $(awk -v c="$cpu_ms" -v s="$secs" 'BEGIN{printf "%.3f", c/(s*10)}')% of one core"
# Anonymous = heap, stacks and other private memory; file = the mapped binary and libraries.
# Wake-ups: voluntary context switches summed over the threads alive at each end of the window
# (a thread that ends in between makes it an underestimate).
echo "  anonymous ${anon} KiB, file-backed ${file} KiB, ${threads} threads, ${wake} wake-ups ($(awk -v w="$wake" -v s="$secs" 'BEGIN{printf "%.1f", w/s}')/s)"
if [ "$rss" -gt "$max_rss" ]; then
    echo "  RSS ${rss} KiB is over the target of ${max_rss} KiB (VIGIL_IDLE_MAX_RSS_KIB)"
    exit 1
fi
echo "  RSS within the target of ${max_rss} KiB"
