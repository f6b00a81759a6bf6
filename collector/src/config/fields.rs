//! Field parsers shared by the sections of collector.toml: each problem is pushed to `errs`,
//! naming the file and the field, and the default stands in so every other field is still
//! checked.

use std::net::SocketAddr;
use std::time::Duration;

use vigil_proto::units::parse_duration;

/// A listen address (`IP:PORT`), `default` when absent.
pub(crate) fn addr(
    f: &str,
    field: &str,
    v: Option<&str>,
    default: &str,
    errs: &mut Vec<String>,
) -> SocketAddr {
    let s = v.unwrap_or(default);
    s.parse().unwrap_or_else(|_| {
        errs.push(format!(
            "{f}: {field}: {s:?} is not an address, expected IP:PORT such as {default}"
        ));
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// A duration such as `30s` or `15m`, `default` when absent.
pub(crate) fn duration(
    f: &str,
    field: &str,
    v: Option<&str>,
    default: Duration,
    errs: &mut Vec<String>,
) -> Duration {
    match v {
        None => default,
        Some(s) => parse_duration(s).unwrap_or_else(|e| {
            errs.push(format!("{f}: {field}: {e}"));
            default
        }),
    }
}

/// A count that must be at least 1, `default` when absent.
pub(crate) fn at_least_one(
    f: &str,
    field: &str,
    v: Option<u32>,
    default: u32,
    errs: &mut Vec<String>,
) -> u32 {
    let n = v.unwrap_or(default);
    if n == 0 {
        errs.push(format!("{f}: {field} must be at least 1"));
    }
    n
}
