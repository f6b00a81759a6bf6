#!/usr/bin/env bash
# Windows agent benchmark (issue 15), under Wine on this Linux machine:
#   1. size of the release vigil-agent.exe (as built, and stripped of symbols);
#   2. idle footprint: RSS and CPU of an enrolled, connected agent (default config: FIM of the
#      default Windows trees, registry watch, netwatch, inventory) over SECONDS (default 60), with
#      the prefix's wineserver reported apart;
#      and the Linux agent idle against the same collector, printed as ratios;
#   3. the windows-baseline pack evaluated live by `vigil-agent check` under Wine (wall time, peak
#      RSS) against the linux-baseline pack on this host;
#   4. FIM baseline of a 10,000-file folder: the .exe under Wine on the prefix's C:\bench against
#      the Linux agent on a copy of the same files, both warm, same release profile; the ratio is
#      the figure to read.
# Needs `scripts/windows.sh --release` to have built target/windows (the release .exe and the Wine
# prefix template).
#
#   bench/windows.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
settle="${VIGIL_IDLE_SETTLE:-30}"
nfiles=10000
win="target/windows"
exe="${VIGIL_WINDOWS_AGENT:-$win/x86_64-pc-windows-gnu/release/vigil-agent.exe}"
template="${VIGIL_WINE_TEMPLATE:-$win/wine/template}"
[ -f "$exe" ] && [ -d "$template" ] || {
  echo "bench/windows: run scripts/windows.sh --release first (needs $exe and $template)" >&2
  exit 2
}
# VIGIL_LINUX_BIN: a directory with release vigil-agent and vigil-collector already built.
lin="${VIGIL_LINUX_BIN:-}"
if [ -z "$lin" ]; then
  cargo build --release --locked --bins -p vigil-agent -p vigil-collector >/dev/null
  lin="${CARGO_TARGET_DIR:-target}/release"
fi

d=$(mktemp -d)
prefix="$d/prefix"
cleanup() {
  WINEPREFIX="$prefix" wineserver -k 2>/dev/null || true
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$d"
}
trap cleanup EXIT
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

# 1. Size.
size=$(stat -c %s "$exe")
x86_64-w64-mingw32-strip -o "$d/stripped.exe" "$exe"
stripped=$(stat -c %s "$d/stripped.exe")
echo "BENCH exe_bytes=$size stripped_bytes=$stripped ($(awk -v b="$stripped" 'BEGIN{printf "%.1f", b/1048576}') MiB stripped)"

# The prefix: a copy of the template, the agent where the MSI puts it.
cp -a "$template" "$prefix"
agent_dir="$prefix/drive_c/Program Files/Vigil"
mkdir -p "$agent_dir"
cp "$exe" "$agent_dir/vigil-agent.exe"
agent='C:\Program Files\Vigil\vigil-agent.exe'

