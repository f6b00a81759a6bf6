//! `[upstream]` of collector.toml: how this collector's link to its upstream behaves. The link
//! itself (upstream addresses, identity, pinned CA) is made by `upstream enroll` and kept in the
//! data directory; this section only tunes it, and wins over what `enroll --interval` wrote.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest allowed interval: the upstream must hear from a downstream at least hourly.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// `[upstream]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Time between two summary computations (1s to 1h); default: the `--interval` given to
    /// `upstream enroll`.
    pub interval: Option<String>,
}

impl RawUpstream {
    /// Checks the section of the file `f`; each problem goes to `errs`. `None`: not set.
    pub fn validate(&self, f: &str, errs: &mut Vec<String>) -> Option<Duration> {
        let s = self.interval.as_deref()?;
        let d = match vigil_proto::units::parse_duration(s) {
            Ok(d) => d,
            Err(e) => {
                errs.push(format!("{f}: upstream.interval: {e}"));
                return None;
            }
        };
        if d < Duration::from_secs(1) || d > MAX_INTERVAL {
            errs.push(format!(
                "{f}: upstream.interval must be from 1s to 1h (the upstream expects a summary at least hourly), not {s:?}"
            ));
            return None;
        }
        Some(d)
    }
}

/// The interval a link runs with: collector.toml's when set, else the one enrolled with.
pub fn effective_interval(configured: Option<Duration>, enrolled_s: u64) -> Duration {
    configured.unwrap_or_else(|| Duration::from_secs(enrolled_s.clamp(1, MAX_INTERVAL.as_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &str) -> (Option<Duration>, Vec<String>) {
        let mut errs = Vec::new();
        let d = RawUpstream {
            interval: Some(v.into()),
        }
        .validate("c.toml", &mut errs);
        (d, errs)
    }

    #[test]
    fn the_interval_is_bounded_and_wins_over_the_enrolled_one() {
        assert_eq!(check("10m"), (Some(Duration::from_secs(600)), vec![]));
        for bad in ["0s", "2h"] {
            let (d, errs) = check(bad);
            assert_eq!(d, None);
            assert!(
                errs[0].contains("upstream.interval must be from 1s to 1h"),
                "{errs:?}"
            );
        }
        let (d, errs) = check("soon");
        assert_eq!(d, None);
        assert!(
            errs[0].starts_with("c.toml: upstream.interval: "),
            "{errs:?}"
        );
        let mut errs = Vec::new();
        assert_eq!(RawUpstream::default().validate("c.toml", &mut errs), None);
        assert!(errs.is_empty());
        assert_eq!(
            effective_interval(Some(Duration::from_secs(5)), 30),
            Duration::from_secs(5)
        );
        assert_eq!(effective_interval(None, 30), Duration::from_secs(30));
        assert_eq!(effective_interval(None, 0), Duration::from_secs(1));
        assert_eq!(effective_interval(None, 86_400), MAX_INTERVAL);
    }
}
