#!/usr/bin/env bash
# Hardening-check benchmark on this machine: wall time (median) and peak RSS of `vigil-agent check`
# with the full linux-baseline pack, side by side with OpenSCAP (`oscap xccdf eval`, ssg-debian
# content) and Lynis (`lynis audit system --quick`). A peer that is not installed is skipped with a
# message (Debian packages: openscap-scanner ssg-debian lynis hyperfine). Run as root, like the
# peers, so every tool can read what it checks.
#
# Usage: bench/rules.sh
# Env:   VIGIL_RUNS (default 20), PEER_RUNS (default 3), LYNIS_RUNS (default 1),
#        OSCAP_PROFILE (default anssi_np_nt28_high; `oscap info` lists the others).
# Reports of each tool are kept in bench/out/rules/ for docs/rules-coverage.md.

# /etc/os-release is the host's, read at run time.
# shellcheck disable=SC1091
set -euo pipefail
cd "$(dirname "$0")/.."
vigil_runs="${VIGIL_RUNS:-20}"
peer_runs="${PEER_RUNS:-3}"
lynis_runs="${LYNIS_RUNS:-1}"
profile="xccdf_org.ssgproject.content_profile_${OSCAP_PROFILE:-anssi_np_nt28_high}"
out=bench/out/rules
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --release --locked -p vigil-agent >/dev/null
agent="${CARGO_TARGET_DIR:-target}/release/vigil-agent"
pack=rules/packs/linux-baseline.yaml

# measure NAME RUNS REPORT CMD...: prints "<median seconds> <peak RSS KiB>". Wall time comes from
# hyperfine (one warm-up when RUNS > 1) or, without it, the median of /usr/bin/time runs; peak RSS
# is the largest resident set of the process or of any child it waited for (GNU time's %M), from
# one more run whose stdout is kept in REPORT.
measure() {
	local name=$1 runs=$2 report=$3
	shift 3
	local wall rss
	if command -v hyperfine >/dev/null; then
		local warm=0
		[ "$runs" -gt 1 ] && warm=1
		hyperfine -N -i --runs "$runs" --warmup "$warm" --style none \
			--export-csv "$tmp/$name.csv" -- "$*" >/dev/null 2>&1
		wall=$(tail -n 1 "$tmp/$name.csv" | awk -F, '{print $(NF-4)}')
	else
		for _ in $(seq "$runs"); do
			/usr/bin/time -f %e -o "$tmp/$name.t" "$@" >/dev/null 2>&1 || true
			cat "$tmp/$name.t" >>"$tmp/$name.walls"
		done
		wall=$(sort -n "$tmp/$name.walls" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	fi
	/usr/bin/time -f %M -o "$tmp/$name.rss" "$@" >"$report" 2>/dev/null || true
	rss=$(tail -n 1 "$tmp/$name.rss")
	echo "$wall $rss"
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

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)$( [ -f /.dockerenv ] || grep -qa docker /proc/1/cgroup 2>/dev/null && echo ', in a container')"

# --- Vigil: the whole linux-baseline pack, as `vigil-agent check` runs it.
rules=$(grep -c '^  - id:' "$pack")
add vigil "$vigil_runs" "$out/vigil.json" "$agent" check --pack "$pack" --format json
echo "vigil: $rules rules, $(sed -n '/"summary": {/,/}/p' "$out/vigil.json" | tr -d ' \n')"

# --- OpenSCAP with the newest ssg-debian data stream.
ds=""
for f in /usr/share/xml/scap/ssg/content/ssg-debian*-ds.xml; do
	[ -e "$f" ] && [[ "$f" != *-ds-1.2.xml ]] && ds=$(printf '%s\n%s\n' "$ds" "$f" | sort -V | tail -n 1)
done
if command -v oscap >/dev/null && [ -n "$ds" ]; then
	content_ver=$(basename "$ds" | sed -E 's/ssg-debian([0-9]+)-ds.xml/\1/')
	host_ver=$(. /etc/os-release && echo "${VERSION_ID:-}")
	if [ "$(. /etc/os-release && echo "$ID")" = debian ] && [ -n "$host_ver" ] && [ "$host_ver" != "$content_ver" ]; then
		# The content's platform check accepts only its own release (`^11.[0-9]+$` on
		# /etc/debian_version); widen it in a copy so rules run instead of all being notapplicable.
		sed "s/\^${content_ver}\.\[0-9\]+\\$/^(${content_ver}|${host_ver}).[0-9]+\$/" "$ds" >"$tmp/ds.xml"
		echo "openscap: $(basename "$ds") with its Debian $content_ver platform check widened to $host_ver (copy in a temp dir)"
		ds="$tmp/ds.xml"
	fi
	add openscap "$peer_runs" "$out/oscap.txt" oscap xccdf eval --profile "$profile" --results "$out/oscap-results.xml" "$ds"
	echo "openscap: profile ${profile##*_profile_}, $(grep -c '^Result' "$out/oscap.txt") rules: $(grep '^Result' "$out/oscap.txt" | cut -f2 | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"
else
	echo "openscap: skipped (oscap or ssg-debian content not installed)"
fi

# --- Lynis, quick mode (no pauses).
if command -v lynis >/dev/null; then
	add lynis "$lynis_runs" "$out/lynis.txt" lynis audit system --quick --no-colors
	cp /var/log/lynis-report.dat "$out/lynis-report.dat" 2>/dev/null || true
	echo "lynis: $(grep -c '' <(grep '^tests_executed=' "$out/lynis-report.dat" | cut -d= -f2 | tr '|' '\n')) tests, $(grep -c '^warning\[\]' "$out/lynis-report.dat") warnings, $(grep -c '^suggestion\[\]' "$out/lynis-report.dat") suggestions, hardening index $(grep '^hardening_index=' "$out/lynis-report.dat" | cut -d= -f2)"
else
	echo "lynis: skipped (not installed)"
fi

echo
printf '%-10s %12s %14s %14s %12s\n' tool "wall (median)" "peak RSS" "time / Vigil" "RSS / Vigil"
for n in "${names[@]}"; do
	awk -v n="$n" -v w="${wall[$n]}" -v r="${rss[$n]}" -v w0="${wall[vigil]}" -v r0="${rss[vigil]}" \
		'BEGIN { printf "%-10s %10.3f s %10.1f MiB %13.1fx %11.1fx\n", n, w, r/1024, w/w0, r/r0 }'
done
awk -v w="${wall[vigil]}" 'BEGIN { printf "\ntarget Vigil < 1 s: %s (%.3f s)\n", (w < 1 ? "met" : "MISSED"), w }'
