//! Windows rules of Wazuh SCA policies, in native terms.
//!
//! Registry rules (`r:`) become `registry` checks. Windows policies also run commands to read what
//! the registry does not show plainly (`auditpol /get`, `secedit /export` through PowerShell,
//! `net accounts`, `net user`, `reg query`, `wmic`, `Get-CimInstance`, a few `Get-…` cmdlets); the
//! agent runs none of them. Each recognised form is replaced by the native fact the command reads
//! (`audit_policy`, `account_policy`, `local_user`, `registry`, `windows`), so the rule evaluates
//! the same way on a live host and on an offline volume. Any other Windows command is listed as
//! untranslated with the reason. The mapping is documented in `docs/sca-import.md`.

mod commands;

use serde_norway::Value;

use super::{Fact, Translator, map, negate, numeric, strip_kind};
use crate::windows::RegPath;

pub(super) use commands::command;

/// A `registry` check on `key` (and value `name`) with extra fields.
fn reg(key: &str, name: Option<&str>, extra: Vec<(&'static str, Value)>) -> Value {
    let mut e = vec![("kind", Value::from("registry")), ("key", key.into())];
    if let Some(n) = name {
        e.push(("name", n.into()));
    }
    e.extend(extra);
    map(e)
}

/// One check, or `all` of several.
fn all(mut checks: Vec<Value>) -> Value {
    if checks.len() == 1 {
        return checks.remove(0);
    }
    map(vec![
        ("kind", "all".into()),
        ("checks", Value::Sequence(checks)),
    ])
}

/// `r:KEY [-> NAME [-> CONTENT]]`. A missing key or value makes the rule false, as in SCA.
pub(super) fn registry(
    tr: &Translator<'_>,
    parts: &[&str],
    negated: bool,
) -> Result<Value, String> {
    let key = parts[0].trim();
    if key.is_empty() {
        return Err("empty registry key".into());
    }
    RegPath::parse(key)?;
    match parts {
        [_] => Ok(reg(key, None, vec![("exists", (!negated).into())])),
        [_, name] => Ok(reg(
            key,
            Some(name.trim()),
            vec![("exists", (!negated).into())],
        )),
        [_, name, content] => {
            let checks = content
                .split(" && ")
                .map(|t| {
                    let cmp = value_comparison(tr, t.trim())?;
                    Ok(reg(key, Some(name.trim()), vec![("value", cmp.into())]))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(negate(all(checks), negated))
        }
        _ => Err("a registry rule has at most two `->`".into()),
    }
}

/// One term on a registry value's data: a regex, a numeric comparison or a literal.
fn value_comparison(tr: &Translator<'_>, term: &str) -> Result<String, String> {
    let (neg, t) = match term.strip_prefix('!') {
        Some(t) => (true, t),
        None => (false, term),
    };
    if let Some(re) = strip_kind(t, "r:") {
        return Ok(format!(
            "{} {}",
            if neg { "!~" } else { "~" },
            tr.regex(re)?
        ));
    }
    if let Some(n) = strip_kind(t, "n:") {
        if neg {
            return Err("a negated numeric comparison is not supported".into());
        }
        let (re, op, num) = numeric(n)?;
        // Only a capture of the whole value maps onto a value comparison (DWORDs read in decimal,
        // as SCA reads them).
        let whole = ["^(\\d+)$", "^(\\d+)", "(\\d+)", "^\\s*(\\d+)\\s*$"];
        if !whole.contains(&re.as_str()) {
            return Err(format!(
                "numeric regex {re:?} on a registry value selects part of it"
            ));
        }
        return Ok(format!("{op} {num}"));
    }
    Ok(format!("{} {t}", if neg { "!=" } else { "==" }))
}

/// Windows versions an SCA requirement names through `ProductName`, as platform version ids.
///
/// `ProductName` still reads "Windows 10" on Windows 11, so a policy requiring `^Windows 10` is
/// read by SCA on both; the translation keeps that.
pub(super) fn requirement(rule: &str) -> Option<Fact> {
    let body = rule.trim().strip_prefix("r:")?;
    let parts: Vec<&str> = body.split(" -> ").map(str::trim).collect();
    let [key, name, content] = parts.as_slice() else {
        return None;
    };
    let key = RegPath::parse(key).ok()?;
    let cv = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
    if !key.to_string().eq_ignore_ascii_case(&format!("HKLM\\{cv}"))
        || !name.eq_ignore_ascii_case("ProductName")
    {
        return None;
    }
    let product = strip_kind(content, "r:")
        .unwrap_or(content)
        .trim_start_matches('^')
        .replace('\\', "")
        .to_ascii_lowercase();
    let versions: &[&str] = match product.trim() {
        "windows 10" => &["10", "11"],
        "windows 11" => &["11"],
        "windows server 2012" => &["2012", "2012r2"],
        "windows server 2012 r2" => &["2012r2"],
        "windows server 2016" => &["2016"],
        "windows server 2019" => &["2019"],
        "windows server 2022" => &["2022"],
        "windows server 2025" => &["2025"],
        _ => return None,
    };
    Some(Fact::Windows(
        versions.iter().map(|v| (*v).to_string()).collect(),
    ))
}
