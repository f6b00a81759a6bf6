//! Offline Windows volumes for end-to-end tests and benchmarks: the hardened fixture of the
//! windows-baseline tests (`rules/testdata/windows-baseline`), optionally weakened, written as
//! hive files under `Windows/System32/config` of a directory.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_norway::Value;
use vigil_rules::windows::fixture::{self, Accounts, merge};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/testdata/windows-baseline")
}

/// Writes the hardened Windows 11 Enterprise workstation of the baseline fixtures into `dir`,
/// with `extra_reg` (`.reg` text) applied over it and `accounts_patch` (YAML, as the `accounts`
/// of a case in cases.yaml) merged into its SAM and SECURITY records.
///
/// # Panics
/// When the fixture files are missing or malformed (a broken test setup).
pub fn hardened_volume(dir: &Path, extra_reg: &str, accounts_patch: &str) {
    let now = SystemTime::now();
    let base = std::fs::read_to_string(testdata().join("base.reg")).expect("base.reg");
    let text = fixture::expand(&format!("{base}\n{extra_reg}"), now).expect("placeholders");
    let cases: Value = serde_norway::from_str(
        &std::fs::read_to_string(testdata().join("cases.yaml")).expect("cases.yaml"),
    )
    .expect("cases.yaml parses");
    let mut accounts = cases["accounts"].clone();
    if !accounts_patch.trim().is_empty() {
        let patch: Value = serde_norway::from_str(accounts_patch).expect("accounts patch");
        merge(&mut accounts, &patch);
    }
    let accounts: Accounts = serde_norway::from_value(accounts).expect("accounts");
    fixture::build(dir, &text, &accounts, now).expect("hives");
}
