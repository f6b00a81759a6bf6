//! `vigil-agent check` and the run-mode side of hardening checks.
//!
//! [`run_check`] loads rule packs, evaluates them over a root directory (`/` or an offline image)
//! and writes a table or a JSON report; it returns the process exit code so `main.rs` stays glue.
//! [`CheckTracker`] turns successive evaluations into findings: only what changed, plus a full
//! digest when one is due, so the collector can verify its state. [`RawChecksConfig`] is the
//! `[checks]` section of the agent configuration, validated into [`ChecksConfig`] with every error
//! reported at once.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use vigil_proto::{CheckResult, Finding, FindingSink, Severity, Status};
use vigil_rules::{Level, LoadError, Pack, evaluate, load_packs};

use crate::units::parse_duration;

/// Where packs are read from when none is given: `/etc/vigil/packs`, or
/// `%ProgramData%\Vigil\packs` on Windows.
pub fn default_pack_dir() -> PathBuf {
    crate::platform::default_pack_dir()
}

/// The packs `vigil-agent run` evaluates on this host: the configured ones, or, when the
/// default directory is not installed, the built-in packs that fit this host (a pack
/// whose `applies_to` names `windows` is for Windows hosts, any other for Linux ones), so a
/// Windows agent never reports the Linux baseline as errors.
///
/// # Errors
/// A pack that fails to load.
pub fn packs_for_this_host(
    cfg: &ChecksConfig,
    facts: &dyn vigil_rules::HostFacts,
) -> Result<Vec<Pack>, LoadError> {
    if cfg.packs != [default_pack_dir()] || cfg.packs[0].exists() {
        return load_packs(&cfg.packs);
    }
    // Only this platform's built-in packs are parsed (a check run holds them while it runs).
    vigil_rules::builtin_packs_for_platform(facts, cfg!(windows))
}

/// JSON schema identifier of the `check --format json` output (docs/check-json.md).
pub const JSON_SCHEMA: &str = "vigil.check.v1";

/// Exit code: every applicable rule passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one rule failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or configuration error (bad pack, bad root).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: runtime error (a rule could not be evaluated, output could not be written).
pub const EXIT_RUNTIME: u8 = 3;

/// Errors of a check run. [`CheckError::exit_code`] maps them to the CLI contract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A pack could not be loaded (the message names file, line and field).
    #[error("{0}")]
    Pack(#[from] LoadError),
    /// The options are unusable.
    #[error("{0}")]
    Usage(String),
    /// Writing the report failed.
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

impl CheckError {
    /// Exit code for this error: 2 for usage/config, 3 for runtime.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Pack(_) | Self::Usage(_) => EXIT_USAGE,
            Self::Output(_) => EXIT_RUNTIME,
        }
    }
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable table grouped by rule group.
    #[default]
    Table,
    /// `vigil.check.v1` JSON.
    Json,
}

/// Colour choice for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// Colour when writing to a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorMode {
    /// Decides whether to colour, given whether stdout is a terminal and the `NO_COLOR` value.
    pub fn enabled(self, is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            // https://no-color.org: any non-empty value disables colour.
            Self::Auto => is_terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

/// Language of titles in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Vietnamese.
    Vi,
}

/// Options of `vigil-agent check`.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Root of the checked tree (`/` for this host).
    pub root: PathBuf,
    /// Pack files or directories; empty means [`default_pack_dir`].
    pub packs: Vec<PathBuf>,
    /// Security level of the host's system (1–5).
    pub level: u8,
    /// Output format.
    pub format: Format,
    /// Whether to colour the table (resolved by the caller, see [`ColorMode::enabled`]).
    pub color: bool,
    /// Title language of the table.
    pub lang: Lang,
    /// Evaluation time (file ages are measured against it).
    pub now: SystemTime,
}

impl CheckOptions {
    /// Options for `root` with defaults: default pack dir, level 1, table, no colour, now.
    pub fn new(root: impl Into<PathBuf>) -> CheckOptions {
        CheckOptions {
            root: root.into(),
            packs: Vec::new(),
            level: 1,
            format: Format::Table,
            color: false,
            lang: Lang::En,
            now: SystemTime::now(),
        }
    }
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Could not be evaluated.
    pub error: usize,
    /// Not applicable to this host or level.
    pub not_applicable: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Error => s.error += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
        }
        s
    }

    /// The exit code: 1 when a rule failed, else 3 when a rule could not be evaluated, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.fail > 0 {
            EXIT_FAILED
        } else if self.error > 0 {
            EXIT_RUNTIME
        } else {
            EXIT_OK
        }
    }
}

