#!/bin/sh
# Builds the vigil-agent and vigil-collector .rpm packages with rpmbuild (Debian's `rpm` package
# provides it), for Rocky, AlmaLinux, RHEL and CentOS hosts. The files come from the same
# [package.metadata.deb] asset tables as build-deb.sh, so both formats ship the same files; the
# systemd unit moves to /usr/lib/systemd/system and the maintainer scripts are the rpm scriptlets
# in packaging/rpm/<agent|collector>/ (pre, post, preun, postun).
set -eu

usage() {
    cat <<'USAGE'
Usage: packaging/build-rpm.sh [--version V] [--release R] [--no-build] [--bin-dir DIR]
                              [--out DIR] [PACKAGE...]

Builds rpm packages for PACKAGE (vigil-agent, vigil-collector; default: both).

  --version V    rpm Version, e.g. 0.1.1 (default: the Cargo version); also VIGIL_RPM_VERSION.
  --release R    rpm Release (default: 1).
  --no-build     Package the binaries already built; do not run cargo.
  --bin-dir DIR  Where the binaries are (default: $CARGO_TARGET_DIR/release; implies --no-build).
  --out DIR      Where to write the .rpm files (default: $CARGO_TARGET_DIR/rpm).
  -h, --help     This help.

Environment: CARGO_TARGET_DIR (default: target/ in the workspace), SOURCE_DATE_EPOCH (default:
the last commit's time; file times and the build time are clamped to it).

Prints the path of each package built. Exit codes: 0 ok, 2 usage error or missing tool,
3 build or packaging failure.
USAGE
}

die() {
    code=$1
    shift
    echo "build-rpm: error: $*" >&2
    exit "$code"
}

need() {
    command -v "$1" >/dev/null 2>&1 || die 2 "'$1' not found; install it (apt-get install $2)"
}

here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/.." && pwd)
version_override=${VIGIL_RPM_VERSION:-}
release=1
build=yes
bin_dir=
out=
packages=

while [ $# -gt 0 ]; do
    case "$1" in
        --version|--release|--bin-dir|--out)
            [ $# -ge 2 ] || die 2 "$1 needs a value"
            case "$1" in
                --version) version_override=$2 ;;
                --release) release=$2 ;;
                --bin-dir) bin_dir=$2; build=no ;;
                --out) out=$2 ;;
            esac
            shift 2
            ;;
        --no-build)
            build=no
            shift
            ;;
        -h|--help)
            usage
            exit 0
            ;;
        vigil-agent|vigil-collector)
            packages="$packages $1"
            shift
            ;;
        *)
            usage >&2
            die 2 "unknown argument '$1'"
            ;;
    esac
done
[ -n "$packages" ] || packages="vigil-agent vigil-collector"
case "$version_override$release" in
    *[!0-9A-Za-z._+~]*) die 2 "version and release may hold only letters, digits and ._+~" ;;
esac

need cargo "rustup: https://rustup.rs"
need jq jq
need rpmbuild rpm
need strip binutils

