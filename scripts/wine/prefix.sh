#!/usr/bin/env bash
# Creates a Wine prefix ready to run the Windows agent: initialised, reporting Windows 10, with the
# test-only ProcessPrng stand-in (processprng.c) in system32.
#
#   scripts/wine/prefix.sh DIR [DLL]
#
# DIR must not exist yet. DLL is a prebuilt stand-in (built here when omitted). The prefix's
# wineserver is stopped before returning, so nothing is left running.
set -euo pipefail
dir="$1"
dll="${2:-}"
here="$(cd "$(dirname "$0")" && pwd)"
export WINEPREFIX="$dir" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ -z "$dll" ]; then
  dll="$(mktemp -d)/bcryptprimitives.dll"
  x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$here/processprng.c" -ladvapi32
fi
mkdir -p "$dir"
# No display is needed; wineboot without X prints nothing useful.
wine wineboot --init >/dev/null 2>&1
wineserver -w
wine winecfg /v win10 >/dev/null 2>&1 || true
wineserver -w
cp "$dll" "$dir/drive_c/windows/system32/bcryptprimitives.dll"
wineserver -k || true
