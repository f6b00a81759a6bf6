#!/usr/bin/env bash
# The OpenAPI document against the running server: schemathesis generates requests for every
# documented operation (valid and invalid ones) and checks the answers against the document —
# no server error, documented status codes and content types, invalid input refused, no
# operation that ignores authentication. Bounded in time (VIGIL_SCHEMATHESIS_SECONDS, default
# 120). A real collector over HTTPS on loopback, trusted through its exported CA.
#
# Installs schemathesis (pinned) from PyPI into a virtualenv under the cargo target dir once.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/vigil-collector"
[ -x "$bin" ] || cargo build --locked -p vigil-collector --bin vigil-collector
venv="$target/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "openapi: installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http="127.0.0.1:$(free_port)"
quic="127.0.0.1:$(free_port)"
dd="$tmp/collector"
"$bin" init --data-dir "$dd" --quic "$quic" --http "$http" >/dev/null
"$bin" agency add --data-dir "$dd" --id p --name "Tỉnh" >/dev/null
"$bin" agency add --data-dir "$dd" --id p/a --name "Sở A" --level 3 >/dev/null
printf 'schemathesis-password-0\n' | "$bin" user add --data-dir "$dd" --name admin --role admin --password-stdin >/dev/null
"$bin" ca export --data-dir "$dd" --out "$tmp/ca.pem" >/dev/null
"$bin" run --data-dir "$dd" >"$tmp/collector.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS --cacert "$tmp/ca.pem" "https://$http/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

# Authenticate with a session cookie (and its CSRF token): schemathesis then generates invalid
# bearer tokens on top, which must be refused, since an Authorization header decides alone.
login="$(curl -fsS --cacert "$tmp/ca.pem" -c "$tmp/jar" -H 'Content-Type: application/json' \
  -d '{"name":"admin","password":"schemathesis-password-0"}' "https://$http/api/v1/login")"
csrf="$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')"
session="$(awk '$6 == "vigil_session" {print $7}' "$tmp/jar")"
[ -n "$session" ] && [ -n "$csrf" ] || { echo "openapi: login failed: $login" >&2; exit 1; }

status=0
"$venv/bin/schemathesis" run "https://$http/api/v1/openapi.json" \
  --tls-verify "$tmp/ca.pem" \
  -H "Cookie: vigil_session=$session" \
  -H "X-CSRF-Token: $csrf" \
  --exclude-path /api/v1/logout \
  --max-time "${VIGIL_SCHEMATHESIS_SECONDS:-120}" \
  --request-timeout 10 \
  --seed 1 \
  --checks all \
  --exclude-checks "${VIGIL_SCHEMATHESIS_EXCLUDE:-positive_data_acceptance}" \
  --warnings off \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "openapi: schemathesis found problems; collector log:" >&2
  tail -n 40 "$tmp/collector.log" >&2
fi
exit "$status"