target_dir=${CARGO_TARGET_DIR:-$workspace/target}
case "$target_dir" in
    /*) ;;
    *) target_dir=$workspace/$target_dir ;;
esac
[ -n "$bin_dir" ] || bin_dir=$target_dir/release
[ -n "$out" ] || out=$target_dir/rpm
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 3' INT TERM

if [ "$build" = yes ]; then
    set --
    for p in $packages; do
        set -- "$@" -p "$p"
    done
    echo "build-rpm: cargo build --release --locked $*" >&2
    (cd "$workspace" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked "$@") ||
        die 3 "cargo build failed"
fi
bin_dir=$(cd "$bin_dir" 2>/dev/null && pwd) || die 2 "binary directory $bin_dir does not exist"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$workspace" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

(cd "$workspace" && cargo metadata --no-deps --format-version 1 --offline) >"$work/metadata.json" ||
    die 3 "cargo metadata failed"

# Where a Debian asset path goes on an rpm system ("" drops it).
rpm_dest() {
    case "$1" in
        lib/systemd/*) echo "usr/$1" ;;
        usr/share/lintian/*) echo "" ;;
        *) echo "$1" ;;
    esac
}

# One package: stage the files, write the spec, call rpmbuild.
build_one() {
    pkg=$1
    jq -e --arg p "$pkg" '.packages[] | select(.name == $p)' "$work/metadata.json" \
        >"$work/pkg.json" || die 2 "$pkg: no such package in the workspace"
    field() {
        jq -r "$1 // empty" "$work/pkg.json"
    }
    jq -e '.metadata.deb.assets' "$work/pkg.json" >/dev/null ||
        die 2 "$pkg: no [package.metadata.deb] assets in its Cargo.toml"
    manifest_dir=$(dirname "$(field .manifest_path)")
    name=$(field '.metadata.deb.name')
    [ -n "$name" ] || name=$pkg
    version=${version_override:-$(field .version)}
    case "$version" in
        *-*) die 2 "$pkg: rpm versions hold no '-' ($version); give --version" ;;
    esac
    scripts=$here/rpm/${name#vigil-}

    stage=$work/stage-$name
    rm -rf "$stage"
    files=$work/files-$name
    : >"$files"
    n=$(jq '.metadata.deb.assets | length' "$work/pkg.json")
    i=0
    while [ "$i" -lt "$n" ]; do
        src=$(jq -r ".metadata.deb.assets[$i][0]" "$work/pkg.json")
        dest=$(jq -r ".metadata.deb.assets[$i][1]" "$work/pkg.json")
        mode=$(jq -r ".metadata.deb.assets[$i][2]" "$work/pkg.json")
        i=$((i + 1))
        case "$src" in
            target/release/*) src=$bin_dir/${src#target/release/} ;;
            /*) ;;
            *) src=$manifest_dir/$src ;;
        esac
        case "$dest" in
            */) dest=$dest$(basename "$src") ;;
        esac
        dest=$(rpm_dest "${dest#/}")
        [ -n "$dest" ] || continue
        [ -f "$src" ] || die 3 "$pkg: asset $src does not exist (build first, or drop --no-build)"
        install -D -m "$mode" "$src" "$stage/$dest"
        if [ "$(head -c 4 "$src" | od -An -c | tr -d ' ')" = '177ELF' ]; then
            strip --strip-unneeded --remove-section=.comment --remove-section=.note \
                "$stage/$dest"
        fi
        case "$dest" in
            etc/*)
                dir=$(dirname "/$dest")
                if ! grep -qx "%dir %attr(0750,root,root) $dir" "$files"; then
                    echo "%dir %attr(0750,root,root) $dir" >>"$files"
                fi
                echo "%config(noreplace) %attr(0$mode,root,root) /$dest" >>"$files"
                ;;
            *) echo "%attr(0$mode,root,root) /$dest" >>"$files" ;;
        esac
    done

    spec=$work/$name.spec
    {
        echo '%global debug_package %{nil}'
        echo '%global __os_install_post %{nil}'
        echo '%global _build_id_links none'
        echo '%global use_source_date_epoch_as_buildtime 1'
        echo '%global clamp_mtime_to_source_date_epoch 1'
        echo "Name: $name"
        echo "Version: $version"
        echo "Release: $release"
        echo "Summary: $(field .description)"
        echo "License: $(field .license)"
        homepage=$(jq -r '.homepage // .repository // empty' "$work/pkg.json")
        [ -z "$homepage" ] || echo "URL: $homepage"
        echo "Packager: $(field '.metadata.deb.maintainer')"
        # The collector's %pre creates its system user.
        [ ! -f "$scripts/pre" ] || echo 'Requires(pre): shadow-utils'
        echo
        echo '%description'
        field '.metadata.deb."extended-description"' | fold -s -w 76 | sed 's/ *$//'
        echo
        echo '%install'
        echo "cp -a '$stage/.' %{buildroot}/"
        for s in pre post preun postun; do
            if [ -f "$scripts/$s" ]; then
                echo
                echo "%$s"
                # rpm expands macros in scriptlets: `%%` keeps a literal `%`.
                sed 's/%/%%/g' "$scripts/$s"
            fi
        done
        echo
        echo '%files'
        cat "$files"
    } >"$spec"

    rpmbuild -bb --quiet \
        --define "_topdir $work/rpmbuild" \
        --define "_rpmdir $out" \
        --define '_build_name_fmt %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm' \
        "$spec" >"$work/rpmbuild.log" 2>&1 || {
        cat "$work/rpmbuild.log" >&2
        die 3 "$pkg: rpmbuild failed"
    }
    arch=$(rpm -qp --qf '%{ARCH}' "$out/$name-$version-$release".*.rpm 2>/dev/null | head -n 1)
    echo "$out/$name-$version-$release.$arch.rpm"
}

for p in $packages; do
    build_one "$p"
done
