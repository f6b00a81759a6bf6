//! The report model on a seeded SQLite store, and each renderer.

use vigil_proto::{CheckResult, Envelope, Finding, Severity, Status};

use super::*;
use crate::store::{Agency, AlertState, NewAgent, NewAlert, ScorePoint, SqliteStore};

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;

fn period() -> Period {
    Period::month("2026-11").expect("month")
}

fn new_agent(id: &str, agency: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        agency: agency.into(),
        machine_id: format!("m-{id}"),
        hostname: format!("pc-{id}"),
        os: "Debian 12".into(),
        cert_serial: format!("s-{id}"),
        cert_not_after: now_ms() / 1000 + 365 * DAY,
        agent_version: "0.1.0".into(),
        token_id: "t".into(),
        simulated: false,
    }
}

fn enroll(s: &SqliteStore, id: &str, agency: &str, at: i64) {
    s.agent_enroll(&new_agent(id, agency), at).expect("enroll");
    s.agent_seen(id, at, None, None).expect("seen");
}

fn results(s: &SqliteStore, id: &str, observed_ms: i64, rs: &[(&str, Status)]) {
    let batch: Vec<Envelope> = rs
        .iter()
        .enumerate()
        .map(|(i, (rule, status))| Envelope {
            seq: i as u64 + 1,
            observed_at: observed_ms,
            finding: Finding::CheckResult(CheckResult {
                rule_id: (*rule).into(),
                pack: "linux-baseline@1.0.0".into(),
                status: *status,
                severity: Severity::High,
                group: "malware".into(),
                controls: vec![],
                evidence: String::new(),
            }),
        })
        .collect();
    s.ingest(id, &batch, observed_ms).expect("ingest");
}

fn raise(s: &SqliteStore, key: &str, agent: &str, sev: Severity, at: i64) -> i64 {
    s.alert_raise(
        &NewAlert {
            key: key.into(),
            kind: "ioc_hit".into(),
            severity: sev,
            agent_id: agent.into(),
            title: key.into(),
            params: Default::default(),
            other_agency: None,
        },
        at,
    )
    .expect("raise")
    .0
}

fn resolve(s: &SqliteStore, id: i64, at: i64) {
    assert!(
        s.alert_set_state(id, AlertState::Resolved, "ana", Some("fixed"), at)
            .expect("resolve")
    );
}

fn point(id: &str, view: &str, score: f64, at_s: i64) -> ScorePoint {
    ScorePoint {
        scope: "agency".into(),
        id: id.into(),
        view: view.into(),
        score,
        coverage: Some(1.0),
        rule_pack_version: "linux-baseline@1.0.0".into(),
        scoring_version: "1".into(),
        computed_at: at_s * 1000,
    }
}