# 2. Idle footprint against a Linux collector on loopback.
port=$((20000 + RANDOM % 20000))
"$lin/vigil-collector" init --data-dir "$d/c" --quic "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" >/dev/null
"$lin/vigil-collector" agency add --data-dir "$d/c" --id p --name P >/dev/null
tok=$("$lin/vigil-collector" token create --data-dir "$d/c" --agency p 2>/dev/null)
"$lin/vigil-collector" run --data-dir "$d/c" 2>/dev/null &
sleep 1
wine "$agent" enroll --token "$tok" --state-dir 'C:\vigil-bench-idle' >/dev/null 2>&1
wine "$agent" run --state-dir 'C:\vigil-bench-idle' >/dev/null 2>&1 &
sleep "$settle"
# The agent is the Linux process of the prefix running vigil-agent.exe; Wine's launcher matches
# too, so the largest one is taken.
pid_of() {
  local p
  for p in $(pgrep -f "$1"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "WINEPREFIX=$prefix"; then
      echo "$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0) $p"
    fi
  done | sort -n | tail -n1 | cut -d' ' -f2
}
apid=$(pid_of 'vigil-agent.exe')
spid=$(pid_of 'wineserver')
[ -n "$apid" ] || { echo "bench/windows: the agent is not running under Wine" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
a0=$(ticks "$apid"); s0=$( [ -n "$spid" ] && ticks "$spid" || echo 0)
sleep "$secs"
a1=$(ticks "$apid"); s1=$( [ -n "$spid" ] && ticks "$spid" || echo 0)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$apid/status")
srss=$( [ -n "$spid" ] && awk '/VmRSS/ {print $2}' "/proc/$spid/status" || echo 0)
cpu_ms=$(( (a1 - a0) * 1000 / tick ))
srv_ms=$(( (s1 - s0) * 1000 / tick ))
echo "BENCH idle_under_wine secs=$secs settle=$settle agent_rss_kib=$rss agent_cpu_ms=$cpu_ms" \
  "($(awk -v c="$cpu_ms" -v s="$secs" 'BEGIN{printf "%.3f", c/(s*10)}')% of one core)" \
  "wineserver_rss_kib=$srss wineserver_cpu_ms=$srv_ms"
kill "$(jobs -p | tail -n1)" 2>/dev/null || true
wineserver -k 2>/dev/null || true

# The Linux agent idle against the same collector, same settle and window, for the ratios.
ltok=$("$lin/vigil-collector" token create --data-dir "$d/c" --agency p 2>/dev/null)
: >"$d/lin-idle.toml"
"$lin/vigil-agent" enroll --token "$ltok" --state-dir "$d/lin-idle" --config "$d/lin-idle.toml" >/dev/null 2>&1
"$lin/vigil-agent" run --state-dir "$d/lin-idle" --config "$d/lin-idle.toml" >/dev/null 2>&1 &
lpid=$!
sleep "$settle"
l0=$(ticks "$lpid")
sleep "$secs"
l1=$(ticks "$lpid")
lrss=$(awk '/VmRSS/ {print $2}' "/proc/$lpid/status")
lcpu_ms=$(( (l1 - l0) * 1000 / tick ))
kill "$lpid" 2>/dev/null || true
wait "$lpid" 2>/dev/null || true
echo "BENCH idle_linux secs=$secs agent_rss_kib=$lrss agent_cpu_ms=$lcpu_ms" \
  "rss_ratio=$(awk -v w="$rss" -v l="$lrss" 'BEGIN{printf "%.2f", w/l}')x" \
  "cpu_ratio=$(awk -v w="$cpu_ms" -v l="$lcpu_ms" 'BEGIN{printf "%.2f", (l > 0 ? w/l : 0)}')x" \
  "(windows agent under Wine / Linux agent; wineserver not counted)"

# The windows-baseline pack evaluated live under Wine (registry and Win32 calls), against the
# Linux pack on this host with the Linux agent: wall time and peak RSS, best of three.
# measure CMD...: prints "<seconds> <peak RSS KiB>" (GNU time; for Wine, the process running the .exe).
measure() {
  local i
  for i in 1 2 3; do
    /usr/bin/time -f '%e %M' -o "$d/m.$i" "$@" >/dev/null 2>&1 || true
    tail -n1 "$d/m.$i"
  done | sort -g | head -n1
}
wine "$agent" --version >/dev/null 2>&1
wpack=$(measure wine "$agent" check --format json --level 2)
wine "$agent" check --format json --level 2 2>/dev/null >"$d/win-check.json" || true
lpack=$(measure "$lin/vigil-agent" check --root / --pack rules/packs/linux-baseline.yaml --format json --level 2)
wsum=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(" ".join(f"{k}={v}" for k,v in s.items()))' "$d/win-check.json")
echo "BENCH windows_pack_live_under_wine wall_s=${wpack% *} peak_rss_kib=${wpack#* } ($wsum)" \
  "linux_pack_s=${lpack% *} linux_peak_rss_kib=${lpack#* }" \
  "time_ratio=$(awk -v w="${wpack% *}" -v l="${lpack% *}" 'BEGIN{printf "%.2f", (l > 0 ? w/l : 0)}')x" \
  "rss_ratio=$(awk -v w="${wpack#* }" -v l="${lpack#* }" 'BEGIN{printf "%.2f", w/l}')x"
wineserver -k 2>/dev/null || true

# 4. FIM baseline: 10,000 files of 1-8 KiB in 100 folders, the same bytes on both sides.
tree="$d/tree"
python3 - "$tree" "$nfiles" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(15)
for i in range(n):
    sub = os.path.join(root, f"d{i // 100:03}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i:05}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 8192)))
EOF
cp -a "$tree" "$prefix/drive_c/bench"
cat "$tree"/*/* "$prefix"/drive_c/bench/*/* >/dev/null
# Wine's start-up alone, to read the baseline times against.
t0=$(date +%s.%N)
wine "$agent" --version >/dev/null 2>&1
t1=$(date +%s.%N)
wine_start=$(echo "$t1 - $t0" | bc)
baseline_win() {
  rm -rf "$prefix/drive_c/vigil-bench-fim"
  local t0 t1
  t0=$(date +%s.%N)
  wine "$agent" fim baseline --path 'C:\bench' --state-dir 'C:\vigil-bench-fim' >/dev/null 2>&1 || return 1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
baseline_lin() {
  rm -rf "$d/lin-state"
  local t0 t1
  t0=$(date +%s.%N)
  "$lin/vigil-agent" fim baseline --path "$tree" --state-dir "$d/lin-state" >/dev/null 2>&1 || return 1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
# Best of three on each side (the machine is shared).
best() { sort -g | head -n1; }
w=$(for _ in 1 2 3; do baseline_win || echo failed; done | best)
l=$(for _ in 1 2 3; do baseline_lin || echo failed; done | best)
[[ -n "$w" && -n "$l" && "$w$l" != *failed* ]] || { echo "bench/windows: a baseline run failed" >&2; exit 1; }
echo "BENCH fim_baseline files=$nfiles windows_under_wine_s=$w (wine start-up ${wine_start}s) linux_s=$l" \
  "ratio=$(awk -v w="$w" -v l="$l" 'BEGIN{printf "%.2f", w/l}')x"
