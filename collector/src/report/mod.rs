//! Posture reports of the province or of one agency subtree for a period (docs/reports.md).
//!
//! [`Report::build`] reads the store once and turns it into a plain data model; the renderers
//! ([`html`], [`csv`], [`pdf`]) only format it. What the model holds:
//! - per agency of the scope (each over its whole subtree, like `score`): `A`, `A_common` and
//!   `A_level` with coverage as computed when the report is made, and the trend of each over the
//!   period from the stored score history (the last point at or before the start, or else the
//!   first in the period, against the last point before the end; the points in between feed the
//!   sparkline);
//! - hosts whose verdict is "Không đạt";
//! - alerts by severity: those still open or acknowledged that were raised before the end of
//!   the period, with their median age at the end of the period, and the mean time to resolve
//!   of the alerts resolved during the period (from the audit log: the `alert.state` entry that
//!   resolved it, measured from when the alert was raised or last reopened);
//! - the share of hosts with healthy anti-malware, patched within 30 days, time synchronised and
//!   log retention at the level minimum, from the latest results of the rules in [`SHARES`]
//!   (Linux hosts) or [`WINDOWS_SHARES`] (Windows hosts);
//!   a host without a conclusive result counts as unknown.
//!
//! Dates are calendar days in Vietnam time (UTC+7): a period runs from 00:00 of its first day
//! to 24:00 of its last.

use std::collections::HashMap;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use vigil_proto::{Severity, Status};
use vigil_rules::score::{Scoring, Verdict};

use crate::scoring::{self, Inputs, RuleCatalog, Scores, in_subtree};
use crate::store::{AuditEntry, CheckState, ScorePoint, Store, StoreError};

mod config;
pub mod csv;
mod doc;
pub mod html;
#[cfg(test)]
mod lang_tests;
pub mod pdf;
#[cfg(test)]
pub(crate) mod tests;

pub use config::{RawReports, ReportSchedule, ReportsConfig};
pub use doc::Lang;

/// Report time zone: Vietnam time, UTC+7 (no daylight saving).
pub const TZ_OFFSET_S: i32 = 7 * 3600;

/// Results older than this before the end of the period do not count as "patched within 30
/// days".
pub const PATCH_WINDOW_MS: i64 = 30 * 86_400_000;

/// The indicators a report shows as shares of hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareKind {
    /// Anti-malware installed, running, updating itself, with fresh signatures.
    AntiMalware,
    /// Automatic upgrades ran recently and no reboot has been pending for long, observed
    /// within the last 30 days of the period.
    Patched,
    /// A time synchronisation service runs with a configured source.
    TimeSync,
    /// Logs are kept at least as long as the host's level requires.
    LogRetention,
}

/// Each share and the rules of the built-in `linux-baseline` pack that feed it (for Windows hosts,
/// [`WINDOWS_SHARES`]): a host counts
/// as "yes" when every rule passed, "no" when one failed, and "unknown" otherwise (no result,
/// an evaluation error, or not applicable). For log retention, "not applicable" on a host of
/// level 1 (which has no minimum) counts as "yes".
pub const SHARES: [(ShareKind, &[&str]); 4] = [
    (
        ShareKind::AntiMalware,
        &[
            "lnx-av-installed",
            "lnx-av-daemon-running",
            "lnx-av-freshclam-running",
            "lnx-av-signatures-fresh",
        ],
    ),
    (
        ShareKind::Patched,
        &["lnx-upd-recent-run", "lnx-upd-reboot-pending"],
    ),
    (
        ShareKind::TimeSync,
        &["lnx-log-time-sync", "lnx-log-time-source"],
    ),
    (ShareKind::LogRetention, &["lnx-log-retention"]),
];