/// `t` (level 2) with `t/a` (level 2: hosts a1, a2) and `t/b` (level 1: host b1), results,
/// alerts and score history around November 2026.
fn seeded() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tmp");
    let s = SqliteStore::open(&dir.path().join("vigil.db")).expect("store");
    for (id, name, level) in [
        ("t", "Tỉnh Thử", 2),
        ("t/a", "Sở <A> & \"B\"", 2),
        ("t/b", "Xã Bình", 1),
    ] {
        s.agency_add(&Agency {
            id: id.into(),
            name: name.into(),
            level,
        })
        .expect("agency");
    }
    let p = period();
    let (start, end) = (p.start_ms() / 1000, p.end_ms() / 1000);
    for (id, ag) in [("a1", "t/a"), ("a2", "t/a"), ("b1", "t/b")] {
        enroll(&s, id, ag, start - 60 * DAY);
    }
    let recent = (end - DAY) * 1000;
    use Status::{Error, Fail, NotApplicable, Pass};
    // a1: yes to everything.
    results(
        &s,
        "a1",
        recent,
        &[
            ("lnx-av-installed", Pass),
            ("lnx-av-daemon-running", Pass),
            ("lnx-av-freshclam-running", Pass),
            ("lnx-av-signatures-fresh", Pass),
            ("lnx-upd-recent-run", Pass),
            ("lnx-upd-reboot-pending", Pass),
            ("lnx-log-time-sync", Pass),
            ("lnx-log-time-source", Pass),
            ("lnx-log-retention", Pass),
        ],
    );
    // a2: anti-malware no (one failure among passes), patching unknown (no result), time
    // unknown (an error), retention no.
    results(
        &s,
        "a2",
        recent,
        &[
            ("lnx-av-installed", Pass),
            ("lnx-av-daemon-running", Fail),
            ("lnx-av-freshclam-running", Pass),
            ("lnx-av-signatures-fresh", Pass),
            ("lnx-log-time-sync", Pass),
            ("lnx-log-time-source", Error),
            ("lnx-log-retention", Fail),
        ],
    );
    // b1 (level 1): anti-malware unknown (results missing), patching passed but observed 40
    // days before the end (stale: unknown), time no, retention not applicable at level 1: yes.
    results(
        &s,
        "b1",
        (end - 40 * DAY) * 1000,
        &[
            ("lnx-upd-recent-run", Pass),
            ("lnx-upd-reboot-pending", Pass),
        ],
    );
    let mut more = vec![
        ("lnx-av-installed", Pass),
        ("lnx-log-time-sync", Fail),
        ("lnx-log-time-source", Pass),
        ("lnx-log-retention", NotApplicable),
    ];
    // Sequence numbers continue after the first batch.
    let batch: Vec<Envelope> = more
        .drain(..)
        .enumerate()
        .map(|(i, (rule, status))| Envelope {
            seq: i as u64 + 3,
            observed_at: recent,
            finding: Finding::CheckResult(CheckResult {
                rule_id: rule.into(),
                pack: "linux-baseline@1.0.0".into(),
                status,
                severity: Severity::High,
                group: "logging".into(),
                controls: vec![],
                evidence: String::new(),
            }),
        })
        .collect();
    s.ingest("b1", &batch, recent).expect("ingest");

    // Alerts.
    raise(&s, "c1", "a1", Severity::Critical, start - 10 * DAY); // open, 40 d at the end
    raise(&s, "c2", "a2", Severity::Critical, start + 20 * DAY); // open, 10 d at the end
    let h1 = raise(&s, "h1", "a1", Severity::High, start + DAY);
    resolve(&s, h1, start + DAY + 6 * HOUR); // 6 h
    let h2 = raise(&s, "h2", "b1", Severity::High, start + 2 * DAY);
    resolve(&s, h2, start + 2 * DAY + 10 * HOUR);
    raise(&s, "h2", "b1", Severity::High, start + 3 * DAY); // reopened
    resolve(&s, h2, start + 3 * DAY + 4 * HOUR); // 4 h after the reopening
    let m1 = raise(&s, "m1", "b1", Severity::Medium, start + 5 * DAY);
    resolve(&s, m1, end + HOUR); // resolved after the period: neither open nor resolved in it
    raise(&s, "l1", "a2", Severity::Low, end + DAY); // raised after the period

    s.scores_record(&[
        point("t/a", "full", 50.0, start - DAY),
        point("t/a", "full", 60.0, start + 10 * DAY),
        point("t/a", "full", 70.0, end - HOUR),
        point("t/a", "full", 99.0, end + DAY),
        point("t/a", "common", 40.0, start + 5 * DAY),
    ])
    .expect("history");
    (dir, s)
}

fn now_ms() -> i64 {
    period().end_ms() + 5 * DAY * 1000
}

fn built(scope: Option<&str>) -> Report {
    let (_dir, s) = seeded();
    Report::build(
        &s,
        &Scoring::default(),
        "Tỉnh Thử",
        scope,
        period(),
        now_ms(),
    )
    .expect("report")
}

