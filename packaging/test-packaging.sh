#!/bin/sh
# Tests the packaging: shell scripts lint clean, systemd units verify and stay under the exposure
# targets, both .debs build and pass lintian without errors and carry the expected files, both
# .rpms build, install into a root and upgrade there (test-rpm.sh). With
# VIGIL_TEST_DEBOOTSTRAP=1 it also installs, enrolls, upgrades, removes and uninstalls the agent
# package inside a fresh Debian chroot, talking to a collector on the host over loopback.
# dpkg-query -f formats below are literal on purpose.
# shellcheck disable=SC2016
set -eu

AGENT_EXPOSURE_MAX=3.0
COLLECTOR_EXPOSURE_MAX=2.0

usage() {
    cat <<'EOF'
Usage: packaging/test-packaging.sh [--no-build]

  --no-build   Use the release binaries already in $CARGO_TARGET_DIR/release.

Environment:
  CARGO_TARGET_DIR          Cargo target directory (default: target/).
  VIGIL_TEST_DEBOOTSTRAP=1  Also run the chroot test (needs root, debootstrap and the Debian
                            mirror from /etc/apt/sources.list*; a few minutes).
  VIGIL_TEST_STATIC=1       Also build and check the static musl tarball (a second full build).
  VIGIL_DEBIAN_MIRROR, VIGIL_DEBIAN_SUITE   Override the mirror and suite for debootstrap.

Missing tools (shellcheck, lintian, jq, debootstrap, musl-tools) are installed with apt-get when
running as root. Exit codes: 0 all passed, 1 a check failed, 2 usage error or missing tool.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/.." && pwd)
build_flag=
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build_flag=--no-build; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

target_dir=${CARGO_TARGET_DIR:-$workspace/target}
case "$target_dir" in
    /*) ;;
    *) target_dir=$workspace/$target_dir ;;
esac
export CARGO_TARGET_DIR="$target_dir"

started=$(date +%s)
section() {
    now=$(date +%s)
    echo
    echo "### $* (t=$((now - started))s)"
}
ok() {
    echo "ok: $*"
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

apt_updated=no
need() {
    tool=$1
    pkg=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        if [ "$apt_updated" = no ]; then
            # One stale index (a mirror mid-sync) must not stop the install of what the others
            # list; the install below fails clearly if the package really cannot be had.
            apt-get update -qq >/dev/null ||
                echo "warning: apt-get update reported errors; installing anyway" >&2
            apt_updated=yes
        fi
        echo "installing $pkg for $tool"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    fi
    command -v "$tool" >/dev/null 2>&1 || { echo "missing tool $tool (package $pkg)" >&2; exit 2; }
}

need shellcheck shellcheck
need lintian lintian
need jq jq
need systemd-analyze systemd
need dpkg-shlibdeps dpkg-dev

work=$(mktemp -d)
cleanup_fast() {
    rm -rf "$work"
}
trap cleanup_fast EXIT
trap 'exit 1' INT TERM

# ---------------------------------------------------------------------------------------------
section "shellcheck"
shellcheck "$here"/*.sh
# Maintainer scripts only (postinst, prerm, postrm); lintian-overrides is not shell.
shellcheck -s sh "$here"/deb/agent/p* "$here"/deb/collector/p* "$here"/rpm/*/*
ok "scripts are shellcheck-clean"

# ---------------------------------------------------------------------------------------------
section "systemd-analyze security"
exposure() {
    systemd-analyze security --offline=yes --no-pager "$1" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
for pair in "vigil-agent:$AGENT_EXPOSURE_MAX" "vigil-collector:$COLLECTOR_EXPOSURE_MAX"; do
    unit=${pair%%:*}
    max=${pair#*:}
    score=$(exposure "$here/systemd/$unit.service")
    [ -n "$score" ] || fail "$unit: systemd-analyze printed no exposure level"
    awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' ||
        fail "$unit: exposure $score is above $max"
    ok "$unit exposure $score (target <= $max)"
done

# ---------------------------------------------------------------------------------------------
section "build .deb packages"
"$here/build-deb.sh" ${build_flag:+"$build_flag"} --out "$work/debs" >"$work/built"
agent_deb=$(grep '/vigil-agent_' "$work/built")
collector_deb=$(grep '/vigil-collector_' "$work/built")
for d in "$agent_deb" "$collector_deb"; do
    echo "$(basename "$d"): $(stat -c %s "$d") bytes"
done
for b in vigil-agent vigil-collector; do
    echo "release $b: $(stat -c %s "$target_dir/release/$b") bytes"
done

# ---------------------------------------------------------------------------------------------
section "package contents"
dpkg-deb -c "$agent_deb" >"$work/agent.list"
grep -q ' root/root .* \./usr/bin/vigil-agent$' "$work/agent.list" || fail "agent binary missing"
grep -q '^-rw-r----- root/root .* \./etc/vigil/agent.toml$' "$work/agent.list" ||
    fail "agent.toml missing or not 0640 root:root"
grep -q '\./lib/systemd/system/vigil-agent.service$' "$work/agent.list" || fail "agent unit missing"
grep -q '\./usr/lib/sysctl.d/60-vigil-inotify.conf$' "$work/agent.list" || fail "sysctl file missing"
dpkg-deb -e "$agent_deb" "$work/agent-control"
grep -qx /etc/vigil/agent.toml "$work/agent-control/conffiles" || fail "agent.toml is not a conffile"
dpkg-deb -f "$agent_deb" Depends | grep -q libc6 || fail "agent Depends lacks libc6"
dpkg-deb -c "$collector_deb" >"$work/collector.list"
grep -q '\./lib/systemd/system/vigil-collector.service$' "$work/collector.list" ||
    fail "collector unit missing"
dpkg-deb -f "$collector_deb" Depends | grep -q passwd || fail "collector Depends lacks passwd"
ok "files, modes, conffiles and dependencies as expected"

# ---------------------------------------------------------------------------------------------
section "lintian"
lintian "$agent_deb" "$collector_deb" >"$work/lintian" 2>&1 || true
sed 's/^/    /' "$work/lintian"
if grep -q '^E:' "$work/lintian"; then
    fail "lintian reported errors"
fi
ok "lintian: no errors ($(grep -c '^W:' "$work/lintian" || true) warnings)"

# ---------------------------------------------------------------------------------------------
section "systemd-analyze verify"
vroot=$work/vroot
mkdir -p "$vroot/usr/lib/systemd/system"
dpkg-deb -x "$agent_deb" "$vroot"
dpkg-deb -x "$collector_deb" "$vroot"
# The units pull in standard targets; give the temporary root the host's.
for f in /usr/lib/systemd/system/*.target /usr/lib/systemd/system/*.slice; do
    [ -e "$vroot/usr/lib/systemd/system/$(basename "$f")" ] || cp -P "$f" "$vroot/usr/lib/systemd/system/"
done
if ! systemd-analyze verify --root="$vroot" vigil-agent.service vigil-collector.service \
    >"$work/verify" 2>&1 || [ -s "$work/verify" ]; then
    cat "$work/verify" >&2
    fail "systemd-analyze verify"
fi
ok "units verify against the packaged binaries"

# ---------------------------------------------------------------------------------------------
section "rpm packages (test-rpm.sh)"
need rpmbuild rpm
"$here/test-rpm.sh" --bin-dir "$target_dir/release" 2>"$work/rpm.log" ||
    { cat "$work/rpm.log" >&2; fail "test-rpm.sh"; }

# ---------------------------------------------------------------------------------------------
section "install-agent.sh arguments"
"$here/install-agent.sh" --help | grep -q '^Exit codes:' || fail "--help lacks exit codes"
rc=0
"$here/install-agent.sh" --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "unknown argument gave exit $rc, expected 2"
rc=0
"$here/install-agent.sh" --deb a.deb --binary b >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--deb with --binary gave exit $rc, expected 2"
rc=0
"$here/install-agent.sh" --rpm a.rpm --deb b.deb >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--rpm with --deb gave exit $rc, expected 2"
rc=0
"$here/install-agent.sh" --rpm "$here/README.md" --token x >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--rpm with a file that is no rpm gave exit $rc, expected 2"
ok "usage errors exit 2"

# ---------------------------------------------------------------------------------------------
if [ "${VIGIL_TEST_STATIC:-0}" = 1 ]; then
    section "static musl tarball"
    need musl-gcc musl-tools
    if command -v rustup >/dev/null 2>&1; then
        rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 ||
            fail "rustup target add x86_64-unknown-linux-musl failed"
    fi
    "$here/build-static.sh" --out "$work/dist" >"$work/static"
    tarball=$(cat "$work/static")
    tar -tzf "$tarball" | grep -q '/vigil-agent$' || fail "tarball lacks the binary"
    tar -tzf "$tarball" | grep -q '/install-agent.sh$' || fail "tarball lacks install-agent.sh"
    mkdir -p "$work/static-x"
    tar -xzf "$tarball" -C "$work/static-x"
    static_bin=$(find "$work/static-x" -name vigil-agent -type f)
    "$static_bin" --version >/dev/null || fail "static binary does not run"
    echo "$(basename "$tarball"): $(stat -c %s "$tarball") bytes; binary $(stat -c %s "$static_bin") bytes"
    ok "static tarball"
fi

# ---------------------------------------------------------------------------------------------
if [ "${VIGIL_TEST_DEBOOTSTRAP:-0}" != 1 ]; then
    section "done (chroot test skipped; set VIGIL_TEST_DEBOOTSTRAP=1)"
    exit 0
fi

section "chroot test: debootstrap"
[ "$(id -u)" = 0 ] || { echo "the chroot test needs root" >&2; exit 2; }
need debootstrap debootstrap
need mountpoint util-linux

detect_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' "$f"
    done | head -n 1
    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
            /etc/apt/sources.list
    fi
}
mirror=${VIGIL_DEBIAN_MIRROR:-$(detect_mirror | head -n 1)}
suite=${VIGIL_DEBIAN_SUITE:-$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)}
[ -n "$suite" ] || suite=bookworm
[ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt; set VIGIL_DEBIAN_MIRROR" >&2; exit 2; }

tmp=$(mktemp -d /var/tmp/vigil-pkgtest.XXXXXX)
root=$tmp/root
agent_pid=
collector_pid=
cleanup_chroot() {
    set +e
    for pid in $agent_pid $collector_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    # Anything still running inside the chroot was started by this test.
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/root" 2>/dev/null)" in
            "$root"|"$root"/*) kill "${p#/proc/}" 2>/dev/null ;;
        esac
    done
    for m in "$root/dev" "$root/proc"; do
        if mountpoint -q "$m" 2>/dev/null; then
            umount "$m" 2>/dev/null || umount -l "$m"
        fi
    done
    # Never delete through a mount that is still there: rm -rf would reach the host's /dev.
    if grep -q " $root/" /proc/mounts; then
        echo "warning: mounts under $root remain; not deleting $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    rm -rf "$work"
}
trap cleanup_chroot EXIT
trap 'exit 1' INT TERM

echo "debootstrap --variant=minbase --include=fonts-dejavu-core $suite from $mirror"
mkdir -p "$tmp/cache"
# The collector package depends on fonts-dejavu-core (the PDF reports' font).
debootstrap --variant=minbase --include=fonts-dejavu-core --cache-dir="$tmp/cache" "$suite" "$root" "$mirror" \
    >"$tmp/debootstrap.log" 2>&1 || { tail -n 20 "$tmp/debootstrap.log" >&2; fail "debootstrap"; }
rm -rf "$tmp/cache"
mount --bind /proc "$root/proc"
mount --bind /dev "$root/dev"
# A real host has a machine id; a fresh debootstrap root has none.
tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
ok "Debian $suite root ready"

in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 "$@"
}

section "chroot test: collector on the host"
cbin=$target_dir/release/vigil-collector
cdir=$tmp/collector
port=$((20000 + $$ % 20000))
hport=$((port + 1))
"$cbin" init --data-dir "$cdir" --quic "127.0.0.1:$port" --http "127.0.0.1:$hport" \
    --name 127.0.0.1 >/dev/null
"$cbin" agency add --data-dir "$cdir" --id pkgtest --name "Packaging test" >/dev/null
token=$("$cbin" token create --data-dir "$cdir" --agency pkgtest --uses 5 2>/dev/null)
"$cbin" run --data-dir "$cdir" >"$tmp/collector.log" 2>&1 &
collector_pid=$!
i=0
until ss -Hlun "sport = :$port" 2>/dev/null | grep -q .; do
    i=$((i + 1))
    [ "$i" -lt 50 ] || { cat "$tmp/collector.log" >&2; fail "collector did not listen on UDP $port"; }
    sleep 0.2
done
ok "collector listening on 127.0.0.1:$port"

mkdir -p "$root/tmp/vigil/systemd" "$root/tmp/vigil/sysctl"
cp "$agent_deb" "$root/tmp/vigil/"
cp "$here/install-agent.sh" "$here/agent.toml" "$root/tmp/vigil/"
cp "$here/systemd/vigil-agent.service" "$root/tmp/vigil/systemd/"
cp "$here/sysctl/60-vigil-inotify.conf" "$root/tmp/vigil/sysctl/"
# The binary-install path uses the static build when this run made one.
cp "${static_bin:-$target_dir/release/vigil-agent}" "$root/tmp/vigil/vigil-agent.bin"
deb1=/tmp/vigil/$(basename "$agent_deb")

agent_id() {
    jq -r .agent_id "$root/var/lib/vigil/identity.json"
}
# The agent runs with the unit's capability bounding set and no_new_privs, as under systemd.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$here/systemd/vigil-agent.service" |
    tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
[ -n "$caps" ] || fail "no CapabilityBoundingSet= in the agent unit"
# A plain background command (not a function, which would fork a subshell): chroot, setpriv and
# env exec, so $! is the agent's own pid.
start_agent() {
    chroot "$root" /usr/bin/setpriv --bounding-set "-all,$caps" --no-new-privs \
        /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        /usr/bin/vigil-agent --config /etc/vigil/agent.toml --state-dir /var/lib/vigil run \
        >>"$tmp/agent.log" 2>&1 &
    agent_pid=$!
}
stop_agent() {
    kill "$agent_pid"
    wait "$agent_pid" || true
    [ ! -d "/proc/$agent_pid" ] || fail "agent $agent_pid did not stop"
    agent_pid=
}
# Connected, as reported by this very process (a stale status.json from an earlier run won't do).
wait_connected() {
    i=0
    until [ "$(jq -r "select(.pid == $agent_pid) | .connected" "$root/var/lib/vigil/status.json" \
        2>/dev/null)" = true ]; do
        i=$((i + 1))
        [ "$i" -lt 150 ] || { tail -n 20 "$tmp/agent.log" >&2; fail "agent did not connect"; }
        sleep 0.2
    done
}
state_digest() {
    (cd "$root/var/lib/vigil" && find . -type f -exec sha256sum {} + | sort)
}
live_hosts() {
    "$cbin" hosts --data-dir "$cdir" --json | jq -r '.hosts[] | select(.revoked | not) | .id'
}

section "chroot test: install and enroll from the .deb"
# The token on standard input, as the console's install command passes it.
printf '%s\n' "$token" | in_root sh /tmp/vigil/install-agent.sh --deb "$deb1" \
    >"$tmp/install1.log" 2>&1 || { cat "$tmp/install1.log" >&2; fail "install-agent.sh (first run)"; }
sed 's/^/    /' "$tmp/install1.log"
[ "$(in_root dpkg-query -W -f '${Status}' vigil-agent)" = "install ok installed" ] ||
    fail "package not installed"
[ "$(stat -c %a:%U "$root/var/lib/vigil")" = 700:root ] || fail "state dir is not 0700 root"
[ "$(stat -c %a:%U:%G "$root/etc/vigil/agent.toml")" = 640:root:root ] ||
    fail "agent.toml is not 0640 root:root"
id1=$(agent_id)
[ -n "$id1" ] || fail "no agent id after enrollment"
ok "installed and enrolled as $id1"

start_agent
wait_connected
[ "$(live_hosts)" = "$id1" ] || fail "collector does not list exactly agent $id1"
want=$(setpriv --bounding-set "-all,$caps" sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
[ "$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$agent_pid/status")" = "$want" ] ||
    fail "the agent's effective capabilities are not the unit's bounding set ($want)"
ok "agent in the chroot (bounding set $caps) connected to the collector on the host"

section "chroot test: second run is harmless"
printf '%s\n' "$token" | in_root sh /tmp/vigil/install-agent.sh --token - --deb "$deb1" \
    >"$tmp/install2.log" 2>&1 || { cat "$tmp/install2.log" >&2; fail "install-agent.sh (second run)"; }
sed 's/^/    /' "$tmp/install2.log"
grep -q 'installed already' "$tmp/install2.log" || fail "second run reinstalled the package"
grep -q 'Already enrolled' "$tmp/install2.log" || fail "second run enrolled again"
[ "$(agent_id)" = "$id1" ] || fail "second run changed the agent id"
ok "second run kept package and identity"
stop_agent

section "chroot test: upgrade keeps identity and spool"
"$here/build-deb.sh" --no-build --version 0.1.1-1 --out "$tmp/debs" vigil-agent >"$tmp/built2"
cp "$(cat "$tmp/built2")" "$root/tmp/vigil/"
deb2=/tmp/vigil/$(basename "$(cat "$tmp/built2")")
before=$(state_digest)
in_root sh /tmp/vigil/install-agent.sh --deb "$deb2" >"$tmp/install3.log" 2>&1 ||
    { cat "$tmp/install3.log" >&2; fail "install-agent.sh (upgrade)"; }
sed 's/^/    /' "$tmp/install3.log"
[ "$(in_root dpkg-query -W -f '${Version}' vigil-agent)" = 0.1.1-1 ] || fail "not upgraded"
[ "$(state_digest)" = "$before" ] || fail "the upgrade changed files in /var/lib/vigil"
[ "$(agent_id)" = "$id1" ] || fail "the upgrade changed the agent id"
start_agent
wait_connected
[ "$(live_hosts)" = "$id1" ] || fail "after the upgrade the collector lists other agents"
stop_agent
ok "0.1.0-1 -> 0.1.1-1: /var/lib/vigil byte-identical, same agent id, reconnected"

section "chroot test: remove keeps state, reinstall resumes"
in_root dpkg -r vigil-agent >"$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log" >&2; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/vigil-agent" ] || fail "dpkg -r left the binary"
[ -f "$root/var/lib/vigil/identity.json" ] || fail "dpkg -r deleted the identity"
[ -f "$root/etc/vigil/agent.toml" ] || fail "dpkg -r deleted the configuration"
in_root sh /tmp/vigil/install-agent.sh --deb "$deb2" >"$tmp/install4.log" 2>&1 ||
    { cat "$tmp/install4.log" >&2; fail "install-agent.sh (reinstall)"; }
grep -q 'Already enrolled' "$tmp/install4.log" || fail "reinstall enrolled again"
[ "$(agent_id)" = "$id1" ] || fail "reinstall changed the agent id"
ok "dpkg -r kept identity and configuration; reinstall resumed as $id1"

section "chroot test: uninstall with a state backup"
in_root sh /tmp/vigil/install-agent.sh --uninstall --keep-state /root/vigil-backup \
    >"$tmp/uninstall.log" 2>&1 || { cat "$tmp/uninstall.log" >&2; fail "install-agent.sh --uninstall"; }
sed 's/^/    /' "$tmp/uninstall.log"
status=$(in_root dpkg-query -W -f '${db:Status-Abbrev}' vigil-agent 2>/dev/null || true)
case "$status" in
    ''|u*) ;;
    *) fail "package still known to dpkg as '$status'" ;;
esac
for p in /usr/bin/vigil-agent /var/lib/vigil /etc/vigil /lib/systemd/system/vigil-agent.service; do
    [ ! -e "$root$p" ] || fail "$p remains after --uninstall"
done
backup=$(find "$root/root/vigil-backup" -name 'vigil-agent-state-*.tar.gz' | head -n 1)
[ -n "$backup" ] || fail "no state backup written"
tar -tzf "$backup" | grep -q '^var/lib/vigil/identity.json$' || fail "backup lacks identity.json"
ok "purged; state saved in $(basename "$backup")"

section "chroot test: static-binary path (no package)"
rc=0
in_root sh /tmp/vigil/install-agent.sh --token not-a-token --binary /tmp/vigil/vigil-agent.bin \
    >"$tmp/install5.log" 2>&1 || rc=$?
[ "$rc" = 4 ] || { cat "$tmp/install5.log" >&2; fail "a bad token gave exit $rc, expected 4"; }
# A stand-in agent binary records every command line on the machine while it enrolls: the token
# (here from a 0600 file) must be in none of them.
cat >"$root/tmp/vigil/vigil-agent.spy" <<'EOF'
#!/bin/sh
case " $* " in
    *" enroll "*) cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' >/tmp/vigil/cmdlines ;;
esac
exec /tmp/vigil/vigil-agent.bin "$@"
EOF
chmod 0755 "$root/tmp/vigil/vigil-agent.spy"
(umask 077 && printf '%s\n' "$token" >"$root/root/token.txt")
in_root sh /tmp/vigil/install-agent.sh --token-file /root/token.txt \
    --binary /tmp/vigil/vigil-agent.spy >"$tmp/install6.log" 2>&1 ||
    { cat "$tmp/install6.log" >&2; fail "install-agent.sh --binary"; }
sed 's/^/    /' "$tmp/install6.log"
grep -q 'install-agent.sh' "$root/tmp/vigil/cmdlines" || fail "the enrollment spy saw no installer"
if grep -qF "$token" "$root/tmp/vigil/cmdlines"; then
    fail "the token is in a command line while enrolling"
fi
ok "the token was in no command line while enrolling"
[ -x "$root/usr/local/bin/vigil-agent" ] || fail "binary not installed to /usr/local/bin"
[ -f "$root/etc/sysctl.d/60-vigil-inotify.conf" ] || fail "sysctl file not installed"
id2=$(agent_id)
if [ -z "$id2" ] || [ "$id2" = "$id1" ]; then
    fail "re-enrollment after purge gave no new id"
fi
[ "$(live_hosts)" = "$id2" ] || fail "the collector did not replace the old identity of this machine"
in_root sh /tmp/vigil/install-agent.sh --uninstall >"$tmp/uninstall2.log" 2>&1 ||
    { cat "$tmp/uninstall2.log" >&2; fail "--uninstall of the binary install"; }
for p in /usr/local/bin/vigil-agent /etc/sysctl.d/60-vigil-inotify.conf /var/lib/vigil /etc/vigil; do
    [ ! -e "$root$p" ] || fail "$p remains after --uninstall"
done
ok "binary install enrolled as $id2 (replacing $id1) and uninstalled cleanly"

section "chroot test: collector package"
cp "$collector_deb" "$root/tmp/vigil/"
cdeb=/tmp/vigil/$(basename "$collector_deb")
in_root dpkg -i "$cdeb" >"$tmp/cinstall.log" 2>&1 || { cat "$tmp/cinstall.log" >&2; fail "dpkg -i collector"; }
sed 's/^/    /' "$tmp/cinstall.log"
in_root getent passwd vigil | grep -q ':/var/lib/vigil-collector:/usr/sbin/nologin$' ||
    fail "system user vigil missing or wrong"
# stat inside the chroot: the host's passwd has no vigil user.
[ "$(in_root stat -c %a:%U:%G /var/lib/vigil-collector)" = 700:vigil:vigil ] ||
    fail "collector data dir is not 0700 vigil:vigil"
in_root runuser -u vigil -- vigil-collector init --data-dir /var/lib/vigil-collector \
    --quic 127.0.0.1:$((port + 2)) --name 127.0.0.1 >"$tmp/cinit.log" 2>&1 ||
    { cat "$tmp/cinit.log" >&2; fail "collector init as vigil"; }
in_root runuser -u vigil -- vigil-collector validate \
    --config /var/lib/vigil-collector/collector.toml >/dev/null || fail "collector validate as vigil"
in_root dpkg -i "$cdeb" >"$tmp/cinstall2.log" 2>&1 || fail "collector reinstall over itself"
[ -f "$root/var/lib/vigil-collector/collector.toml" ] || fail "reinstall lost collector.toml"
in_root dpkg --purge vigil-collector >"$tmp/cpurge.log" 2>&1 || fail "dpkg --purge collector"
[ ! -e "$root/var/lib/vigil-collector" ] || fail "purge left /var/lib/vigil-collector"
ok "collector package: user vigil, 0700 data dir, init as vigil, reinstall keeps data, purge"

section "done"
