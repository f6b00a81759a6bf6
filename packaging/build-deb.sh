#!/bin/sh
# Builds the vigil-agent and vigil-collector .deb packages with dpkg-deb only, from the
# [package.metadata.deb] tables in agent/Cargo.toml and collector/Cargo.toml (cargo-deb format),
# so CI needs no `cargo install cargo-deb`. `cargo deb -p vigil-agent` reads the same tables.
#
# Supported subset of the cargo-deb format: name, maintainer, copyright, section, priority,
# depends (with $auto, resolved by dpkg-shlibdeps), extended-description, changelog, revision,
# maintainer-scripts, conf-files and assets given as [source, dest, mode] arrays without globs.
set -eu

usage() {
    cat <<'EOF'
Usage: packaging/build-deb.sh [--version V] [--no-build] [--out DIR] [PACKAGE...]

Builds Debian packages for PACKAGE (vigil-agent, vigil-collector; default: both).

  --version V   Debian version, e.g. 0.1.1-1 (default: the Cargo version plus "-<revision>",
                revision "1"); also VIGIL_DEB_VERSION. Same as `cargo deb --deb-version V`.
  --no-build    Package the binaries already in $CARGO_TARGET_DIR/release; do not run cargo.
  --out DIR     Where to write the .deb files (default: $CARGO_TARGET_DIR/debian).
  -h, --help    This help.

Environment: CARGO_TARGET_DIR (default: target/ in the workspace), SOURCE_DATE_EPOCH (default:
the last commit's time, for reproducible archives).

Prints the path of each package built. Exit codes: 0 ok, 2 usage error or missing tool,
3 build or packaging failure.
EOF
}

die() {
    code=$1
    shift
    echo "build-deb: error: $*" >&2
    exit "$code"
}

need() {
    command -v "$1" >/dev/null 2>&1 || die 2 "'$1' not found; install it (apt-get install $2)"
}

here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/.." && pwd)
version_override=${VIGIL_DEB_VERSION:-}
build=yes
out=
packages=

while [ $# -gt 0 ]; do
    case "$1" in
        --version)
            [ $# -ge 2 ] || die 2 "--version needs a value"
            version_override=$2
            shift 2
            ;;
        --no-build)
            build=no
            shift
            ;;
        --out)
            [ $# -ge 2 ] || die 2 "--out needs a directory"
            out=$2
            shift 2
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

need cargo "rustup: https://rustup.rs"
need jq jq
need dpkg-deb dpkg
need dpkg-shlibdeps dpkg-dev
need strip binutils

target_dir=${CARGO_TARGET_DIR:-$workspace/target}
case "$target_dir" in
    /*) ;;
    *) target_dir=$workspace/$target_dir ;;
esac
[ -n "$out" ] || out=$target_dir/debian
mkdir -p "$out"
out=$(cd "$out" && pwd)
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 3' INT TERM

if [ "$build" = yes ]; then
    set --
    for p in $packages; do
        set -- "$@" -p "$p"
    done
    echo "build-deb: cargo build --release --locked $*" >&2
    (cd "$workspace" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked "$@") ||
        die 3 "cargo build failed"
fi

# Set only after the build: C build scripts (ring, sqlite) rebuild when SOURCE_DATE_EPOCH changes.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$workspace" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

(cd "$workspace" && cargo metadata --no-deps --format-version 1 --offline) >"$work/metadata.json" ||
    die 3 "cargo metadata failed"

# One package: stage the tree, write DEBIAN/, call dpkg-deb.
build_one() {
    pkg=$1
    jq -e --arg p "$pkg" '.packages[] | select(.name == $p)' "$work/metadata.json" \
        >"$work/pkg.json" || die 2 "$pkg: no such package in the workspace"
    field() {
        jq -r "$1 // empty" "$work/pkg.json"
    }
    jq -e '.metadata.deb' "$work/pkg.json" >/dev/null ||
        die 2 "$pkg: no [package.metadata.deb] in its Cargo.toml"
    manifest_dir=$(dirname "$(field .manifest_path)")
    name=$(field '.metadata.deb.name')
    [ -n "$name" ] || name=$pkg
    revision=$(jq -r '.metadata.deb.revision // "1"' "$work/pkg.json")
    version=$(field .version)
    if [ -n "$version_override" ]; then
        version=$version_override
    elif [ -n "$revision" ]; then
        version=$version-$revision
    fi

    root=$work/$name
    rm -rf "$root"
    mkdir -p "$root/DEBIAN"

    # Assets.
    n=$(jq '.metadata.deb.assets | length' "$work/pkg.json")
    [ "$n" -gt 0 ] || die 2 "$pkg: metadata.deb.assets is empty"
    i=0
    while [ "$i" -lt "$n" ]; do
        src=$(jq -r ".metadata.deb.assets[$i][0]" "$work/pkg.json")
        dest=$(jq -r ".metadata.deb.assets[$i][1]" "$work/pkg.json")
        mode=$(jq -r ".metadata.deb.assets[$i][2]" "$work/pkg.json")
        i=$((i + 1))
        case "$src" in
            target/release/*) src=$target_dir/release/${src#target/release/} ;;
            /*) ;;
            *) src=$manifest_dir/$src ;;
        esac
        case "$dest" in
            */) dest=$dest$(basename "$src") ;;
        esac
        dest=${dest#/}
        [ -f "$src" ] || die 3 "$pkg: asset $src does not exist (build first, or drop --no-build)"
        install -D -m "$mode" "$src" "$root/$dest"
        if [ "$(head -c 4 "$src" | od -An -c | tr -d ' ')" = '177ELF' ]; then
            strip --strip-unneeded --remove-section=.comment --remove-section=.note \
                "$root/$dest"
            echo "$root/$dest" >>"$work/elf-$name"
        fi
    done

    # Documentation required by Debian policy: copyright and a compressed changelog.
    doc=$root/usr/share/doc/$name
    mkdir -p "$doc"
    license=$(field .license)
    {
        echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        echo "Upstream-Name: $name"
        echo
        echo "Files: *"
        echo "Copyright: $(field '.metadata.deb.copyright')"
        echo "License: $license"
        if [ "$license" = Apache-2.0 ]; then
            echo " On Debian systems, the full text of the Apache License, Version 2.0 can be"
            echo " found in /usr/share/common-licenses/Apache-2.0."
        fi
    } >"$doc/copyright"
    chmod 0644 "$doc/copyright"
    changelog=$(field '.metadata.deb.changelog')
    if [ -n "$changelog" ]; then
        gzip -9n <"$manifest_dir/$changelog" >"$doc/changelog.Debian.gz"
        chmod 0644 "$doc/changelog.Debian.gz"
    fi

    # Maintainer scripts.
    scripts=$(field '.metadata.deb."maintainer-scripts"')
    if [ -n "$scripts" ]; then
        for s in preinst postinst prerm postrm config templates; do
            if [ -f "$manifest_dir/$scripts/$s" ]; then
                m=0755
                [ "$s" = templates ] && m=0644
                install -m "$m" "$manifest_dir/$scripts/$s" "$root/DEBIAN/$s"
            fi
        done
    fi

    # Conffiles: everything under /etc plus conf-files, as cargo-deb does.
    (cd "$root" && find etc -type f 2>/dev/null | sed 's|^|/|') >"$work/conffiles"
    jq -r '.metadata.deb."conf-files" // [] | .[]' "$work/pkg.json" >>"$work/conffiles"
    sort -u "$work/conffiles" | sed '/^$/d' >"$root/DEBIAN/conffiles"
    if [ -s "$root/DEBIAN/conffiles" ]; then
        chmod 0644 "$root/DEBIAN/conffiles"
    else
        rm -f "$root/DEBIAN/conffiles"
    fi

    # Depends: $auto becomes the shared-library dependencies of the packaged binaries.
    depends=$(field '.metadata.deb.depends')
    # shellcheck disable=SC2016 # a literal $auto, as cargo-deb spells it
    case "$depends" in
        *'$auto'*)
            auto=
            if [ -s "$work/elf-$name" ]; then
                mkdir -p "$work/shlibs/debian"
                printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$name" "$name" \
                    >"$work/shlibs/debian/control"
                # shellcheck disable=SC2046 # one path per line, no spaces in staged paths
                auto=$(cd "$work/shlibs" &&
                    dpkg-shlibdeps -O --warnings=0 $(sed 's/^/-e/' "$work/elf-$name")) ||
                    die 3 "$pkg: dpkg-shlibdeps failed"
                auto=$(printf '%s\n' "$auto" | sed -n 's/^shlibs:Depends=//p')
            fi
            depends=$(printf '%s' "$depends" | sed "s/\\\$auto/$auto/; s/^, *//; s/, *,/,/g; s/, *\$//")
            ;;
    esac

    installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    {
        echo "Package: $name"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: $(field '.metadata.deb.maintainer')"
        echo "Installed-Size: $installed_size"
        [ -z "$depends" ] || echo "Depends: $depends"
        echo "Section: $(jq -r '.metadata.deb.section // "misc"' "$work/pkg.json")"
        echo "Priority: $(jq -r '.metadata.deb.priority // "optional"' "$work/pkg.json")"
        homepage=$(jq -r '.homepage // .repository // empty' "$work/pkg.json")
        [ -z "$homepage" ] || echo "Homepage: $homepage"
        echo "Description: $(field .description)"
        field '.metadata.deb."extended-description"' | fold -s -w 76 | sed 's/ *$//; s/^$/./; s/^/ /'
    } >"$root/DEBIAN/control"

    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
        xargs md5sum) >"$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

    find "$root" -type d -exec chmod 0755 {} +
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    deb=$out/${name}_${version}_$arch.deb
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null ||
        die 3 "$pkg: dpkg-deb failed"
    echo "$deb"
}

for p in $packages; do
    build_one "$p"
done