#[test]
fn periods_parse_and_default_to_the_last_full_month() {
    let p = period();
    assert_eq!(p.from.to_string(), "2026-11-01");
    assert_eq!(p.to.to_string(), "2026-11-30");
    // 2026-11-01 00:00 in UTC+7 is 2026-10-31 17:00 UTC.
    assert_eq!(p.start_ms(), 1_793_466_000_000);
    assert_eq!(p.end_ms() - p.start_ms(), 30 * DAY * 1000);
    assert_eq!(p.slug(), "2026-11");
    // 2026-12-01 01:00 in Vietnam is still 2026-11-30 in UTC: the last full month is November.
    let now = p.end_ms() + 3_600_000;
    assert_eq!(Period::last_full_month(now), p);
    assert_eq!(Period::parse(None, None, None, now), Ok(p));
    assert_eq!(Period::parse(None, None, Some("2026-11"), now), Ok(p));
    let days = Period::parse(Some("2026-11-03"), Some("2026-11-20"), None, now).expect("days");
    assert_eq!(days.slug(), "2026-11-03_2026-11-20");
    let feb = Period::month("2028-02").expect("leap");
    assert_eq!(feb.to.to_string(), "2028-02-29");
    let jan = Period::last_full_month(Period::month("2027-01").expect("m").start_ms());
    assert_eq!(jan.slug(), "2026-12");
    for (f, t, m) in [
        (Some("2026-11-20"), Some("2026-11-03"), None),
        (Some("2026-13-01"), None, None),
        (None, Some("2026-11-03"), None),
        (Some("2026-11-01"), None, Some("2026-11")),
        (None, None, Some("2026-1")),
        (None, None, Some("2026-00")),
        (None, None, Some("nope")),
    ] {
        assert!(Period::parse(f, t, m, now).is_err(), "{f:?} {t:?} {m:?}");
    }
}

#[test]
fn shares_count_yes_no_and_unknown_per_host() {
    let r = built(None);
    let by = |id: &str| r.agencies.iter().find(|a| a.id == id).expect("agency");
    let c = |yes, no, unknown| ShareCount { yes, no, unknown };
    // [anti-malware, patched, time, retention]
    assert_eq!(
        by("t/a").metrics.shares,
        [c(1, 1, 0), c(1, 0, 1), c(1, 0, 1), c(1, 1, 0)]
    );
    assert_eq!(
        by("t/b").metrics.shares,
        [c(0, 0, 1), c(0, 0, 1), c(0, 1, 0), c(1, 0, 0)]
    );
    assert_eq!(by("t").metrics.shares, r.total.shares);
    assert_eq!(
        r.total.shares,
        [c(1, 1, 1), c(1, 0, 2), c(1, 1, 1), c(2, 1, 0)]
    );
    assert_eq!(r.total.agents, 3);
    assert_eq!(by("t/a").metrics.agents, 2);
}

#[test]
fn alerts_have_median_age_and_mean_time_to_resolve() {
    let r = built(None);
    let sev = |m: &Metrics, s: Severity| {
        m.alerts
            .iter()
            .find(|x| x.severity == s)
            .cloned()
            .expect("severity")
    };
    let crit = sev(&r.total, Severity::Critical);
    assert_eq!((crit.open, crit.median_age_s), (2, Some(25 * DAY)));
    assert_eq!((crit.resolved, crit.mttr_s), (0, None));
    let high = sev(&r.total, Severity::High);
    assert_eq!((high.open, high.median_age_s), (0, None));
    assert_eq!((high.resolved, high.mttr_s), (2, Some(5 * HOUR)));
    for s in [Severity::Medium, Severity::Low] {
        let x = sev(&r.total, s);
        assert_eq!((x.open, x.resolved), (0, 0), "{s:?}");
    }
    let a = &r
        .agencies
        .iter()
        .find(|a| a.id == "t/a")
        .expect("t/a")
        .metrics;
    assert_eq!(sev(a, Severity::High).mttr_s, Some(6 * HOUR));
    assert_eq!(sev(a, Severity::Critical).open, 2);
    let b = &r
        .agencies
        .iter()
        .find(|a| a.id == "t/b")
        .expect("t/b")
        .metrics;
    assert_eq!(sev(b, Severity::High).mttr_s, Some(4 * HOUR));
    assert_eq!(sev(b, Severity::Critical).open, 0);
    assert_eq!(
        r.total
            .alerts
            .iter()
            .map(|a| a.severity)
            .collect::<Vec<_>>(),
        SEVERITIES
    );
}

#[test]
fn trends_come_from_the_history_around_the_period() {
    let r = built(Some("t/a"));
    assert_eq!(
        r.agencies.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["t/a"]
    );
    let a = &r.agencies[0];
    let (start, end) = (period().start_ms(), period().end_ms());
    assert_eq!((a.views[0].start, a.views[0].end), (Some(50.0), Some(70.0)));
    assert_eq!(
        a.views[0].points,
        [
            (start, 50.0),
            (start + 10 * DAY * 1000, 60.0),
            (end - HOUR * 1000, 70.0)
        ]
    );
    assert_eq!((a.views[1].start, a.views[1].end), (Some(40.0), Some(40.0)));
    assert_eq!((a.views[2].start, a.views[2].end), (None, None));
    assert!(a.views[2].points.is_empty());
    // Scope filters hosts and alerts: b1's alerts are not in t/a's report.
    assert_eq!(r.total.agents, 2);
    assert_eq!(r.scope_name, "Sở <A> & \"B\"");
}

