#!/usr/bin/env bash
# Offline Windows check benchmark: wall time (median) and peak RSS of `vigil-agent check --root`
# with the whole windows-baseline pack on a generated Windows volume (hive files under
# Windows/System32/config, SOFTWARE padded to a real hive's size), against two references measured
# in the same run on the same files:
#   - hivex: libhivex exporting the whole SOFTWARE hive (`hivexregedit --export`, Debian
#     libwin-hivex-perl), one full read of the largest hive by a peer parser;
#   - linux: `vigil-agent check` with the linux-baseline pack on this host's root.
#
# Usage: bench/windows-offline.sh [SOFTWARE_MIB]   (default 64; a real Windows 11 SOFTWARE hive is 50-120)
# Env:   VIGIL_RUNS (default 10), PEER_RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-64}"
vigil_runs="${VIGIL_RUNS:-10}"
peer_runs="${PEER_RUNS:-3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --release --locked -p vigil-agent >/dev/null
cargo build --release --locked -p vigil-rules --example winvol >/dev/null
t="${CARGO_TARGET_DIR:-target}/release"
agent="$t/vigil-agent"
vol="$tmp/vol"
"$t/examples/winvol" "$vol" "$mib" | sed 's/^/hive /'

# measure NAME RUNS CMD...: prints "<median seconds> <peak RSS KiB>" (GNU time; RSS from the last run).
measure() {
	local name=$1 runs=$2
	shift 2
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %M' -o "$tmp/$name.t" "$@" >/dev/null 2>&1 || true
		tail -n 1 "$tmp/$name.t" >>"$tmp/$name.runs"
	done
	sort -n "$tmp/$name.runs" | awk '{w[NR]=$1; r=$2} END {print w[int((NR+1)/2)], r}'
}

declare -A wall rss
names=()
add() {
	local r
	r=$(measure "$@")
	wall[$1]=${r% *}
	rss[$1]=${r#* }
	names+=("$1")
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
rules=$(grep -c '^  - id:' rules/packs/windows-baseline.yaml)
"$agent" check --root "$vol" --pack rules/packs/windows-baseline.yaml --format json >"$tmp/report.json" || true
echo "vigil: $rules rules, $(sed -n '/"summary": {/,/}/p' "$tmp/report.json" | tr -d ' \n')"
add vigil "$vigil_runs" "$agent" check --root "$vol" --pack rules/packs/windows-baseline.yaml --format json
if command -v hivexregedit >/dev/null; then
	add hivex "$peer_runs" hivexregedit --export "$vol/Windows/System32/config/SOFTWARE" "\\"
else
	echo "hivex: skipped (libwin-hivex-perl not installed)"
fi
add linux "$vigil_runs" "$agent" check --root / --pack rules/packs/linux-baseline.yaml --format json

echo
printf '%-8s %14s %12s %14s %12s\n' run "wall (median)" "peak RSS" "time / vigil" "RSS / vigil"
for n in "${names[@]}"; do
	awk -v n="$n" -v w="${wall[$n]}" -v r="${rss[$n]}" -v w0="${wall[vigil]}" -v r0="${rss[vigil]}" \
		'BEGIN { printf "%-8s %12.3f s %8.1f MiB %13.2fx %11.2fx\n", n, w, r/1024, (w0 > 0 ? w/w0 : 0), r/r0 }'
done