/// The rules of the built-in `windows-baseline` pack that feed each share of [`SHARES`], in the
/// same order, read for hosts that report results of that pack.
pub const WINDOWS_SHARES: [(ShareKind, &[&str]); 4] = [
    (
        ShareKind::AntiMalware,
        &["win-av-realtime", "win-av-signatures-fresh"],
    ),
    (
        ShareKind::Patched,
        &["win-upd-recent-install", "win-upd-no-reboot-pending"],
    ),
    (
        ShareKind::TimeSync,
        &["win-log-time-sync", "win-log-time-source"],
    ),
    (ShareKind::LogRetention, &["win-log-retention"]),
];

/// A host's answers to the shares: from the Windows rules when it reports results of the
/// `windows-baseline` pack, from the Linux rules otherwise.
fn host_answers(states: &[CheckState], level: u8, end_ms: i64) -> [Answer; 4] {
    let windows = states.iter().any(|c| c.0.starts_with("windows-baseline@"));
    let table = if windows { &WINDOWS_SHARES } else { &SHARES };
    table.map(|(kind, rules)| answer(kind, rules, states, level, end_ms))
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request is wrong (unknown agency, bad dates).
    #[error("{0}")]
    Invalid(String),
    /// The agency does not exist.
    #[error("no agency {0:?}")]
    UnknownAgency(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Rendering failed (e.g. the PDF font is missing).
    #[error("{0}")]
    Render(String),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A self-contained HTML page.
    Html,
    /// PDF 1.4 with an embedded font.
    Pdf,
    /// One row per agency, UTF-8 with a byte-order mark.
    Csv,
}

impl Format {
    /// Parses `html`, `pdf` or `csv`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "html" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Pdf => "pdf",
            Self::Csv => "csv",
        }
    }

    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Pdf => "application/pdf",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

fn tz() -> UtcOffset {
    UtcOffset::from_whole_seconds(TZ_OFFSET_S).unwrap_or(UtcOffset::UTC)
}

/// The calendar day (Vietnam time) of an instant.
pub fn local_date(ms: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(tz())
        .date()
}

/// `YYYY-MM-DD HH:MM` in Vietnam time.
pub fn local_time(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(tz());
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

fn midnight_ms(d: Date) -> i64 {
    PrimitiveDateTime::new(d, Time::MIDNIGHT)
        .assume_offset(tz())
        .unix_timestamp()
        .saturating_mul(1000)
}

fn parse_date(s: &str) -> Result<Date, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, fmt).map_err(|_| format!("{s:?} is not a date, expected YYYY-MM-DD"))
}

/// Longest period of a report, in days: a report reads the score history and audit entries of
/// its period, so its size must not be the caller's choice.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// A period of whole days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
}

impl Period {
    /// The calendar month `YYYY-MM`.
    ///
    /// # Errors
    /// A message when `s` is not a month.
    pub fn month(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a month, expected YYYY-MM");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        let month = Month::try_from(m).map_err(|_| bad())?;
        let from = Date::from_calendar_date(y, month, 1).map_err(|_| bad())?;
        let to = Date::from_calendar_date(y, month, month.length(y)).map_err(|_| bad())?;
        Ok(Self { from, to })
    }

    /// The last full calendar month before the day of `now_ms`.
    pub fn last_full_month(now_ms: i64) -> Self {
        let today = local_date(now_ms);
        let last = today.replace_day(1).ok().and_then(Date::previous_day);
        let to = last.unwrap_or(today);
        Self {
            from: to.replace_day(1).unwrap_or(to),
            to,
        }
    }

    /// The last full week (Monday to Sunday) before the day of `now_ms`.
    pub fn last_full_week(now_ms: i64) -> Self {
        let today = local_date(now_ms);
        let monday =
            today - time::Duration::days(i64::from(today.weekday().number_days_from_monday()));
        Self {
            from: monday - time::Duration::days(7),
            to: monday - time::Duration::days(1),
        }
    }