#[test]
fn scores_and_failing_hosts_match_the_scorer() {
    let (_dir, s) = seeded();
    let r = Report::build(&s, &Scoring::default(), "Tỉnh", None, period(), now_ms()).expect("r");
    let inputs = Inputs::load(&s).expect("inputs");
    let scores = scoring::compute(
        &inputs,
        &Scoring::default(),
        &RuleCatalog::builtin(),
        now_ms(),
    );
    assert_eq!(r.agencies.len(), scores.agencies.len());
    for (row, sc) in r.agencies.iter().zip(&scores.agencies) {
        assert_eq!(row.id, sc.id);
        assert_eq!(row.views[0].now, sc.full.score);
        assert_eq!(row.views[1].now, sc.common.score);
        assert_eq!(row.views[2].now, sc.level_view.score);
        assert_eq!(row.views[0].coverage, sc.full.coverage);
        assert_eq!(row.failing, sc.hosts_failing);
    }
    let failing: Vec<&str> = scores
        .hosts
        .iter()
        .filter(|h| h.full.verdict == Verdict::Fail)
        .map(|h| h.hostname.as_str())
        .collect();
    assert!(!failing.is_empty(), "the seed has failing hosts");
    let mut listed: Vec<&str> = r
        .failing_hosts
        .iter()
        .map(|h| h.hostname.as_str())
        .collect();
    assert!(r.failing_hosts.windows(2).all(|w| w[0].score <= w[1].score));
    listed.sort_unstable();
    let mut failing = failing;
    failing.sort_unstable();
    assert_eq!(listed, failing);
    let depths: Vec<(&str, usize)> = r
        .agencies
        .iter()
        .map(|a| (a.id.as_str(), a.depth))
        .collect();
    assert_eq!(depths, [("t", 0), ("t/a", 1), ("t/b", 1)]);
    assert!(matches!(
        Report::build(
            &s,
            &Scoring::default(),
            "x",
            Some("t/zz"),
            period(),
            now_ms()
        ),
        Err(ReportError::UnknownAgency(_))
    ));
}

/// A small report built by hand, for exact renderer output.
pub(crate) fn sample() -> Report {
    let views = [
        ViewTrend {
            now: 82.5,
            coverage: 0.75,
            start: Some(70.0),
            end: Some(80.25),
            points: vec![(1, 70.0), (2, 80.25)],
        },
        ViewTrend {
            now: 90.0,
            coverage: 0.75,
            start: None,
            end: None,
            points: vec![],
        },
        ViewTrend {
            now: 60.0,
            coverage: 0.75,
            start: Some(61.0),
            end: Some(60.0),
            points: vec![(1, 61.0), (2, 60.0)],
        },
    ];
    let alerts = SEVERITIES
        .iter()
        .map(|&severity| SeverityAlerts {
            severity,
            open: usize::from(severity == Severity::Critical) * 3,
            median_age_s: (severity == Severity::Critical).then_some(2 * DAY + 3 * HOUR),
            resolved: usize::from(severity == Severity::High),
            mttr_s: (severity == Severity::High).then_some(90 * 60),
        })
        .collect();
    let metrics = Metrics {
        agents: 4,
        shares: [
            ShareCount {
                yes: 3,
                no: 1,
                unknown: 0,
            },
            ShareCount {
                yes: 1,
                no: 1,
                unknown: 2,
            },
            ShareCount::default(),
            ShareCount {
                yes: 4,
                no: 0,
                unknown: 0,
            },
        ],
        alerts,
    };
    Report {
        org: "Tỉnh Thử".into(),
        scope: Some("tinh/so-a".into()),
        scope_name: "Sở <script>alert(\"x\")</script> & Không đạt".into(),
        period: period(),
        generated_at: period().end_ms() + 3_600_000,
        rule_pack_version: "linux-baseline@1.0.0".into(),
        scoring_version: "2026.1".into(),
        agencies: vec![AgencyRow {
            id: "tinh/so-a".into(),
            name: "=Sở <script>alert(\"x\")</script>, Đà Nẵng".into(),
            level: 3,
            depth: 0,
            assets: 5,
            views,
            failing: 2,
            metrics: metrics.clone(),
        }],
        total: metrics,
        failing_hosts: vec![FailingHost {
            hostname: "pc-01".into(),
            agency: "tinh/so-a".into(),
            level: 3,
            score: 41.25,
            simulated: false,
        }],
        simulated_hosts: 0,
        vulns: crate::vuln::summary::summarize(&[], REPORT_CVES),
    }
}

