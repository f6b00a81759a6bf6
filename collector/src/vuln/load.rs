//! Reading advisories from disk: one OSV JSON file, a directory of them (recursively, `*.json`),
//! or the zip of a whole ecosystem as osv.dev publishes it (`Debian/all.zip`). All or nothing:
//! every bad document is reported with its file (and zip entry) and line, and then nothing is
//! imported.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::osv::{self, Advisory};

/// The largest single document read (the largest real OSV records are a few hundred KiB).
pub const MAX_DOCUMENT: u64 = 16 << 20;
/// The most problems listed before the rest are counted only.
const MAX_LISTED: usize = 50;

/// Why nothing was imported: one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct LoadError(pub Vec<String>);

/// Reads every advisory under `path` (a file, a directory or a zip), or every problem.
///
/// # Errors
/// [`LoadError`] listing each unreadable or invalid document (`FILE: line N: what`).
pub fn load(path: &Path) -> Result<Vec<Advisory>, LoadError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let meta =
        std::fs::metadata(path).map_err(|e| LoadError(vec![format!("{}: {e}", path.display())]))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files, &mut errors);
        files.sort();
        if files.is_empty() && errors.is_empty() {
            errors.push(format!(
                "{}: no *.json file in this directory",
                path.display()
            ));
        }
        for f in files {
            read_file(&f, &mut out, &mut errors);
        }
    } else {
        read_file(path, &mut out, &mut errors);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        let n = errors.len();
        errors.truncate(MAX_LISTED);
        if n > MAX_LISTED {
            errors.push(format!("… and {} more problems", n - MAX_LISTED));
        }
        Err(LoadError(errors))
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return errors.push(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&p, files, errors),
            Ok(t) if t.is_file() && p.extension().is_some_and(|e| e == "json") => files.push(p),
            _ => {}
        }
    }
}

fn read_file(path: &Path, out: &mut Vec<Advisory>, errors: &mut Vec<String>) {
    let shown = path.display();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return errors.push(format!("{shown}: {e}")),
    };
    let mut head = [0u8; 4];
    let is_zip = (&file).read_exact(&mut head).is_ok() && head == *b"PK\x03\x04";
    if is_zip {
        return read_zip(path, file, out, errors);
    }
    match read_capped(std::fs::File::open(path), &shown.to_string()) {
        Ok(text) => match osv::parse(&text) {
            Ok(a) => out.push(a),
            Err(e) => errors.push(format!("{shown}: {e}")),
        },
        Err(e) => errors.push(e),
    }
}

fn read_capped(f: std::io::Result<impl Read>, shown: &str) -> Result<String, String> {
    let f = f.map_err(|e| format!("{shown}: {e}"))?;
    let mut buf = Vec::new();
    f.take(MAX_DOCUMENT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{shown}: {e}"))?;
    if buf.len() as u64 > MAX_DOCUMENT {
        return Err(format!("{shown}: larger than {} MiB", MAX_DOCUMENT >> 20));
    }
    String::from_utf8(buf).map_err(|e| format!("{shown}: not UTF-8 ({e})"))
}

fn read_zip(path: &Path, file: std::fs::File, out: &mut Vec<Advisory>, errors: &mut Vec<String>) {
    let shown = path.display();
    let mut zip = match zip::ZipArchive::new(file) {
        Ok(z) => z,
        Err(e) => return errors.push(format!("{shown}: not a readable zip: {e}")),
    };
    let mut documents = 0usize;
    for i in 0..zip.len() {
        let entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{shown}: entry {i}: {e}"));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                errors.push(format!("{shown}: entry {i}: {e}"));
                continue;
            }
        };
        if entry.is_dir() || !name.ends_with(".json") {
            continue;
        }
        documents += 1;
        let at = format!("{shown}!{name}");
        match read_capped(Ok(entry), &at) {
            Ok(text) => match osv::parse(&text) {
                Ok(a) => out.push(a),
                Err(e) => errors.push(format!("{at}: {e}")),
            },
            Err(e) => errors.push(e),
        }
    }
    if documents == 0 && errors.is_empty() {
        errors.push(format!("{shown}: the zip holds no *.json document"));
    }
}
