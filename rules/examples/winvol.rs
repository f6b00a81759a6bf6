//! Writes an offline Windows volume for `bench/windows-offline.sh`: the hardened Windows 11 workstation of
//! the windows-baseline fixtures (hive files under `Windows/System32/config`), with its SOFTWARE
//! hive padded by synthetic keys to about the size of a real one.
//!
//! `cargo run --release -p vigil-rules --example winvol -- DIR [SOFTWARE_MIB]` (default 64 MiB,
//! `0` for the bare fixture). Prints the size of each hive written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use serde_norway::Value;
use vigil_rules::windows::fixture::{self, Accounts};

/// About this many bytes of hive per synthetic key (measured on the fixture writer's output).
const HIVE_BYTES_PER_KEY: usize = 690;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("winvol: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .ok_or("usage: winvol DIR [SOFTWARE_MIB]")?;
    let mib: usize = match args.next() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("SOFTWARE_MIB must be a whole number, not {s:?}"))?,
        None => 64,
    };
    if mib > 1024 {
        return Err("SOFTWARE_MIB above 1024 is not a realistic hive".into());
    }
    let keys = mib * 1024 * 1024 / HIVE_BYTES_PER_KEY;
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/windows-baseline");
    let read = |name: &str| {
        std::fs::read_to_string(testdata.join(name)).map_err(|e| format!("{name}: {e}"))
    };
    let mut text = read("base.reg")?;
    text.reserve(keys * 400);
    for i in 0..keys {
        padding_key(i, &mut text);
    }
    let now = SystemTime::now();
    let text = fixture::expand(&text, now)?;
    let cases: Value = serde_norway::from_str(&read("cases.yaml")?).map_err(|e| e.to_string())?;
    let accounts: Accounts =
        serde_norway::from_value(cases["accounts"].clone()).map_err(|e| e.to_string())?;
    fixture::build(&dir, &text, &accounts, now)?;
    let config = dir.join("Windows/System32/config");
    for name in ["SOFTWARE", "SYSTEM", "SAM", "SECURITY"] {
        let len = std::fs::metadata(config.join(name))
            .map_err(|e| format!("{name}: {e}"))?
            .len();
        println!("{name}: {:.1} MiB", len as f64 / 1_048_576.0);
    }
    Ok(())
}

/// A synthetic key with a few values of the sizes real SOFTWARE hives hold (class registrations),
/// 256 to a group so that no key has more subkeys than real ones do.
fn padding_key(i: usize, out: &mut String) {
    let g = i / 256;
    let _ = write!(
        out,
        "\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Classes\\VigilBench\\G{g}\\{{{i:08X}-0000-4000-8000-{i:012X}}}]\n\
         @=\"Vigil benchmark component {i}\"\n\
         \"AppID\"=\"{{{i:08X}-1111-4000-8000-000000000000}}\"\n\
         \"ThreadingModel\"=\"Both\"\n\
         \"Flags\"=dword:{:08x}\n\
         [HKEY_LOCAL_MACHINE\\SOFTWARE\\Classes\\VigilBench\\G{g}\\{{{i:08X}-0000-4000-8000-{i:012X}}}\\InprocServer32]\n\
         @=\"C:\\\\Windows\\\\System32\\\\vigilbench{i}.dll\"\n",
        i % 7,
    );
}