#[test]
fn simulated_hosts_are_counted_and_marked_in_both_languages() {
    let (_dir, s) = seeded();
    let build = |scope| {
        Report::build(&s, &Scoring::default(), "Tỉnh", scope, period(), now_ms()).expect("r")
    };
    assert_eq!(
        build(None).simulated_hosts,
        0,
        "the seed has real hosts only"
    );
    let vi = html::render(&build(None), Lang::Vi);
    assert!(!vi.contains("mô phỏng"), "no note without simulated hosts");
    s.agent_enroll(
        &NewAgent {
            simulated: true,
            ..new_agent("s1", "t/b")
        },
        now_ms() / 1000,
    )
    .expect("enroll");
    assert_eq!(build(None).simulated_hosts, 1);
    assert_eq!(build(Some("t/a")).simulated_hosts, 0, "out of scope");
    let mut r = sample();
    r.simulated_hosts = 1;
    r.failing_hosts[0].simulated = true;
    let vi = html::render(&r, Lang::Vi);
    assert!(vi.contains("Báo cáo này tính cả 1 máy mô phỏng"), "{vi}");
    assert!(vi.contains("pc-01 (mô phỏng)"), "{vi}");
    let en = html::render(&r, Lang::En);
    assert!(en.contains("This report counts 1 simulated hosts"), "{en}");
    assert!(en.contains("pc-01 (simulated)"), "{en}");
}

#[test]
fn csv_is_exact() {
    let got = csv::render(&sample(), Lang::En);
    let expected = "\u{feff}agency_id,agency_name,level,assets,agents,coverage_pct,a,a_common,a_level,\
a_start,a_end,a_common_start,a_common_end,a_level_start,a_level_end,failing_hosts,\
antimalware_yes,antimalware_no,antimalware_unknown,antimalware_pct,\
patched_30d_yes,patched_30d_no,patched_30d_unknown,patched_30d_pct,\
time_sync_yes,time_sync_no,time_sync_unknown,time_sync_pct,\
log_retention_yes,log_retention_no,log_retention_unknown,log_retention_pct,\
critical_open,critical_open_median_age_h,critical_resolved,critical_mttr_h,\
high_open,high_open_median_age_h,high_resolved,high_mttr_h,\
medium_open,medium_open_median_age_h,medium_resolved,medium_mttr_h,\
low_open,low_open_median_age_h,low_resolved,low_mttr_h,\
rule_pack_version,period_from,period_to\r\n\
tinh/so-a,\"'=Sở <script>alert(\"\"x\"\")</script>, Đà Nẵng\",3,5,4,75.00,82.50,90.00,60.00,\
70.00,80.25,,,61.00,60.00,2,\
3,1,0,75.00,1,1,2,25.00,0,0,0,,4,0,0,100.00,\
3,51.0,0,,0,,1,1.5,0,,0,,0,,0,,\
linux-baseline@1.0.0,2026-11-01,2026-11-30\r\n";
    assert_eq!(got, expected);
    let vi = csv::render(&sample(), Lang::Vi);
    assert!(
        vi.starts_with("\u{feff}Mã đơn vị,Tên đơn vị,Cấp độ"),
        "{vi}"
    );
    assert_eq!(
        vi.lines().nth(1),
        expected.trim_start_matches('\u{feff}').lines().nth(1),
        "numbers do not depend on the language"
    );
}

