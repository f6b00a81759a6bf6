#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, store suites (SQLite and, when reachable,
# PostgreSQL), and end-to-end tests of the real binaries on loopback.
#
# PostgreSQL tests read VIGIL_TEST_PG (default postgres://postgres@127.0.0.1/test). With CI=true
# they must run; otherwise they are skipped with a visible message when the server is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo "test: $* ($(( $(date +%s) - t0 )) s)"; }
bash scripts/setup.sh
export VIGIL_TEST_PG="${VIGIL_TEST_PG:-postgres://postgres@127.0.0.1/test}"
if [ "${CI:-}" = "true" ] && command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
  echo "test: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
step "building the binaries"
cargo build --workspace --locked --bins
step "the Windows agent"
# The Windows agent (docs/windows.md): built in target/windows with Debian's toolchain, its unit
# tests under Wine, the MSI built and inspected; its end-to-end tests (tests/tests/windows.rs) run
# in the workspace run below with the paths from target/windows/env.
bash scripts/windows.sh --no-e2e
# shellcheck source=/dev/null
. target/windows/env
step "the workspace tests"
# Two test binaries at a time, two tests each (scripts/run-tests.py): the same load as one binary
# with four threads, without one slow end-to-end binary holding up all the others.
python3 scripts/run-tests.py --jobs "${VIGIL_TEST_JOBS:-2}" --test-threads "${VIGIL_TEST_THREADS:-2}"
step "fuzz smoke"
bash scripts/fuzz-smoke.sh
step "OpenAPI conformance"
# The OpenAPI document against the running server (schemathesis from PyPI, bounded in time).
if [ "${CI:-}" = "true" ] || [ "${VIGIL_TEST_OPENAPI:-}" = "1" ]; then
  bash tests/openapi/schemathesis.sh
else
  echo "test: SKIPPED the schemathesis run of the OpenAPI document (CI=true or VIGIL_TEST_OPENAPI=1 runs it)"
fi
# Packages, units, lintian, systemd exposure and the debootstrap install/upgrade/uninstall test.
# They need root and a release build; CI runs them, locally opt in with VIGIL_TEST_PACKAGING=1.
if [ "${CI:-}" = "true" ] || [ "${VIGIL_TEST_PACKAGING:-}" = "1" ]; then
  step "packaging"
  # The release profile without its link-time optimisation: this tests the packages, not the
  # optimiser, and saves minutes of CI (VIGIL_PACKAGING_LTO=1 keeps the shipped profile).
  if [ "${VIGIL_PACKAGING_LTO:-0}" != 1 ]; then
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  fi
  VIGIL_TEST_DEBOOTSTRAP="${VIGIL_TEST_DEBOOTSTRAP:-1}" bash packaging/test-packaging.sh
fi
step "done"
