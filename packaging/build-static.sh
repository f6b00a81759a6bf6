#!/bin/sh
# Builds a statically linked vigil-agent (x86_64-unknown-linux-musl) and packs it with the
# install script, systemd unit, sysctl file and sample configuration into one tarball, for hosts
# without dpkg or with a glibc older than the build machine's.
set -eu

TARGET=x86_64-unknown-linux-musl

usage() {
    cat <<'EOF'
Usage: packaging/build-static.sh [--no-build] [--out DIR]

Builds target/x86_64-unknown-linux-musl/release/vigil-agent and writes
vigil-agent-<version>-x86_64-linux-musl.tar.gz. Needs the Rust target
(rustup target add x86_64-unknown-linux-musl) and musl-gcc (apt-get install musl-tools) for the
C parts of the crypto library.

  --no-build    Pack the binary already built.
  --out DIR     Where to write the tarball (default: $CARGO_TARGET_DIR/dist).
  -h, --help    This help.

Prints the tarball's path. Exit codes: 0 ok, 2 usage error or missing toolchain, 3 build failure
or the binary is not static.
EOF
}

die() {
    code=$1
    shift
    echo "build-static: error: $*" >&2
    exit "$code"
}

here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/.." && pwd)
build=yes
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=no; shift ;;
        --out)
            [ $# -ge 2 ] || die 2 "--out needs a directory"
            out=$2
            shift 2
            ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die 2 "unknown argument '$1'" ;;
    esac
done

target_dir=${CARGO_TARGET_DIR:-$workspace/target}
case "$target_dir" in
    /*) ;;
    *) target_dir=$workspace/$target_dir ;;
esac
[ -n "$out" ] || out=$target_dir/dist
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ "$build" = yes ]; then
    if command -v rustup >/dev/null 2>&1; then
        rustup target list --installed | grep -qx "$TARGET" ||
            die 2 "Rust target $TARGET missing: rustup target add $TARGET"
    fi
    command -v musl-gcc >/dev/null 2>&1 || die 2 "musl-gcc missing: apt-get install musl-tools"
    echo "build-static: cargo build --release --locked --target $TARGET -p vigil-agent" >&2
    (cd "$workspace" && CARGO_TARGET_DIR=$target_dir \
        CC_x86_64_unknown_linux_musl=musl-gcc \
        cargo build --release --locked --target "$TARGET" -p vigil-agent) ||
        die 3 "cargo build failed"
fi

bin=$target_dir/$TARGET/release/vigil-agent
[ -x "$bin" ] || die 3 "$bin not found (build first, or drop --no-build)"
# A static binary has no program interpreter (PT_INTERP) and no shared-library needs.
if LC_ALL=C readelf -l "$bin" 2>/dev/null | grep -q 'Requesting program interpreter' ||
    LC_ALL=C readelf -d "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
    die 3 "$bin is dynamically linked"
fi

version=$("$bin" --version | awk '{print $2}')
name=vigil-agent-$version-x86_64-linux-musl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 3' INT TERM
dir=$work/$name
mkdir -p "$dir/systemd" "$dir/sysctl"
install -m 0755 "$bin" "$dir/vigil-agent"
strip --strip-unneeded "$dir/vigil-agent"
install -m 0755 "$here/install-agent.sh" "$dir/install-agent.sh"
install -m 0644 "$here/systemd/vigil-agent.service" "$dir/systemd/"
install -m 0644 "$here/sysctl/60-vigil-inotify.conf" "$dir/sysctl/"
install -m 0644 "$here/agent.toml" "$dir/agent.toml"
install -m 0644 "$here/README.md" "$dir/README.md"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$workspace" log -1 --format=%ct 2>/dev/null || date +%s)
fi
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$work" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
