//! `.reg` text (what `regedit /e` writes) read into [`KeyTree`]s, one per hive.
//!
//! The syntax is regedit's version 5 format: an optional `Windows Registry Editor Version 5.00`
//! line, `[HKEY_LOCAL_MACHINE\HIVE\path]` sections (`[-...]` deletes a key), and
//! `"name"=DATA` / `@=DATA` lines where `DATA` is `"text"` (`REG_SZ`, `\\` and `\"` escaped),
//! `dword:0000001f`, `hex:..` (`REG_BINARY`), `hex(N):..` (type `N`, e.g. `hex(7)` for
//! `REG_MULTI_SZ`, `hex(b)` for `REG_QWORD`), or `-` to delete the value. Hex lists may continue
//! on the next line after a trailing `\`; lines starting with `;` are comments. Test fixtures are
//! written this way so that the hive files are generated, never committed.

use std::collections::BTreeMap;
use std::fmt;

use super::kind;
use super::write::{KeyTree, sz};

/// A syntax error, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegError {
    /// Line of the error.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RegError {}

/// Hives by name (`SOFTWARE`, `SYSTEM`, `SAM`, `SECURITY`), each a tree from its root.
pub type Hives = BTreeMap<String, KeyTree>;

/// Applies `.reg` text to `hives`: keys are created, values set or deleted, keys deleted.
///
/// Paths must start with `HKEY_LOCAL_MACHINE\` (or `HKLM\`) and name the hive next.
///
/// # Errors
/// The first syntax error, with its line.
pub fn apply(text: &str, hives: &mut Hives) -> Result<(), RegError> {
    let mut current: Option<(String, String)> = None;
    for (line_no, line) in logical_lines(text) {
        let err = |message: String| RegError {
            line: line_no,
            message,
        };
        let t = line.trim();
        if t.is_empty()
            || t.starts_with(';')
            || t.starts_with("Windows Registry Editor")
            || t == "REGEDIT4"
        {
            continue;
        }
        if let Some(section) = t.strip_prefix('[') {
            let section = section
                .strip_suffix(']')
                .ok_or_else(|| err("a key line must end with `]`".into()))?;
            let (delete, path) = match section.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, section),
            };
            let (hive, rest) = split_path(path).map_err(err)?;
            let tree = hives
                .entry(hive.clone())
                .or_insert_with(|| KeyTree::new(&hive));
            if delete {
                tree.remove(&rest);
                current = None;
            } else {
                tree.key_mut(&rest);
                current = Some((hive, rest));
            }
            continue;
        }
        let Some((hive, path)) = &current else {
            return Err(err("a value line before any key line".into()));
        };
        let (name, data) = value_line(t).map_err(err)?;
        let Some(tree) = hives.get_mut(hive) else {
            return Err(err(format!("hive {hive} disappeared")));
        };
        let key = tree.key_mut(path);
        match data {
            None => {
                key.unset(&name);
            }
            Some((k, bytes)) => key.set(&name, k, bytes),
        }
    }
    Ok(())
}

/// Parses `.reg` text into hives.
///
/// # Errors
/// As [`apply`].
pub fn parse(text: &str) -> Result<Hives, RegError> {
    let mut hives = Hives::new();
    apply(text, &mut hives)?;
    Ok(hives)
}

/// `HKEY_LOCAL_MACHINE\SOFTWARE\A\B` → (`SOFTWARE`, `A\B`).
fn split_path(path: &str) -> Result<(String, String), String> {
    let mut parts = path.splitn(3, '\\');
    let root = parts.next().unwrap_or_default();
    if !root.eq_ignore_ascii_case("HKEY_LOCAL_MACHINE") && !root.eq_ignore_ascii_case("HKLM") {
        return Err(format!(
            "key {path:?} is not under HKEY_LOCAL_MACHINE (fixtures describe machine hives)"
        ));
    }
    let hive = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("key {path:?} names no hive"))?;
    Ok((
        hive.to_ascii_uppercase(),
        parts.next().unwrap_or("").to_string(),
    ))
}

/// Joins lines continued with a trailing `\` (hex lists); yields (first line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let (start, mut acc) = match pending.take() {
            Some((n, mut acc)) => {
                acc.push_str(line.trim_start());
                (n, acc)
            }
            None => (i + 1, line.to_string()),
        };
        if acc.ends_with('\\') && acc.contains("=hex") {
            acc.pop();
            pending = Some((start, acc));
        } else {
            out.push((start, acc));
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

type ValueData = Option<(u32, Vec<u8>)>;

/// `"name"=data` → (name, `None` for a deletion or (type, bytes)).
fn value_line(t: &str) -> Result<(String, ValueData), String> {
    let (name, rest) = if let Some(r) = t.strip_prefix('@') {
        (String::new(), r)
    } else if t.starts_with('"') {
        quoted(t)?
    } else {
        return Err(format!("expected `\"name\"=` or `@=`, found {t:?}"));
    };
    let data = rest
        .trim_start()
        .strip_prefix('=')
        .ok_or_else(|| format!("expected `=` after the value name in {t:?}"))?
        .trim();
    if data == "-" {
        return Ok((name, None));
    }
    if data.starts_with('"') {
        let (s, tail) = quoted(data)?;
        if !tail.trim().is_empty() {
            return Err(format!("unexpected text after the string: {tail:?}"));
        }
        return Ok((name, Some((kind::SZ, sz(&s)))));
    }
    if let Some(h) = data.strip_prefix("dword:") {
        let n = u32::from_str_radix(h.trim(), 16)
            .map_err(|_| format!("dword {h:?} is not 8 hex digits"))?;
        return Ok((name, Some((kind::DWORD, n.to_le_bytes().to_vec()))));
    }
    let (k, hex) = if let Some(h) = data.strip_prefix("hex:") {
        (kind::BINARY, h)
    } else if let Some(r) = data.strip_prefix("hex(") {
        let (n, h) = r
            .split_once("):")
            .ok_or_else(|| format!("expected `hex(N):` in {data:?}"))?;
        let k = u32::from_str_radix(n, 16).map_err(|_| format!("bad type {n:?} in hex(N)"))?;
        (k, h)
    } else {
        return Err(format!("unknown value data {data:?}"));
    };
    let bytes = hex
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).map_err(|_| format!("bad hex byte {b:?}")))
        .collect::<Result<Vec<u8>, String>>()?;
    Ok((name, Some((k, bytes))))
}

/// Reads a `"…"` string with `\\` and `\"` escapes; returns it and the rest of the line.
fn quoted(t: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = t.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return Err("a string ends in a backslash".into()),
            },
            '"' => return Ok((out, &t[i + 1..])),
            c => out.push(c),
        }
    }
    Err(format!("unterminated string in {t:?}"))
}