#[test]
fn html_escapes_hostile_names_and_localises() {
    let h = html::render(&sample(), Lang::Vi);
    assert!(!h.contains("<script>"), "{h}");
    assert!(h.contains("Sở &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Không đạt"));
    assert!(h.contains("=Sở &lt;script&gt;"));
    assert!(h.contains("<html lang=\"vi\">"));
    assert!(h.contains("Máy “Không đạt”"));
    assert!(h.contains("82,5"), "decimal comma in Vietnamese");
    assert!(h.contains("2 ngày 3 giờ"));
    assert!(h.contains("<polyline"), "sparkline");
    for rule in SHARES.iter().flat_map(|(_, r)| r.iter()) {
        assert!(h.contains(rule), "{rule} is named");
    }
    let en = html::render(&sample(), Lang::En);
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Scores by agency") && en.contains("82.5") && en.contains("1 h 30 min"));
}

/// Checks the cross-reference table: every in-use entry points at `N 0 obj`, `startxref` at
/// `xref`, and the trailer's size matches. Returns the number of objects.
pub(crate) fn check_xref(pdf: &[u8]) -> usize {
    assert!(pdf.starts_with(b"%PDF-1.4\n"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(64)..]).into_owned();
    let start: usize = tail
        .split("startxref\n")
        .nth(1)
        .and_then(|s| s.lines().next())
        .and_then(|s| s.trim().parse().ok())
        .expect("startxref");
    let rest = &pdf[start..];
    assert!(rest.starts_with(b"xref\n"), "startxref points at xref");
    let text = String::from_utf8_lossy(rest).into_owned();
    let mut lines = text.lines().skip(1);
    let header = lines.next().expect("subsection");
    let (first, count) = header.split_once(' ').expect("first count");
    assert_eq!(first, "0");
    let count: usize = count.parse().expect("count");
    let mut in_use = 0;
    for n in 0..count {
        let line = lines.next().expect("entry");
        assert_eq!(
            line.len(),
            19,
            "entries are 20 bytes with their newline: {line:?}"
        );
        let (off, kind) = (&line[..10], &line[17..18]);
        if kind == "n" {
            let off: usize = off.parse().expect("offset");
            let want = format!("{n} 0 obj");
            assert!(
                pdf[off..].starts_with(want.as_bytes()),
                "object {n} at {off}: {:?}",
                String::from_utf8_lossy(&pdf[off..(off + 12).min(pdf.len())])
            );
            in_use += 1;
        } else {
            assert_eq!(kind, "f");
        }
    }
    assert!(lines.next().is_some_and(|l| l == "trailer"));
    assert!(text.contains(&format!("/Size {count} ")));
    in_use
}

pub(crate) fn font() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(pdf::DEFAULT_FONT);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing (apt install fonts-dejavu-core)",
        p.display()
    );
    eprintln!(
        "SKIPPED: {} is missing (apt install fonts-dejavu-core)",
        p.display()
    );
    None
}

/// `pdftotext` output of `pdf`, or `None` (with a visible message) when poppler-utils is
/// missing outside CI.
pub(crate) fn pdftotext(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).expect("write");
    match std::process::Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(o) => {
            assert!(
                o.status.success(),
                "pdftotext: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(String::from_utf8(o.stdout).expect("utf-8"))
        }
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "pdftotext: {e} (apt install poppler-utils)"
            );
            eprintln!("SKIPPED: pdftotext is not installed (apt install poppler-utils): {e}");
            None
        }
    }
}

