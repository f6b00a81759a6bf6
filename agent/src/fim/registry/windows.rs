//! Reads a registry [`Snapshot`] from the live registry (see `platform::windows::registry`).

use super::{Snapshot, ValueRecord, WatchedKey};
use crate::platform::windows::registry::{Hive, Key, Value, View};

/// Values kept per snapshot at most (the services tree of a busy server has a few thousand);
/// beyond it the rest is not read, and a warning says so.
const MAX_VALUES: usize = 200_000;

/// Reads every watched key (both views where asked, every loaded user for `HKU\*`).
///
/// # Errors
/// When not one watched key could be opened.
pub(super) fn read(keys: &[WatchedKey]) -> Result<Snapshot, String> {
    let mut snap = Snapshot::default();
    let mut opened = 0usize;
    let mut first_err = None;
    for w in keys {
        for (hive, path, shown, view) in expand(w) {
            match Key::open(hive, &path, view) {
                Ok(Some(k)) => {
                    opened += 1;
                    walk(&k, &shown, w.depth, w.group, &mut snap);
                }
                Ok(None) => {}
                Err(e) => {
                    first_err.get_or_insert_with(|| format!("{shown}: {e}"));
                }
            }
        }
    }
    if snap.values.len() >= MAX_VALUES {
        tracing::warn!(
            limit = MAX_VALUES,
            "Registry watch snapshot cut at the value limit."
        );
    }
    if opened == 0
        && let Some(e) = first_err
    {
        return Err(e);
    }
    Ok(snap)
}

/// (hive, path under it, path as reported, view) for every key a watched key stands for.
fn expand(w: &WatchedKey) -> Vec<(Hive, String, String, View)> {
    let mut out = Vec::new();
    if let Some(rest) = w.path.strip_prefix(r"HKLM\") {
        out.push((
            Hive::LocalMachine,
            rest.to_string(),
            w.path.clone(),
            View::Native,
        ));
        if w.wow32
            && let Some(sw) = rest.strip_prefix(r"SOFTWARE\")
        {
            out.push((
                Hive::LocalMachine,
                rest.to_string(),
                format!(r"HKLM\SOFTWARE\WOW6432Node\{sw}"),
                View::Wow32,
            ));
        }
    } else if let Some(rest) = w.path.strip_prefix(r"HKU\*\") {
        let users = Key::open(Hive::Users, "", View::Native).ok().flatten();
        for sid in users
            .map(|u| u.subkeys().unwrap_or_default())
            .unwrap_or_default()
        {
            if sid.ends_with("_Classes") {
                continue;
            }
            out.push((
                Hive::Users,
                format!(r"{sid}\{rest}"),
                format!(r"HKU\{sid}\{rest}"),
                View::Native,
            ));
        }
    }
    out
}

fn walk(k: &Key, shown: &str, depth: u8, group: &str, snap: &mut Snapshot) {
    if snap.values.len() >= MAX_VALUES {
        return;
    }
    snap.keys.insert(shown.to_string(), group.to_string());
    for (name, kind, raw) in k.raw_values().unwrap_or_default() {
        let v = Value::decode(kind, &raw);
        snap.values.insert(
            (shown.to_string(), name),
            ValueRecord::new(v.type_name(), &v.to_text(), &raw),
        );
    }
    if depth == 0 {
        return;
    }
    for sub in k.subkeys().unwrap_or_default() {
        if let Ok(Some(s)) = k.open_sub(&sub) {
            walk(&s, &format!(r"{shown}\{sub}"), depth - 1, group, snap);
        }
    }
}