    /// The period of `--from`/`--to` (days) or `--period` (a month); the last full month when
    /// none is given. `--from` alone runs to today.
    ///
    /// # Errors
    /// A message naming the bad argument.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        month: Option<&str>,
        now_ms: i64,
    ) -> Result<Self, String> {
        let p = match (from, to, month) {
            (None, None, None) => Self::last_full_month(now_ms),
            (None, None, Some(m)) => Self::month(m).map_err(|e| format!("period: {e}"))?,
            (_, _, Some(_)) => return Err("period cannot be combined with from/to".into()),
            (None, Some(_), None) => return Err("to needs from".into()),
            (Some(f), t, None) => Self {
                from: parse_date(f).map_err(|e| format!("from: {e}"))?,
                to: match t {
                    Some(t) => parse_date(t).map_err(|e| format!("to: {e}"))?,
                    None => local_date(now_ms),
                },
            },
        };
        if p.from > p.to {
            return Err(format!("from ({}) is after to ({})", p.from, p.to));
        }
        if (p.to - p.from).whole_days() >= MAX_PERIOD_DAYS {
            return Err(format!(
                "the period is longer than {MAX_PERIOD_DAYS} days; make one report per year"
            ));
        }
        Ok(p)
    }

    /// Start, ms since the epoch.
    pub fn start_ms(&self) -> i64 {
        midnight_ms(self.from)
    }

    /// End (exclusive: midnight after the last day), ms since the epoch.
    pub fn end_ms(&self) -> i64 {
        self.to.next_day().map_or(i64::MAX / 2, midnight_ms)
    }

    /// `2026-11` for a calendar month, else `2026-11-03_2026-11-20` (for file names).
    pub fn slug(&self) -> String {
        if self.from.day() == 1
            && self.to.month() == self.from.month()
            && self.to.year() == self.from.year()
            && self.to.day() == self.from.month().length(self.from.year())
        {
            format!("{}-{:02}", self.from.year(), u8::from(self.from.month()))
        } else {
            format!("{}_{}", self.from, self.to)
        }
    }
}

/// One view of an agency's score: now, and its course over the period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewTrend {
    /// The score computed when the report was made.
    pub now: f64,
    /// Coverage computed when the report was made, in [0, 1].
    pub coverage: f64,
    /// The stored score at the start of the period, if any.
    pub start: Option<f64>,
    /// The stored score at the end of the period, if any.
    pub end: Option<f64>,
    /// Stored points from the start value to the end one: (ms, score).
    pub points: Vec<(i64, f64)>,
}

/// Hosts answering "yes", "no" or "unknown" to one indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShareCount {
    /// Every rule passed.
    pub yes: usize,
    /// A rule failed.
    pub no: usize,
    /// No conclusive result.
    pub unknown: usize,
}

impl ShareCount {
    /// Hosts counted.
    pub fn total(&self) -> usize {
        self.yes + self.no + self.unknown
    }

    /// `yes` over all hosts, in [0, 1]; `None` without hosts.
    pub fn share(&self) -> Option<f64> {
        (self.total() > 0).then(|| self.yes as f64 / self.total() as f64)
    }
}

/// Alerts of one severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityAlerts {
    /// Severity.
    pub severity: Severity,
    /// Open or acknowledged, raised before the end of the period.
    pub open: usize,
    /// Median age of those at the end of the period (or now, if earlier), seconds.
    pub median_age_s: Option<i64>,
    /// Resolved during the period.
    pub resolved: usize,
    /// Mean time to resolve of those, seconds.
    pub mttr_s: Option<i64>,
}

/// What a set of hosts shows, beyond scores.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metrics {
    /// Live agents.
    pub agents: usize,
    /// One count per entry of [`SHARES`], in that order.
    pub shares: [ShareCount; 4],
    /// Critical first.
    pub alerts: Vec<SeverityAlerts>,
}

/// One agency of the scope, over its subtree.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyRow {
    /// Path.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Required level.
    pub level: u8,
    /// Depth below the report's scope (0 for the scope itself or a root).
    pub depth: usize,
    /// Registered assets (with or without an agent).
    pub assets: usize,
    /// `A`, `A_common`, `A_level`.
    pub views: [ViewTrend; 3],
    /// Hosts "Không đạt".
    pub failing: usize,
    /// Shares and alerts.
    pub metrics: Metrics,
}