#[test]
fn pdf_is_well_formed_and_its_text_extracts_with_diacritics() {
    let Some(font) = font() else { return };
    let mut r = sample();
    // Enough failing hosts for several pages.
    r.failing_hosts = (0..150)
        .map(|i| FailingHost {
            hostname: format!("máy-{i:03}"),
            agency: "tinh/so-a".into(),
            level: 2,
            score: f64::from(i) / 2.0,
            simulated: false,
        })
        .collect();
    let pdf = pdf::render(&r, Lang::Vi, &font).expect("pdf");
    let objects = check_xref(&pdf);
    let pages = (objects - 8) / 2;
    assert!(pages >= 3, "{pages} pages");
    let Some(text) = pdftotext(&pdf) else { return };
    for needle in [
        "Không đạt",
        "Báo cáo tình trạng an toàn thông tin",
        "Đà Nẵng",
        "Sở <script>alert(\"x\")</script>",
        "máy-149",
        "Nghiêm trọng",
        "lnx-av-signatures-fresh",
        &format!("Trang {pages}/{pages}"),
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    let en = pdf::render(&r, Lang::En, &font).expect("pdf");
    check_xref(&en);
    if let Some(t) = pdftotext(&en) {
        assert!(t.contains("Security posture report"), "{t}");
    }
}

#[test]
fn a_missing_font_names_the_package() {
    let e = pdf::render(
        &sample(),
        Lang::Vi,
        std::path::Path::new("/nonexistent/DejaVuSans.ttf"),
    )
    .expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/DejaVuSans.ttf"), "{e}");
    if std::path::Path::new(pdf::DEFAULT_FONT).exists() {
        return;
    }
    let e = pdf::render(&sample(), Lang::Vi, std::path::Path::new(pdf::DEFAULT_FONT))
        .expect_err("missing");
    assert!(e.to_string().contains("fonts-dejavu-core"), "{e}");
}

#[test]
fn file_names_are_safe() {
    let r = sample();
    assert_eq!(
        r.file_name(Format::Pdf),
        "vigil-report-tinh-so-a-2026-11.pdf"
    );
    let mut r = r;
    r.scope = Some("../x y".into());
    assert_eq!(r.file_name(Format::Csv), "vigil-report----x-y-2026-11.csv");
}

#[test]
fn weeks_run_monday_to_sunday() {
    // 2026-11-18 is a Wednesday.
    let wed = Period::parse(Some("2026-11-18"), Some("2026-11-18"), None, 0)
        .expect("day")
        .start_ms()
        + 3_600_000;
    let w = Period::last_full_week(wed);
    assert_eq!(
        (w.from.to_string(), w.to.to_string()),
        ("2026-11-09".into(), "2026-11-15".into())
    );
    let mon = Period::parse(Some("2026-11-16"), Some("2026-11-16"), None, 0)
        .expect("day")
        .start_ms();
    assert_eq!(Period::last_full_week(mon), w);
}

#[test]
fn scheduled_reports_are_written_once_with_mode_0640() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(font) = font() else { return };
    let (dir, s) = seeded();
    let cfg = crate::report::ReportsConfig {
        dir: dir.path().join("reports"),
        font,
        ..Default::default()
    };
    // Early on 2026-12-01 (Vietnam time): November's report is due.
    let now = period().end_ms() + 60_000;
    let written = write_scheduled(&s, &Scoring::default(), "Tỉnh", &cfg, now).expect("write");
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "vigil-report-all-2026-11.csv",
            "vigil-report-all-2026-11.html",
            "vigil-report-all-2026-11.pdf"
        ]
    );
    for p in &written {
        let mode = std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", p.display());
    }
    check_xref(&std::fs::read(cfg.dir.join("vigil-report-all-2026-11.pdf")).expect("pdf"));
    // Later in the month: nothing new; a deleted file is written again, alone.
    assert!(
        write_scheduled(&s, &Scoring::default(), "Tỉnh", &cfg, now + 86_400_000)
            .expect("again")
            .is_empty()
    );
    std::fs::remove_file(cfg.dir.join("vigil-report-all-2026-11.csv")).expect("rm");
    let again = write_scheduled(&s, &Scoring::default(), "Tỉnh", &cfg, now).expect("again");
    assert_eq!(again, [cfg.dir.join("vigil-report-all-2026-11.csv")]);
    let leftovers: Vec<_> = std::fs::read_dir(&cfg.dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let off = crate::report::ReportsConfig {
        schedule: crate::report::ReportSchedule::Off,
        dir: dir.path().join("off"),
        ..Default::default()
    };
    assert!(
        write_scheduled(&s, &Scoring::default(), "Tỉnh", &off, now)
            .expect("off")
            .is_empty()
    );
    assert!(!off.dir.exists());
}