/// Loads the packs, evaluates them over `opts.root` and writes the report to `out`.
///
/// Returns the exit code (0 all pass, 1 a rule failed, 3 a rule could not be evaluated).
///
/// # Errors
/// [`CheckError`] for unusable options or packs (exit code 2) and output failures (3); use
/// [`CheckError::exit_code`].
pub fn run_check(opts: &CheckOptions, out: &mut dyn Write) -> Result<u8, CheckError> {
    let level = Level::new(opts.level).ok_or_else(|| {
        CheckError::Usage(format!(
            "--level: {} is out of range, expected 1 to 5",
            opts.level
        ))
    })?;
    if !opts.root.is_dir() {
        return Err(CheckError::Usage(format!(
            "--root: {} is not a directory",
            opts.root.display()
        )));
    }
    let pack_paths = if opts.packs.is_empty() {
        vec![default_pack_dir()]
    } else {
        opts.packs.clone()
    };
    // The running Windows system when the root is its system drive, else the tree.
    let facts = crate::platform::host_facts(&opts.root, opts.now);
    let facts = facts.as_ref();
    // Without installed packs, the packs built into the binary for the checked tree's OS apply.
    let packs = if opts.packs.is_empty() && !default_pack_dir().exists() {
        vigil_rules::builtin_packs_for(facts)?
    } else {
        load_packs(&pack_paths)?
    };
    if packs.is_empty() {
        return Err(CheckError::Usage(format!(
            "--pack: no *.yaml pack found in {}",
            pack_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let _span = tracing::info_span!("check", root = %opts.root.display(), %level).entered();
    let mut results = Vec::new();
    for p in &packs {
        results.extend(evaluate(p, facts, level));
    }
    let summary = Summary::of(&results);
    match opts.format {
        Format::Json => write_json(opts, &packs, &results, summary, out)?,
        Format::Table => write_table(opts, &packs, &results, summary, out)?,
    }
    Ok(summary.exit_code())
}

/// One result in the JSON report: the finding plus the rule's titles.
#[derive(Debug, Serialize)]
struct JsonResult<'a> {
    #[serde(flatten)]
    result: &'a CheckResult,
    title: Option<&'a vigil_rules::Text>,
}

#[derive(Debug, Serialize)]
struct JsonPack<'a> {
    id: &'a str,
    version: &'a str,
    rules: usize,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    schema: &'static str,
    root: String,
    level: u8,
    packs: Vec<JsonPack<'a>>,
    summary: Summary,
    /// Host score from `vigil_rules::score` (the collector's scoring code), with its breakdown.
    score: Option<vigil_rules::score::HostScore>,
    results: Vec<JsonResult<'a>>,
}

/// The host score from the collector's scoring code, for a host that reports now.
fn host_score(opts: &CheckOptions, results: &[CheckResult]) -> vigil_rules::score::HostScore {
    let now_ms = opts
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    vigil_rules::score::score_check_results("local", results, Some(now_ms), now_ms)
}

fn rule_of<'a>(packs: &'a [Pack], r: &CheckResult) -> Option<&'a vigil_rules::Rule> {
    packs
        .iter()
        .find(|p| r.pack == format!("{}@{}", p.id, p.version))
        .and_then(|p| p.rules.iter().find(|x| x.id == r.rule_id))
}

