#!/bin/sh
# Tests the rpm packaging: both .rpm files build with rpmbuild, carry the expected metadata, files,
# modes, config files and scriptlets, install into an empty root with `rpm --root`, upgrade there
# keeping an edited configuration, and erase cleanly. The root has no shell or C library, so the
# install skips dependencies and scriptlets; each scriptlet is checked with `sh -n` instead.
set -eu

usage() {
    cat <<'USAGE'
Usage: packaging/test-rpm.sh [--bin-dir DIR]

  --bin-dir DIR  Binaries to package (default: $CARGO_TARGET_DIR/release, built if missing).

Exit codes: 0 all passed, 1 a check failed, 2 usage error or missing tool.
USAGE
}

here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/.." && pwd)
bin_dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) [ $# -ge 2 ] || { usage >&2; exit 2; }; bin_dir=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() {
    echo "ok: $*"
}
for t in rpm rpmbuild jq; do
    command -v "$t" >/dev/null 2>&1 || { echo "missing tool $t (apt-get install rpm jq)" >&2; exit 2; }
done

target_dir=${CARGO_TARGET_DIR:-$workspace/target}
build_flag=
if [ -z "$bin_dir" ]; then
    bin_dir=$target_dir/release
    if [ ! -x "$bin_dir/vigil-agent" ] || [ ! -x "$bin_dir/vigil-collector" ]; then
        build_flag=build
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "$build_flag" ]; then
    "$here/build-rpm.sh" --out "$work/rpms" >"$work/built"
else
    "$here/build-rpm.sh" --bin-dir "$bin_dir" --out "$work/rpms" >"$work/built"
fi
agent=$(grep '/vigil-agent-' "$work/built")
collector=$(grep '/vigil-collector-' "$work/built")
version=$(cd "$workspace" && cargo metadata --no-deps --format-version 1 --offline |
    jq -r '.packages[] | select(.name == "vigil-agent") | .version')

# Metadata.
rpm -qip "$agent" >"$work/info" 2>&1
grep -q "^Name *: vigil-agent$" "$work/info" || fail "agent name: $(cat "$work/info")"
grep -q "^Version *: $version$" "$work/info" || fail "agent version is not $version"
grep -q "^License *: Apache-2.0$" "$work/info" || fail "agent licence"
rpm -qp --requires "$agent" | grep -q '^libc.so.6' || fail "agent requires no libc"
rpm -qp --requires "$collector" | grep -qx 'shadow-utils' || fail "collector lacks shadow-utils"
ok "metadata of $(basename "$agent")"

# Files, modes and config files.
rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$agent" \
    >"$work/agent.files"
cat >"$work/agent.want" <<'WANT'
drwxr-x--- root:root /etc/vigil
-rw-r----- root:root /etc/vigil/agent.toml
-rwxr-xr-x root:root /usr/bin/vigil-agent
-rw-r--r-- root:root /usr/lib/sysctl.d/60-vigil-inotify.conf
-rw-r--r-- root:root /usr/lib/systemd/system/vigil-agent.service
-rw-r--r-- root:root /usr/share/doc/vigil-agent/README.md
WANT
diff -u "$work/agent.want" "$work/agent.files" || fail "agent file list"
[ "$(rpm -qcp "$agent")" = /etc/vigil/agent.toml ] || fail "agent.toml is not a config file"
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$agent" |
    grep -qx 'cn /etc/vigil/agent.toml' || fail "agent.toml is not %config(noreplace)"
rpm -qlp "$collector" >"$work/collector.files"
for f in /usr/bin/vigil-collector /usr/lib/systemd/system/vigil-collector.service; do
    grep -qx "$f" "$work/collector.files" || fail "collector lacks $f"
done
ok "file lists, modes and config files"

# Scriptlets: present, as in packaging/rpm/, and valid shell.
rpm -qp --scripts "$agent" >"$work/agent.scripts"
rpm -qp --scripts "$collector" >"$work/collector.scripts"
for s in postinstall preuninstall postuninstall; do
    grep -q "^$s scriptlet (using /bin/sh):" "$work/agent.scripts" || fail "agent lacks $s"
done
grep -q '^preinstall scriptlet' "$work/collector.scripts" || fail "collector lacks preinstall"
grep -q 'useradd --system --gid vigil' "$work/collector.scripts" || fail "collector %pre user"
# shellcheck disable=SC2016 # a literal $STATE_DIR
grep -qF 'chmod 0700 "$STATE_DIR"' "$work/agent.scripts" || fail "agent %post state dir"
for f in "$here"/rpm/*/*; do
    sh -n "$f" || fail "$f is not valid sh"
done
ok "scriptlets"

# Install, upgrade and erase in an empty root.
root=$work/root
mkdir -p "$root"
rpm --root "$root" --initdb
rpm --root "$root" -i --nodeps --noscripts "$agent" "$collector" 2>"$work/install.log" ||
    { cat "$work/install.log" >&2; fail "rpm --root -i"; }
[ "$(rpm --root "$root" -q vigil-agent)" = "vigil-agent-$version-1.$(rpm -qp --qf '%{ARCH}' "$agent")" ] ||
    fail "installed agent version"
rpm --root "$root" -ql vigil-agent >"$work/installed"
while read -r f; do
    [ -e "$root$f" ] || fail "installed file $f missing in the root"
done <"$work/installed"
[ "$(stat -c %a "$root/etc/vigil/agent.toml")" = 640 ] || fail "agent.toml mode in the root"
[ "$(stat -c %a "$root/etc/vigil")" = 750 ] || fail "/etc/vigil mode in the root"
rpm --root "$root" -V --nodeps vigil-agent vigil-collector || fail "rpm -V after install"
ok "installed into a root with rpm --root"

echo '# edited by the administrator' >>"$root/etc/vigil/agent.toml"
"$here/build-rpm.sh" --bin-dir "$bin_dir" --version "$version" --release 2 --out "$work/rpms2" \
    vigil-agent >"$work/built2"
rpm --root "$root" -U --nodeps --noscripts "$(cat "$work/built2")" ||
    fail "rpm --root -U to release 2"
rpm --root "$root" -q vigil-agent | grep -q -- "-$version-2\." || fail "upgrade did not happen"
grep -q 'edited by the administrator' "$root/etc/vigil/agent.toml" ||
    fail "upgrade replaced the edited agent.toml"
ok "upgrade keeps the edited configuration"

rpm --root "$root" -e --nodeps --noscripts vigil-agent vigil-collector || fail "rpm --root -e"
[ ! -e "$root/usr/bin/vigil-agent" ] || fail "binary left after erase"
[ -f "$root/etc/vigil/agent.toml.rpmsave" ] || fail "edited agent.toml not kept as .rpmsave"
[ -z "$(rpm --root "$root" -qa)" ] || fail "packages left in the root's database"
ok "erase removes the files and keeps the edited configuration as .rpmsave"