#[test]
fn windows_hosts_answer_shares_from_windows_rules() {
    use Status::{Fail, NotApplicable, Pass};
    let now = 1_800_000_000_000;
    let st = |pack: &str, rule: &str, status: Status, at: i64| {
        CheckState(
            pack.into(),
            rule.into(),
            "g".into(),
            Severity::High,
            status,
            at,
        )
    };
    let win = |rule: &str, status| st("windows-baseline@1.0.0", rule, status, now - 1000);
    let mut states = vec![
        win("win-av-realtime", Pass),
        win("win-av-signatures-fresh", Pass),
        win("win-upd-recent-install", Pass),
        win("win-upd-no-reboot-pending", Fail),
        win("win-log-time-sync", Pass),
        win("win-log-retention", NotApplicable),
    ];
    use Answer::{No, Unknown, Yes};
    // Time source has no result: unknown; retention does not apply at level 1: yes.
    assert_eq!(host_answers(&states, 1, now), [Yes, No, Unknown, Yes]);
    assert_eq!(host_answers(&states, 2, now), [Yes, No, Unknown, Unknown]);
    states.push(win("win-log-time-source", Pass));
    states[1] = win("win-av-signatures-fresh", Fail);
    assert_eq!(host_answers(&states, 1, now), [No, No, Yes, Yes]);
    // Linux rules do not answer for a Windows host, nor Windows rules for a Linux one.
    let linux = vec![st(
        "linux-baseline@1.0.0",
        "win-av-realtime",
        Pass,
        now - 1000,
    )];
    assert_eq!(host_answers(&linux, 1, now)[0], Unknown);
    states[1] = win("win-av-signatures-fresh", Pass);
    states.push(st(
        "linux-baseline@1.0.0",
        "lnx-av-installed",
        Fail,
        now - 1000,
    ));
    assert_eq!(host_answers(&states, 1, now)[0], Yes);
}

#[test]
fn the_report_counts_hosts_per_cve_and_names_the_oldest_unpatched_critical() {
    use crate::store::vuln::{AdvisoryRow, MatchRow};
    let (_dir, s) = seeded();
    let v = s.vulns();
    let adv = |id: &str, cve: &str, sev: &str| AdvisoryRow {
        id: id.into(),
        cves: vec![cve.into()],
        summary: String::new(),
        severity: Some(sev.into()),
        cvss: None,
        body: "{}".into(),
    };
    v.vuln_import(
        "t",
        &[
            adv("DSA-1", "CVE-2026-1", "critical"),
            adv("DSA-2", "CVE-2026-2", "high"),
        ],
        1,
    )
    .expect("import");
    let row = |a: &str, sev: &str| MatchRow {
        advisory: a.into(),
        package: "openssl".into(),
        installed: "1.0-1".into(),
        fixed: Some("1.0-2".into()),
        severity: Some(sev.into()),
        cvss: None,
    };
    let since = period().start_ms() / 1000;
    v.vuln_set_matches(&[("a1".into(), vec![row("DSA-1", "critical")])], since)
        .expect("a1");
    v.vuln_set_matches(
        &[
            ("a2".into(), vec![row("DSA-2", "high")]),
            (
                "b1".into(),
                vec![row("DSA-1", "critical"), row("DSA-2", "high")],
            ),
        ],
        since + DAY,
    )
    .expect("others");
    let report = |scope| {
        Report::build(&s, &Scoring::default(), "T", scope, period(), now_ms()).expect("report")
    };
    let all = report(None);
    assert_eq!(all.vulns.hosts_affected, 3);
    let counts: Vec<(&str, usize)> = all
        .vulns
        .cves
        .iter()
        .map(|c| (c.cve.as_str(), c.hosts))
        .collect();
    assert_eq!(counts, [("CVE-2026-1", 2), ("CVE-2026-2", 2)]);
    assert_eq!(
        all.vulns.oldest_critical.as_ref().map(|m| m.host.as_str()),
        Some("a1")
    );
    let a = report(Some("t/a"));
    let counts: Vec<(&str, usize)> = a
        .vulns
        .cves
        .iter()
        .map(|c| (c.cve.as_str(), c.hosts))
        .collect();
    assert_eq!(
        counts,
        [("CVE-2026-1", 1), ("CVE-2026-2", 1)],
        "t/b's host is not counted"
    );
    let doc = super::doc::layout(&all, Lang::En);
    let table = doc
        .tables
        .iter()
        .find(|t| t.title.starts_with("Vulnerable software per CVE"))
        .expect("vuln table");
    assert_eq!(
        table.title,
        "Vulnerable software per CVE (3 hosts affected)"
    );
    assert_eq!(table.rows.len(), 2);
    let oldest = doc
        .tables
        .iter()
        .find(|t| t.title == "Oldest unpatched critical")
        .expect("oldest table");
    assert_eq!(oldest.rows.len(), 1);
    let vi = super::doc::layout(&all, Lang::Vi);
    assert!(
        vi.tables
            .iter()
            .any(|t| t.title.starts_with("Lỗ hổng phần mềm theo CVE"))
    );
}