fn write_json(
    opts: &CheckOptions,
    packs: &[Pack],
    results: &[CheckResult],
    summary: Summary,
    out: &mut dyn Write,
) -> Result<(), CheckError> {
    let report = JsonReport {
        schema: JSON_SCHEMA,
        root: opts.root.display().to_string(),
        level: opts.level,
        packs: packs
            .iter()
            .map(|p| JsonPack {
                id: &p.id,
                version: &p.version,
                rules: p.rules.len(),
            })
            .collect(),
        summary,
        score: Some(host_score(opts, results)),
        results: results
            .iter()
            .map(|r| JsonResult {
                result: r,
                title: rule_of(packs, r).map(|x| &x.title),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn write_table(
    opts: &CheckOptions,
    packs: &[Pack],
    results: &[CheckResult],
    summary: Summary,
    out: &mut dyn Write,
) -> Result<(), CheckError> {
    let paint = |code: &str, s: &str| {
        if opts.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let pack_names: Vec<String> = packs
        .iter()
        .map(|p| format!("{}@{}", p.id, p.version))
        .collect();
    writeln!(
        out,
        "Vigil check: root {}, level {}, packs {}",
        opts.root.display(),
        opts.level,
        pack_names.join(", ")
    )?;
    let mut by_group: BTreeMap<&str, Vec<&CheckResult>> = BTreeMap::new();
    for r in results {
        by_group.entry(r.group.as_str()).or_default().push(r);
    }
    for (group, rs) in by_group {
        let s = Summary::of(&rs.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
        writeln!(out)?;
        writeln!(
            out,
            "{} ({} pass, {} fail, {} error, {} n/a)",
            paint("1", group),
            s.pass,
            s.fail,
            s.error,
            s.not_applicable
        )?;
        for r in rs {
            let (label, code) = match r.status {
                Status::Pass => ("PASS", "32"),
                Status::Fail => ("FAIL", "31"),
                Status::Error => ("ERR ", "33"),
                Status::NotApplicable => ("N/A ", "2"),
            };
            let title = rule_of(packs, r)
                .map(|x| match opts.lang {
                    Lang::En => x.title.en.as_str(),
                    Lang::Vi => x.title.vi.as_str(),
                })
                .unwrap_or("");
            writeln!(
                out,
                "  {} {:<8} {:<32} {}",
                paint(code, label),
                r.severity.as_str(),
                r.rule_id,
                title
            )?;
            if matches!(r.status, Status::Fail | Status::Error) && !r.evidence.is_empty() {
                writeln!(out, "       {}", paint("2", &r.evidence))?;
            }
        }
    }
    writeln!(out)?;
    let s = host_score(opts, results);
    let verdict = match opts.lang {
        Lang::Vi => s.verdict.label_vi().to_string(),
        Lang::En => format!("{:?}", s.verdict).to_lowercase(),
    };
    let colour = if s.score >= 80.0 {
        "32"
    } else if s.score >= 50.0 {
        "33"
    } else {
        "31"
    };
    writeln!(
        out,
        "{}: {} ({verdict}){}",
        if opts.lang == Lang::Vi {
            "Điểm cấu hình"
        } else {
            "Configuration score"
        },
        paint(colour, &format!("{:.1}/100", s.score)),
        if s.critical_failed {
            " — a critical rule failed"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "Summary: {} pass, {} fail, {} error, {} n/a",
        paint("32", &summary.pass.to_string()),
        paint("31", &summary.fail.to_string()),
        paint("33", &summary.error.to_string()),
        summary.not_applicable
    )?;
    Ok(())
}

/// Run-mode helper: emits check results that changed since the previous run, and everything when
/// a digest is due.
#[derive(Debug)]
pub struct CheckTracker {
    digest_every: Duration,
    last_digest: Option<SystemTime>,
    previous: HashMap<(String, String), (Status, Severity)>,
}

impl CheckTracker {
    /// A tracker that sends a full digest every `digest_every` (and on the first run).
    pub fn new(digest_every: Duration) -> CheckTracker {
        CheckTracker {
            digest_every,
            last_digest: None,
            previous: HashMap::new(),
        }
    }

    /// Pushes into `sink` the results of a fresh evaluation that differ (status or severity) from
    /// the previous one, or all of them when a digest is due at `now`. Returns how many were
    /// emitted. Evidence alone (e.g. a file age) does not count as a change.
    pub fn push(
        &mut self,
        results: &[CheckResult],
        now: SystemTime,
        sink: &mut dyn FindingSink,
    ) -> usize {
        let digest = match self.last_digest {
            None => true,
            // A clock stepping backwards also forces a digest rather than silence.
            Some(last) => now
                .duration_since(last)
                .map(|d| d >= self.digest_every)
                .unwrap_or(true),
        };
        if digest {
            self.last_digest = Some(now);
        }
        let mut sent = 0;
        for r in results {
            let key = (r.pack.clone(), r.rule_id.clone());
            let state = (r.status, r.severity);
            let changed = self.previous.insert(key, state) != Some(state);
            if digest || changed {
                sink.emit(Finding::CheckResult(r.clone()));
                sent += 1;
            }
        }
        sent
    }
}

/// The `[checks]` section of the agent configuration, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChecksConfig {
    /// Pack files or directories.
    #[serde(default)]
    pub packs: Option<Vec<PathBuf>>,
    /// Interval between runs (`"1h"`).
    #[serde(default)]
    pub interval: Option<String>,
    /// Security level 1–5.
    #[serde(default)]
    pub level: Option<i64>,
    /// Run checks in `vigil-agent run` (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The validated `[checks]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksConfig {
    /// Pack files or directories.
    pub packs: Vec<PathBuf>,
    /// Interval between runs.
    pub interval: Duration,
    /// Security level.
    pub level: Level,
    /// Whether `vigil-agent run` evaluates the packs.
    pub enabled: bool,
}

impl Default for ChecksConfig {
    fn default() -> ChecksConfig {
        ChecksConfig {
            packs: vec![default_pack_dir()],
            interval: Duration::from_secs(3600),
            level: Level::MIN,
            enabled: true,
        }
    }
}

impl RawChecksConfig {
    /// Validates every field, returning all errors, each naming its field.
    ///
    /// # Errors
    /// One message per invalid field (`checks.level: ...`).
    pub fn validate(&self) -> Result<ChecksConfig, Vec<String>> {
        let mut errors = Vec::new();
        let mut cfg = ChecksConfig {
            enabled: self.enabled.unwrap_or(true),
            ..ChecksConfig::default()
        };
        if let Some(packs) = &self.packs {
            if packs.is_empty() {
                errors.push("checks.packs: must list at least one pack file or directory".into());
            }
            for (i, p) in packs.iter().enumerate() {
                if !p.is_absolute() {
                    errors.push(format!(
                        "checks.packs[{i}]: {:?} must be an absolute path",
                        p.display().to_string()
                    ));
                }
            }
            cfg.packs = packs.clone();
        }
        if let Some(s) = &self.interval {
            match parse_duration(s) {
                Ok(d) if d < Duration::from_secs(60) => errors.push(format!(
                    "checks.interval: {s:?} is too short, expected at least 1m"
                )),
                Ok(d) => cfg.interval = d,
                Err(e) => errors.push(format!("checks.interval: {e}")),
            }
        }
        if let Some(n) = self.level {
            match u8::try_from(n).ok().and_then(Level::new) {
                Some(l) => cfg.level = l,
                None => errors.push(format!(
                    "checks.level: {n} is out of range, expected 1 to 5"
                )),
            }
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }
}

// The pack tests set Unix modes (world-writable packs are refused).
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PACK: &str = r#"
id: t
version: "2"
title: {vi: Thử, en: Test}
rules:
  - id: has-hosts
    title: {vi: Có tệp hosts, en: hosts exists}
    rationale: {vi: a, en: b}
    remediation: {vi: a, en: b}
    severity: high
    group: hardening
    controls: [tcvn-14423:x.5.2.1]
    checks:
      - {kind: file, path: /etc/hosts}
  - id: no-telnet
    title: {vi: Không telnet, en: no telnet}
    rationale: {vi: a, en: b}
    remediation: {vi: a, en: b}
    severity: medium
    group: accounts
    checks:
      - {kind: file, path: /etc/telnet, exists: false}
"#;

    struct Setup {
        _dir: tempfile::TempDir,
        root: PathBuf,
        pack: PathBuf,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").expect("write");
        let packs = dir.path().join("packs");
        std::fs::create_dir(&packs).expect("mkdir");
        let pack = packs.join("t.yaml");
        std::fs::write(&pack, PACK).expect("write");
        Setup {
            _dir: dir,
            root,
            pack,
        }
    }

    fn opts(s: &Setup, format: Format) -> CheckOptions {
        CheckOptions {
            packs: vec![s.pack.clone()],
            format,
            ..CheckOptions::new(&s.root)
        }
    }

    #[test]
    fn table_and_exit_codes() {
        let s = setup();
        let mut out = Vec::new();
        let code = run_check(&opts(&s, Format::Table), &mut out).expect("runs");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(code, EXIT_OK, "{text}");
        assert!(text.contains("hardening (1 pass"), "{text}");
        assert!(text.contains("Summary: 2 pass, 0 fail"), "{text}");
        assert!(!text.contains('\x1b'), "no colour unless asked");
        std::fs::write(s.root.join("etc/telnet"), "").expect("write");
        let mut out = Vec::new();
        let mut o = opts(&s, Format::Table);
        o.color = true;
        o.lang = Lang::Vi;
        let code = run_check(&o, &mut out).expect("runs");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(code, EXIT_FAILED);
        assert!(text.contains("\x1b[31mFAIL"), "{text}");
        assert!(text.contains("Không telnet"), "{text}");
        assert!(
            text.contains("/etc/telnet exists"),
            "evidence shown: {text}"
        );
    }

    #[test]
    fn json_has_a_stable_shape() {
        let s = setup();
        let mut out = Vec::new();
        run_check(&opts(&s, Format::Json), &mut out).expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["schema"], JSON_SCHEMA);
        assert_eq!(v["summary"]["pass"], 2);
        let score = v["score"]["score"].as_f64().expect("host score");
        assert!((0.0..=100.0).contains(&score), "{score}");
        let r = &v["results"][0];
        assert_eq!(r["rule_id"], "has-hosts");
        assert_eq!(r["pack"], "t@2");
        assert_eq!(r["status"], "pass");
        assert_eq!(r["severity"], "high");
        assert_eq!(r["group"], "hardening");
        assert_eq!(r["controls"][0], "tcvn-14423:x.5.2.1");
        assert_eq!(r["title"]["en"], "hosts exists");
    }

    #[test]
    fn bad_packs_and_options_are_usage_errors() {
        let s = setup();
        std::fs::write(
            &s.pack,
            PACK.replace("severity: high", "severity: high\n    bogus: 1"),
        )
        .expect("write");
        let e = run_check(&opts(&s, Format::Table), &mut Vec::new()).expect_err("bad pack");
        assert_eq!(e.exit_code(), EXIT_USAGE);
        let msg = e.to_string();
        assert!(msg.contains("t.yaml:") && msg.contains("bogus"), "{msg}");
        std::fs::write(&s.pack, PACK).expect("write");
        std::fs::set_permissions(&s.pack, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = run_check(&opts(&s, Format::Table), &mut Vec::new()).expect_err("world-writable");
        assert!(e.to_string().contains("world-writable"), "{e}");
        std::fs::set_permissions(&s.pack, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut o = opts(&s, Format::Table);
        o.level = 9;
        let e = run_check(&o, &mut Vec::new()).expect_err("level");
        assert_eq!(e.exit_code(), EXIT_USAGE);
        let mut o = opts(&s, Format::Table);
        o.root = s.root.join("nope");
        assert_eq!(
            run_check(&o, &mut Vec::new())
                .expect_err("root")
                .exit_code(),
            EXIT_USAGE
        );
    }

    #[test]
    fn colour_respects_no_color_and_terminals() {
        assert!(ColorMode::Auto.enabled(true, None));
        assert!(!ColorMode::Auto.enabled(true, Some("1")));
        assert!(ColorMode::Auto.enabled(true, Some("")));
        assert!(!ColorMode::Auto.enabled(false, None));
        assert!(ColorMode::Always.enabled(false, Some("1")));
        assert!(!ColorMode::Never.enabled(true, None));
    }

    fn result(id: &str, status: Status) -> CheckResult {
        CheckResult {
            rule_id: id.into(),
            pack: "p@1".into(),
            status,
            severity: Severity::High,
            group: "hardening".into(),
            controls: vec![],
            evidence: format!("{id} {status}"),
        }
    }

    #[test]
    fn tracker_sends_changes_and_periodic_digests() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut tr = CheckTracker::new(Duration::from_secs(3600));
        let mut sink: Vec<Finding> = Vec::new();
        let run1 = vec![result("a", Status::Pass), result("b", Status::Fail)];
        assert_eq!(tr.push(&run1, t0, &mut sink), 2, "first run is a digest");
        let mut run2 = run1.clone();
        run2[1].evidence = "different words".into();
        assert_eq!(tr.push(&run2, t0 + Duration::from_secs(60), &mut sink), 0);
        let run3 = vec![result("a", Status::Fail), result("b", Status::Fail)];
        assert_eq!(tr.push(&run3, t0 + Duration::from_secs(120), &mut sink), 1);
        match sink.last() {
            Some(Finding::CheckResult(r)) => {
                assert_eq!((r.rule_id.as_str(), r.status), ("a", Status::Fail))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            tr.push(&run3, t0 + Duration::from_secs(3600), &mut sink),
            2,
            "digest due"
        );
        assert_eq!(tr.push(&run3, t0 + Duration::from_secs(3700), &mut sink), 0);
        assert_eq!(sink.len(), 5);
    }

    #[test]
    fn config_validation_reports_every_field() {
        let raw: RawChecksConfig =
            toml::from_str("packs = [\"packs\"]\ninterval = \"soon\"\nlevel = 9\n").expect("toml");
        let errs = raw.validate().expect_err("invalid");
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("checks.packs[0]:"), "{errs:?}");
        assert!(errs[1].starts_with("checks.interval:"), "{errs:?}");
        assert!(errs[2].starts_with("checks.level:"), "{errs:?}");
        let bad: Result<RawChecksConfig, _> = toml::from_str("levle = 2\n");
        assert!(bad.is_err(), "unknown keys are rejected");
        let ok: RawChecksConfig =
            toml::from_str("packs = [\"/etc/vigil/packs\"]\ninterval = \"2h\"\nlevel = 3\n")
                .expect("toml");
        let cfg = ok.validate().expect("valid");
        assert_eq!(cfg.interval, Duration::from_secs(7200));
        assert_eq!(cfg.level.get(), 3);
        assert_eq!(
            RawChecksConfig::default().validate(),
            Ok(ChecksConfig::default())
        );
    }
}
