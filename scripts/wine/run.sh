#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu test binaries: runs one under Wine in the prefix
# $VIGIL_WINE_PREFIX (made by scripts/wine/prefix.sh), from a copy outside the prefix-less path.
set -euo pipefail
: "${VIGIL_WINE_PREFIX:?set VIGIL_WINE_PREFIX to a prefix made by scripts/wine/prefix.sh}"
export WINEPREFIX="$VIGIL_WINE_PREFIX" WINEDEBUG="${WINEDEBUG:--all}"
exec wine "$@"
