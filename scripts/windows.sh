#!/usr/bin/env bash
# Builds and tests the Windows agent on Linux (docs/windows.md):
#   1. builds vigil-agent.exe for x86_64-pc-windows-gnu with Debian's rustc and the standard
#      library built from source (-Zbuild-std), into target/windows (debug, the profile the unit
#      tests share; --release for the shipped build, bench/windows.sh);
#   2. makes a template Wine prefix with the test-only ProcessPrng stand-in (scripts/wine/);
#   3. runs the agent's unit tests under Wine;
#   4. builds vigil-agent.msi with wixl and inspects it with msiinfo;
#   5. writes target/windows/env (VIGIL_WINDOWS_AGENT, VIGIL_WINE_TEMPLATE, VIGIL_WINDOWS_MSI)
#      and runs the end-to-end tests (tests/tests/windows.rs: the .exe under Wine against a real
#      Linux collector; tests/tests/windows_service.rs: the service under Wine's service manager
#      and the MSI under Wine's msiexec), unless --no-e2e (scripts/test.sh sources the env file and runs them in
#      the workspace run).
#
#   scripts/windows.sh [--no-e2e] [--release]
# The Debian toolchain's environment stays inside this script; the Linux build keeps rustup's.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
e2e=1
profile=debug
for arg in "$@"; do
  case "$arg" in
    --no-e2e) e2e=0 ;;
    --release) profile=release ;;
    *) echo "windows: unknown argument $arg" >&2; exit 2 ;;
  esac
done

target=x86_64-pc-windows-gnu
out="$root/target/windows"
mkdir -p "$out"
t0=$(date +%s)
step() { echo "windows: $* ($(( $(date +%s) - t0 )) s)"; }

win_cargo() {
  env PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_DIR="$out" \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
    CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc \
    AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar \
    /usr/bin/cargo "$@" 2>&1 | tee "$out/cargo.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || return "$rc"
  # Our crates compile warning-free for Windows too (clippy runs on the Linux build only).
  if grep -E "^warning: .vigil-[a-z]+. \(.*\) generated [0-9]+ warning" "$out/cargo.log"; then
    echo "windows: the Windows build of Vigil's crates has warnings" >&2
    return 1
  fi
}

for tool in wine wineserver x86_64-w64-mingw32-gcc wixl msiinfo msibuild /usr/bin/rustc /usr/bin/cargo; do
  command -v "$tool" >/dev/null || { echo "windows: $tool is missing; run scripts/setup.sh" >&2; exit 2; }
done

step "building vigil-agent.exe ($profile)"
if [ "$profile" = release ]; then
  win_cargo build -Zbuild-std=std,panic_abort --target "$target" --release --locked -p vigil-agent
else
  win_cargo build -Zbuild-std --target "$target" --locked -p vigil-agent
fi
exe="$out/$target/$profile/vigil-agent.exe"
echo "windows: $exe: $(stat -c %s "$exe") bytes"

step "preparing the Wine prefix template"
dll="$out/wine/bcryptprimitives.dll"
mkdir -p "$out/wine"
x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" scripts/wine/processprng.c -ladvapi32
template="$out/wine/template"
# The DLL's bytes change with every link (PE timestamp): the stamp is over its source.
stamp="$(wine --version) $(cat scripts/wine/processprng.c scripts/wine/prefix.sh | sha256sum | cut -c1-16)"
if [ ! -f "$template/.vigil-stamp" ] || [ "$(cat "$template/.vigil-stamp")" != "$stamp" ]; then
  rm -rf "$template"
  bash scripts/wine/prefix.sh "$template" "$dll"
  echo "$stamp" > "$template/.vigil-stamp"
fi

step "unit tests of the Windows agent under Wine"
unit_prefix="$(mktemp -d)/prefix"
cleanup() {
  WINEPREFIX="$unit_prefix" wineserver -k 2>/dev/null || true
  rm -rf "$(dirname "$unit_prefix")"
}
trap cleanup EXIT
cp -a "$template" "$unit_prefix"
VIGIL_WINE_PREFIX="$unit_prefix" CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$root/scripts/wine/run.sh" \
  win_cargo test -Zbuild-std --target "$target" --locked -p vigil-agent -- --test-threads=2
WINEPREFIX="$unit_prefix" wineserver -k 2>/dev/null || true

step "building and inspecting vigil-agent.msi"
msi="$out/vigil-agent.msi"
bash packaging/windows/build-msi.sh "$exe" "$msi"
bash packaging/windows/check-msi.sh "$msi"

printf 'export VIGIL_WINDOWS_AGENT=%q VIGIL_WINE_TEMPLATE=%q VIGIL_WINDOWS_MSI=%q\n' \
  "$exe" "$template" "$msi" > "$out/env"
export VIGIL_WINDOWS_AGENT="$exe" VIGIL_WINE_TEMPLATE="$template" VIGIL_WINDOWS_MSI="$msi"
if [ "$e2e" = 1 ]; then
  step "end-to-end tests under Wine"
  cargo test -p vigil-e2e --test windows --test windows_service --locked -- --test-threads=2
fi
step "done"
