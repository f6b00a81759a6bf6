#!/usr/bin/env bash
# Builds vigil-agent.msi from vigil-agent.wxs with wixl, then sets with msibuild what wixl 0.101
# cannot express:
#   - RemoveExistingProducts right after InstallValidate (WiX's default "afterInstallValidate"):
#     wixl schedules it after the new services are installed, where removing the old product
#     would delete the service the upgrade just installed;
#   - msidbCustomActionTypeHideTarget on EnrollWithToken, so the token never reaches a log;
#   - TOKEN and TOKENFILE as secure properties (passed to the elevated install).
#
#   packaging/windows/build-msi.sh AGENT_EXE OUT_MSI [VERSION]
set -euo pipefail
exe="$(realpath "$1")"
out="$(realpath -m "$2")"
here="$(cd "$(dirname "$0")" && pwd)"
version="${3:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n1)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# wixl takes relative source paths only.
cp "$exe" "$work/vigil-agent.exe"
(cd "$work" && wixl -a x64 -D Version="$version" -D AgentExe=vigil-agent.exe \
  -o "$work/out.msi" "$here/vigil-agent.wxs")
hide_target=$((0x2000))
type=$(msiinfo export "$work/out.msi" CustomAction | tr -d '\r' | awk -F'\t' '$1 == "EnrollWithToken" { print $2 }')
[ -n "$type" ] || { echo "build-msi: no EnrollWithToken custom action" >&2; exit 1; }
msibuild "$work/out.msi" -q "UPDATE InstallExecuteSequence SET Sequence = 1401 WHERE Action = 'RemoveExistingProducts'"
msibuild "$work/out.msi" -q "UPDATE CustomAction SET Type = $((type | hide_target)) WHERE Action = 'EnrollWithToken'"
secure=$(msiinfo export "$work/out.msi" Property | tr -d '\r' | awk -F'\t' '$1 == "SecureCustomProperties" { print $2 }')
msibuild "$work/out.msi" -q "UPDATE Property SET Value = '${secure:+$secure;}TOKEN;TOKENFILE' WHERE Property = 'SecureCustomProperties'"
mv "$work/out.msi" "$out"
echo "build-msi: $out (version $version)"
