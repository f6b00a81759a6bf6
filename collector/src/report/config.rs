//! The `[reports]` section of collector.toml: as written ([`RawReports`]) and validated
//! ([`ReportsConfig`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Lang;

/// `[reports]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReports {
    /// Directory scheduled reports are written to (relative to the data dir), default `reports`.
    pub dir: Option<String>,
    /// `monthly` (default), `weekly` or `off`.
    pub schedule: Option<String>,
    /// TrueType font embedded in PDF reports, default DejaVu Sans (`fonts-dejavu-core`).
    pub font: Option<String>,
    /// Language of scheduled reports: `vi` (default) or `en`.
    pub lang: Option<String>,
}

/// How often the province report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportSchedule {
    /// Last month's report, at the start of each month.
    #[default]
    Monthly,
    /// Last week's report (Monday to Sunday), at the start of each week.
    Weekly,
    /// No scheduled reports.
    Off,
}

/// Validated `[reports]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportsConfig {
    /// Where scheduled reports go.
    pub dir: PathBuf,
    /// How often.
    pub schedule: ReportSchedule,
    /// The PDF font.
    pub font: PathBuf,
    /// Language of scheduled reports.
    pub lang: Lang,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("reports"),
            schedule: ReportSchedule::default(),
            font: PathBuf::from(super::pdf::DEFAULT_FONT),
            lang: Lang::default(),
        }
    }
}

impl RawReports {
    /// Checks `[reports]` and resolves its paths under `data_dir`. Each problem is pushed to
    /// `errs` as `{file}: reports.FIELD: …`; the result then holds defaults in its place.
    pub fn validate(&self, data_dir: &Path, file: &str, errs: &mut Vec<String>) -> ReportsConfig {
        let schedule = match self.schedule.as_deref().unwrap_or("monthly") {
            "monthly" => ReportSchedule::Monthly,
            "weekly" => ReportSchedule::Weekly,
            "off" => ReportSchedule::Off,
            other => {
                errs.push(format!(
                    "{file}: reports.schedule: {other:?} is not a schedule, expected monthly, weekly or off"
                ));
                ReportSchedule::Off
            }
        };
        let lang = match self.lang.as_deref() {
            None => Lang::default(),
            Some(l) => Lang::parse(l).unwrap_or_else(|| {
                errs.push(format!(
                    "{file}: reports.lang: {l:?} is not a language, expected vi or en"
                ));
                Lang::default()
            }),
        };
        for (field, v) in [("reports.dir", &self.dir), ("reports.font", &self.font)] {
            if v.as_deref().is_some_and(|p| p.trim().is_empty()) {
                errs.push(format!("{file}: {field} must not be empty"));
            }
        }
        ReportsConfig {
            dir: data_dir.join(self.dir.as_deref().unwrap_or("reports")),
            schedule,
            font: self.font.as_deref().map_or_else(
                || PathBuf::from(super::pdf::DEFAULT_FONT),
                |p| data_dir.join(p),
            ),
            lang,
        }
    }
}