/// A host whose verdict is "Không đạt".
#[derive(Debug, Clone, PartialEq)]
pub struct FailingHost {
    /// Host name.
    pub hostname: String,
    /// Agency path.
    pub agency: String,
    /// Security level.
    pub level: u8,
    /// `H`.
    pub score: f64,
    /// A simulated host of `demo --province`.
    pub simulated: bool,
}

/// A report, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Organisation name (province).
    pub org: String,
    /// The agency the report is about; `None` for the whole organisation.
    pub scope: Option<String>,
    /// Display name of the scope.
    pub scope_name: String,
    /// The period.
    pub period: Period,
    /// When it was made, ms since the epoch.
    pub generated_at: i64,
    /// Rule packs behind the results (`id@version`, comma-separated).
    pub rule_pack_version: String,
    /// Scoring configuration version.
    pub scoring_version: String,
    /// Agencies of the scope, by path.
    pub agencies: Vec<AgencyRow>,
    /// Shares and alerts over the whole scope.
    pub total: Metrics,
    /// Failing hosts of the scope, lowest score first.
    pub failing_hosts: Vec<FailingHost>,
    /// Hosts of the scope that are simulated (`demo --province`): the report says so.
    pub simulated_hosts: usize,
    /// Vulnerable software of the scope now: hosts affected per CVE (the worst first, at most
    /// [`REPORT_CVES`]) and the oldest unpatched critical (docs/vulnerabilities.md).
    pub vulns: crate::vuln::summary::Summary,
}

/// Most CVEs a report lists.
pub const REPORT_CVES: usize = 20;

/// The three views as stored in the history (`full`, `common`, `level`).
const VIEWS: [&str; 3] = ["full", "common", "level"];

/// Severities, most severe first.
const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
];

/// An alert reduced to what the report needs.
struct AlertFact {
    agency: Option<String>,
    severity: Severity,
    /// Open age in seconds at the end of the period, when it counts as open.
    open_age: Option<i64>,
    /// Time to resolve in seconds, when resolved during the period.
    resolved_in: Option<i64>,
}

/// A host reduced to what the report needs.
struct HostFact {
    agency: String,
    answers: [Answer; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Unknown,
}

/// The answer of one host to one indicator.
fn answer(
    kind: ShareKind,
    rules: &[&str],
    states: &[CheckState],
    level: u8,
    end_ms: i64,
) -> Answer {
    let mut all_pass = true;
    for rule in rules {
        let found = states.iter().find(|c| c.1 == *rule);
        let status = match found {
            Some(c) if kind == ShareKind::Patched && c.5 < end_ms - PATCH_WINDOW_MS => None,
            Some(c) => Some(c.4),
            None => None,
        };
        match status {
            Some(Status::Fail) => return Answer::No,
            Some(Status::Pass) => {}
            Some(Status::NotApplicable) if kind == ShareKind::LogRetention && level < 2 => {}
            _ => all_pass = false,
        }
    }
    if all_pass {
        Answer::Yes
    } else {
        Answer::Unknown
    }
}

fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

fn metrics<'a>(
    hosts: impl Iterator<Item = &'a HostFact>,
    alerts: impl Iterator<Item = &'a AlertFact>,
) -> Metrics {
    let mut m = Metrics::default();
    for h in hosts {
        m.agents += 1;
        for (count, a) in m.shares.iter_mut().zip(h.answers) {
            match a {
                Answer::Yes => count.yes += 1,
                Answer::No => count.no += 1,
                Answer::Unknown => count.unknown += 1,
            }
        }
    }
    let mut ages: HashMap<Severity, Vec<i64>> = HashMap::new();
    let mut resolved: HashMap<Severity, Vec<i64>> = HashMap::new();
    for a in alerts {
        if let Some(age) = a.open_age {
            ages.entry(a.severity).or_default().push(age);
        }
        if let Some(d) = a.resolved_in {
            resolved.entry(a.severity).or_default().push(d);
        }
    }
    m.alerts = SEVERITIES
        .iter()
        .map(|&severity| {
            let mut age = ages.remove(&severity).unwrap_or_default();
            let res = resolved.remove(&severity).unwrap_or_default();
            SeverityAlerts {
                severity,
                open: age.len(),
                median_age_s: median(&mut age),
                resolved: res.len(),
                mttr_s: (!res.is_empty())
                    .then(|| res.iter().sum::<i64>() / i64::try_from(res.len()).unwrap_or(1)),
            }
        })
        .collect();
    m
}

