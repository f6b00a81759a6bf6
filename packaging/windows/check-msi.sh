#!/usr/bin/env bash
# Inspects a built vigil-agent.msi with msiinfo and fails unless it has what the installer
# promises: a product code, the fixed upgrade code, the VigilAgent service (LocalSystem,
# automatic start, started at install, stopped and removed at uninstall), the enrollment custom
# actions with the token hidden, and the upgrade removing the old product before installing.
#
#   packaging/windows/check-msi.sh vigil-agent.msi
set -euo pipefail
msi="$1"
fail() { echo "check-msi: $msi: $*" >&2; exit 1; }
row() { msiinfo export "$msi" "$1" | tr -d '\r' | awk -F'\t' -v k="$2" '$1 == k'; }
field() { row "$1" "$2" | cut -f"$3"; }

upgrade_code="{1C18FA44-6CFF-4C83-8F5F-6CEFAC4EF9EB}"
product_code=$(field Property ProductCode 2)
guid_re='^[{][0-9A-F-]{36}[}]$'
[[ "$product_code" =~ $guid_re ]] || fail "no product code ($product_code)"
[ "$(field Property UpgradeCode 2)" = "$upgrade_code" ] || fail "upgrade code is not $upgrade_code"
[ "$(field Property MsiHiddenProperties 2)" = "TOKEN" ] || fail "TOKEN is not hidden from logs"
[[ ";$(field Property SecureCustomProperties 2);" == *";TOKEN;"* ]] || fail "TOKEN is not secure"

svc=$(row ServiceInstall VigilAgent)
[ -n "$svc" ] || fail "no VigilAgent ServiceInstall row"
# Name, DisplayName, ServiceType 16 (own process), StartType 2 (auto), ErrorControl 1 (normal).
[ "$(cut -f2,4,5,6 <<<"$svc")" = "VigilAgent	16	2	1" ] || fail "service row: $svc"
[ "$(cut -f9 <<<"$svc")" = "LocalSystem" ] || fail "service account: $svc"
[ "$(cut -f11 <<<"$svc")" = "service run" ] || fail "service arguments: $svc"
# Event 163 = start at install (1) + stop at install (2) and uninstall (32) + delete at
# uninstall (128).
[ "$(field ServiceControl VigilAgent 3)" = "163" ] || fail "service control: $(row ServiceControl VigilAgent)"

type=$(field CustomAction EnrollWithToken 2)
[ -n "$type" ] && (( type & 0x2000 )) || fail "EnrollWithToken does not hide its target (type $type)"
[[ "$(field CustomAction EnrollWithToken 4)" == *"--if-not-enrolled"* ]] || fail "enrollment would replace an upgraded host's identity"
[ "$(field CustomAction ConfigureService 4)" = "service install" ] || fail "no ConfigureService action"

seq() { field InstallExecuteSequence "$1" 3; }
(( $(seq RemoveExistingProducts) < $(seq InstallFiles) )) || fail "the old product is removed after the new one is installed"
(( $(seq InstallServices) < $(seq ConfigureService) && $(seq ConfigureService) < $(seq EnrollWithToken) && $(seq EnrollWithToken) < $(seq StartServices) )) \
  || fail "custom actions out of order"
echo "check-msi: ok: product $product_code, upgrade $upgrade_code, service VigilAgent (LocalSystem, auto, restart set by ConfigureService)"
