//! The `[spool]` section of the agent configuration, in two stages: [`RawSpoolConfig`] as written
//! in TOML, validated into a [`SpoolConfig`] with every error reported at once.

use serde::Deserialize;

use crate::units::parse_size;

/// Size limits of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Bound on the bytes all segment files may use together. When an append would exceed it,
    /// records are dropped (see the module documentation for the order).
    pub max_bytes: u64,
    /// Size at which a segment is closed and a new one started. It is also the granularity at
    /// which acknowledged space is given back to the file system.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
        }
    }
}

/// Smallest segment size accepted in a configuration file.
const MIN_SEGMENT: u64 = 64 << 10;
/// Largest segment size: offsets into a segment are kept as `u32` in the index.
pub(super) const MAX_SEGMENT: u64 = 1 << 30;

/// The `[spool]` table as written, e.g. `max_size = "256MiB"`, `segment_size = "8MiB"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpoolConfig {
    /// Total size bound (default `256MiB`).
    #[serde(default)]
    pub max_size: Option<String>,
    /// Segment size (default `8MiB`, between `64KiB` and `1GiB`, at most half of `max_size`).
    #[serde(default)]
    pub segment_size: Option<String>,
}

impl RawSpoolConfig {
    /// Checks the section and produces the limits the spool runs with.
    ///
    /// # Errors
    /// Every problem found, each naming its field (`spool.max_size: ...`).
    pub fn validate(&self) -> Result<SpoolConfig, Vec<String>> {
        let defaults = SpoolConfig::default();
        let mut errors = Vec::new();
        let mut field = |name: &str, raw: &Option<String>, default: u64| match raw {
            None => Some(default),
            Some(s) => match parse_size(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(format!("spool.{name}: {e}"));
                    None
                }
            },
        };
        let max = field("max_size", &self.max_size, defaults.max_bytes);
        let seg = field("segment_size", &self.segment_size, defaults.segment_bytes);
        if let Some(seg) = seg {
            if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&seg) {
                errors.push(format!(
                    "spool.segment_size: {seg} bytes is out of range, expected 64KiB to 1GiB"
                ));
            } else if let Some(max) = max
                && max < seg.saturating_mul(2)
            {
                errors.push(format!(
                    "spool.max_size: {max} bytes is less than twice spool.segment_size \
                     ({seg} bytes)"
                ));
            }
        }
        match (max, seg) {
            (Some(max_bytes), Some(segment_bytes)) if errors.is_empty() => Ok(SpoolConfig {
                max_bytes,
                segment_bytes,
            }),
            _ => Err(errors),
        }
    }
}

/// Checks the sizes a spool is opened with (also given directly by tests and benchmarks).
pub(super) fn check_config(cfg: &SpoolConfig) -> Result<(), super::SpoolError> {
    let min_segment = super::format::SEG_HDR + super::format::REC_HDR as u64 + 2;
    if !(min_segment..=MAX_SEGMENT).contains(&cfg.segment_bytes) {
        return Err(super::SpoolError::Config(format!(
            "segment_bytes {} is outside {min_segment}..={}",
            cfg.segment_bytes, MAX_SEGMENT
        )));
    }
    if cfg.max_bytes < cfg.segment_bytes {
        return Err(super::SpoolError::Config(format!(
            "max_bytes {} is below segment_bytes {}",
            cfg.max_bytes, cfg.segment_bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<RawSpoolConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn defaults_apply_when_empty() {
        let raw = parse("").expect("empty table");
        assert_eq!(raw.validate(), Ok(SpoolConfig::default()));
        assert_eq!(SpoolConfig::default().max_bytes, 256 * 1024 * 1024);
    }

    #[test]
    fn sizes_are_parsed() {
        let raw = parse("max_size = \"1GiB\"\nsegment_size = \"16MiB\"").expect("valid");
        assert_eq!(
            raw.validate(),
            Ok(SpoolConfig {
                max_bytes: 1 << 30,
                segment_bytes: 16 << 20
            })
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = parse("max_sise = \"1GiB\"").expect_err("typo must be refused");
        assert!(err.to_string().contains("max_sise"), "{err}");
    }

    #[test]
    fn all_errors_are_reported_with_field_names() {
        let raw = RawSpoolConfig {
            max_size: Some("lots".into()),
            segment_size: Some("2KiB".into()),
        };
        let errs = raw.validate().expect_err("invalid");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("spool.max_size:"), "{errs:?}");
        assert!(errs[1].starts_with("spool.segment_size:"), "{errs:?}");
    }

    #[test]
    fn max_size_must_hold_two_segments() {
        let raw = RawSpoolConfig {
            max_size: Some("8MiB".into()),
            segment_size: Some("8MiB".into()),
        };
        let errs = raw.validate().expect_err("too small");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spool.max_size:"), "{errs:?}");
    }
}