/// Start, end and points of one stored series over the period.
fn trend(
    history: &[&ScorePoint],
    start_ms: i64,
    end_ms: i64,
) -> (Option<f64>, Option<f64>, Vec<(i64, f64)>) {
    // The last point at or before the start, else the first inside the period.
    let before = history.iter().rev().find(|p| p.computed_at <= start_ms);
    let inside: Vec<&&ScorePoint> = history
        .iter()
        .filter(|p| p.computed_at > start_ms && p.computed_at < end_ms)
        .collect();
    let first = before.or(inside.first().copied());
    let last = inside.last().copied().or(before);
    let mut points: Vec<(i64, f64)> = before.iter().map(|p| (start_ms, p.score)).collect();
    points.extend(inside.iter().map(|p| (p.computed_at, p.score)));
    (first.map(|p| p.score), last.map(|p| p.score), points)
}

/// Writes the scheduled province report of the period before `now_ms` (last month, or last
/// week) into `cfg.dir` as HTML, PDF and CSV, each file only if it does not exist yet (so a
/// restart, or another collector sharing the directory, writes nothing twice). Files are
/// written atomically with mode 0640. Returns the files written.
///
/// # Errors
/// Store, rendering and I/O errors (files written before the error stay).
pub fn write_scheduled(
    store: &dyn Store,
    scoring: &Scoring,
    org: &str,
    cfg: &ReportsConfig,
    now_ms: i64,
) -> Result<Vec<std::path::PathBuf>, ReportError> {
    let period = match cfg.schedule {
        ReportSchedule::Off => return Ok(Vec::new()),
        ReportSchedule::Monthly => Period::last_full_month(now_ms),
        ReportSchedule::Weekly => Period::last_full_week(now_ms),
    };
    let io = |what: &str, p: &std::path::Path, e: std::io::Error| {
        ReportError::Render(format!("{what} {}: {e}", p.display()))
    };
    let formats = [Format::Html, Format::Pdf, Format::Csv];
    let path = |f: Format| {
        cfg.dir
            .join(format!("vigil-report-all-{}.{}", period.slug(), f.ext()))
    };
    let missing: Vec<Format> = formats.into_iter().filter(|f| !path(*f).exists()).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(&cfg.dir).map_err(|e| io("creating", &cfg.dir, e))?;
    let report = Report::build(store, scoring, org, None, period, now_ms)?;
    let mut written = Vec::new();
    for f in missing {
        let bytes = report.render(f, cfg.lang, &cfg.font)?;
        let p = path(f);
        crate::fsutil::write_atomic(&p, &bytes, 0o640).map_err(|e| io("writing", &p, e))?;
        written.push(p);
    }
    Ok(written)
}

/// History is written at least daily; looking this far before the start finds the point in
/// force then.
const HISTORY_LOOKBACK_MS: i64 = 3 * 86_400_000;

impl Report {
    /// Reads the store and builds the report of `scope` (an agency path, or the whole
    /// organisation) for `period`, as of `now_ms`.
    ///
    /// # Errors
    /// [`ReportError::UnknownAgency`] and store errors.
    pub fn build(
        store: &dyn Store,
        scoring: &Scoring,
        org: &str,
        scope: Option<&str>,
        period: Period,
        now_ms: i64,
    ) -> Result<Self, ReportError> {
        let inputs = Inputs::load(store)?;
        let scores = scoring::compute(&inputs, scoring, &RuleCatalog::builtin(), now_ms);
        Self::assemble(store, &inputs, &scores, org, scope, period, now_ms)
    }

