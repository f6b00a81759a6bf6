#!/usr/bin/env bash
# cargo-deny over the workspace: licences, duplicate versions, wildcard versions and sources, as
# deny.toml says. Advisories are left out: the RustSec database cannot be fetched from CI's network.
set -euo pipefail
cd "$(dirname "$0")/.."
deny="${VIGIL_TOOLS_DIR:-$HOME/.cache/vigil-tools}/cargo-deny/bin/cargo-deny"
if [ ! -x "$deny" ]; then
  echo "deny: $deny is missing: run scripts/setup.sh" >&2
  exit 2
fi
"$deny" --log-level warn check licenses bans sources