    /// Like [`Report::build`], with scores already computed (the console's score cache), so a
    /// report does not recompute every host's score.
    ///
    /// # Errors
    /// [`ReportError::UnknownAgency`] and store errors.
    pub fn from_scores(
        store: &dyn Store,
        scores: &Scores,
        org: &str,
        scope: Option<&str>,
        period: Period,
        now_ms: i64,
    ) -> Result<Self, ReportError> {
        let inputs = Inputs::load(store)?;
        Self::assemble(store, &inputs, scores, org, scope, period, now_ms)
    }

    fn assemble(
        store: &dyn Store,
        inputs: &Inputs,
        scores: &Scores,
        org: &str,
        scope: Option<&str>,
        period: Period,
        now_ms: i64,
    ) -> Result<Self, ReportError> {
        let scope_name = match scope {
            Some(s) => inputs
                .agencies
                .iter()
                .find(|a| a.id == s)
                .map(|a| a.name.clone())
                .ok_or_else(|| ReportError::UnknownAgency(s.to_owned()))?,
            None => org.to_owned(),
        };
        let (start_ms, end_ms) = (period.start_ms(), period.end_ms());
        let in_scope = |agency: &str| scope.is_none_or(|s| in_subtree(agency, s));

        // Hosts and their answers.
        let mut hosts = Vec::new();
        let mut failing_hosts = Vec::new();
        for h in scores.hosts.iter().filter(|h| in_scope(&h.agency)) {
            let states = inputs.checks.get(&h.id).map_or(&[][..], Vec::as_slice);
            let answers = host_answers(states, h.level, end_ms.min(now_ms));
            hosts.push(HostFact {
                agency: h.agency.clone(),
                answers,
            });
            if h.full.verdict == Verdict::Fail {
                failing_hosts.push(FailingHost {
                    hostname: h.hostname.clone(),
                    agency: h.agency.clone(),
                    level: h.level,
                    score: h.full.score,
                    simulated: h.simulated,
                });
            }
        }
        failing_hosts.sort_by(|a, b| {
            a.score
                .total_cmp(&b.score)
                .then_with(|| a.agency.cmp(&b.agency))
                .then_with(|| a.hostname.cmp(&b.hostname))
        });

        // Alerts: every agent ever enrolled, so alerts of replaced agents keep their agency.
        let agency_of: HashMap<String, String> = store
            .agents_brief()?
            .into_iter()
            .map(|a| (a.id, a.agency))
            .collect();
        let (start_s, end_s) = (start_ms.div_euclid(1000), end_ms.div_euclid(1000));
        let asof_s = end_s.min(now_ms.div_euclid(1000));
        let mut resolved_at: HashMap<i64, i64> = HashMap::new();
        let mut reopened: HashMap<i64, Vec<i64>> = HashMap::new();
        // Resolutions in the period, and reopenings before its end (only those before a
        // resolution count): two index range reads, not the whole audit log.
        let alert_id = |e: &AuditEntry| e.detail.get("id").and_then(serde_json::Value::as_i64);
        for e in store.audit_range("alert.state", start_s, end_s)? {
            if let Some(id) = alert_id(&e)
                && e.detail.get("state").and_then(serde_json::Value::as_str) == Some("resolved")
            {
                let r = resolved_at.entry(id).or_insert(e.at);
                *r = (*r).max(e.at);
            }
        }
        for e in store.audit_range("alert.reopened", i64::MIN, end_s)? {
            if let Some(id) = alert_id(&e) {
                reopened.entry(id).or_default().push(e.at);
            }
        }
        let alerts: Vec<AlertFact> = store
            .alerts(None)?
            .into_iter()
            .filter_map(|a| {
                let agency = agency_of.get(&a.agent_id).cloned();
                if scope.is_some() && !agency.as_deref().is_some_and(in_scope) {
                    return None;
                }
                let open_age = (a.state.is_active() && a.opened_at < end_s)
                    .then(|| (asof_s - a.opened_at).max(0));
                let resolved_in = resolved_at.get(&a.id).map(|&t| {
                    let since = reopened
                        .get(&a.id)
                        .into_iter()
                        .flatten()
                        .filter(|&&r| r <= t)
                        .fold(a.opened_at, |acc, &r| acc.max(r));
                    (t - since).max(0)
                });
                (open_age.is_some() || resolved_in.is_some()).then_some(AlertFact {
                    agency,
                    severity: a.severity,
                    open_age,
                    resolved_in,
                })
            })
            .collect();

        // Agencies of the scope.
        let mut agencies = Vec::new();
        for a in scores.agencies.iter().filter(|a| in_scope(&a.id)) {
            let history = store.score_history(
                "agency",
                &a.id,
                start_ms.saturating_sub(HISTORY_LOOKBACK_MS),
            )?;
            let views = [
                (&a.full, VIEWS[0]),
                (&a.common, VIEWS[1]),
                (&a.level_view, VIEWS[2]),
            ]
            .map(|(s, v)| {
                let series: Vec<&ScorePoint> = history.iter().filter(|p| p.view == v).collect();
                let (start, end, points) = trend(&series, start_ms, end_ms);
                ViewTrend {
                    now: s.score,
                    coverage: s.coverage,
                    start,
                    end,
                    points,
                }
            });
            let below = scope.map_or(a.id.as_str(), |s| a.id.get(s.len()..).unwrap_or(""));
            let depth = below.matches('/').count();
            agencies.push(AgencyRow {
                id: a.id.clone(),
                name: a.name.clone(),
                level: a.level,
                depth,
                assets: a.full.hosts,
                views,
                failing: a.hosts_failing,
                metrics: metrics(
                    hosts.iter().filter(|h| in_subtree(&h.agency, &a.id)),
                    alerts
                        .iter()
                        .filter(|f| f.agency.as_deref().is_some_and(|g| in_subtree(g, &a.id))),
                ),
            });
        }
        let total = metrics(hosts.iter(), alerts.iter());
        let vuln_rows: Vec<_> = store
            .vulns()
            .vuln_matches(&crate::store::vuln::VulnFilter::All)?
            .into_iter()
            .filter(|m| in_scope(&m.agency))
            .collect();
        Ok(Self {
            org: org.to_owned(),
            scope: scope.map(str::to_owned),
            scope_name,
            period,
            generated_at: now_ms,
            rule_pack_version: scores.rule_pack_version.clone(),
            scoring_version: scores.scoring_version.clone(),
            agencies,
            total,
            failing_hosts,
            simulated_hosts: scores
                .hosts
                .iter()
                .filter(|h| h.simulated && in_scope(&h.agency))
                .count(),
            vulns: crate::vuln::summary::summarize(&vuln_rows, REPORT_CVES),
        })
    }

    /// A file name such as `vigil-report-tinh-so-tttt-2026-11.pdf`.
    pub fn file_name(&self, format: Format) -> String {
        let scope: String = self
            .scope
            .as_deref()
            .unwrap_or("all")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!(
            "vigil-report-{scope}-{}.{}",
            self.period.slug(),
            format.ext()
        )
    }

    /// Renders the report.
    ///
    /// # Errors
    /// [`ReportError::Render`] when the PDF font cannot be read.
    pub fn render(
        &self,
        format: Format,
        lang: Lang,
        font: &std::path::Path,
    ) -> Result<Vec<u8>, ReportError> {
        match format {
            Format::Html => Ok(html::render(self, lang).into_bytes()),
            Format::Csv => Ok(csv::render(self, lang).into_bytes()),
            Format::Pdf => pdf::render(self, lang, font),
        }
    }
}
