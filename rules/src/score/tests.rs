//! Unit tests with hand-computed values, and property tests of the breakdown and monotonicity.

// Tests change one key of the default configuration at a time; that reads best as assignments.
#![allow(clippy::field_reassign_with_default)]

use proptest::prelude::*;
use vigil_proto::{CheckResult, Severity, Status};

use super::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const NOW: i64 = 1_750_000_000_000;
const EPS: f64 = 1e-9;

fn ctx(now: i64) -> ScoreContext {
    ScoreContext {
        now,
        rule_pack_version: "linux-baseline@1.0.0".into(),
    }
}

fn res(id: &str, group: &str, severity: Severity, outcome: Outcome) -> RuleResult {
    RuleResult {
        rule_id: id.into(),
        group: group.into(),
        severity,
        outcome,
        common: false,
    }
}

fn alert(id: &str, severity: Severity, age: i64) -> OpenAlert {
    OpenAlert {
        id: id.into(),
        severity,
        opened_at: NOW - age,
    }
}

fn host(id: &str, results: Vec<RuleResult>) -> HostInput {
    HostInput {
        host_id: id.into(),
        results,
        level_results: None,
        alerts: vec![],
        last_report_at: Some(NOW),
    }
}

/// One passing high rule in each always-counted group: `S_cfg = 100` with no other group.
fn all_pass() -> Vec<RuleResult> {
    ["malware", "patching", "accounts", "logging"]
        .iter()
        .map(|g| res(&format!("{g}-ok"), g, Severity::High, Outcome::Pass))
        .collect()
}

fn score(h: &HostInput) -> HostScore {
    Scoring::default().score_host(h, View::Full, &ctx(NOW))
}

fn sum(items: &[CostItem]) -> f64 {
    items.iter().map(|i| i.points).sum()
}

fn item<'a>(s: &'a HostScore, kind: CostKind, key: &str) -> &'a CostItem {
    s.breakdown
        .iter()
        .find(|i| i.kind == kind && i.key == key)
        .unwrap_or_else(|| panic!("no {kind} item for {key} in {:#?}", s.breakdown))
}

fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < EPS, "got {got}, want {want}");
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn default_config_has_the_design_values_and_validates() {
    let c = ScoringConfig::default();
    assert_eq!(c.version, DEFAULT_SCORING_VERSION);
    assert_eq!(c.severity_weights.get(Severity::Low), 1.0);
    assert_eq!(c.severity_weights.get(Severity::Medium), 3.0);
    assert_eq!(c.severity_weights.get(Severity::High), 6.0);
    assert_eq!(c.severity_weights.get(Severity::Critical), 10.0);
    let w: Vec<(&str, f64, bool)> = c
        .groups
        .iter()
        .map(|(n, g)| (n.as_str(), g.weight, g.always))
        .collect();
    assert_eq!(
        w,
        [
            ("accounts", 15.0, true),
            ("backup", 10.0, false),
            ("hardening", 15.0, false),
            ("integrity", 5.0, false),
            ("logging", 10.0, true),
            ("malware", 20.0, true),
            ("patching", 20.0, true),
            ("removable-media", 5.0, false),
        ]
    );
    assert_eq!(c.critical_cap, 49.0);
    assert_eq!(c.alerts.floor, 0.4);
    assert_eq!(c.alerts.penalty.get(Severity::Critical), 0.25);
    assert_eq!(c.alerts.penalty.get(Severity::High), 0.10);
    assert_eq!(c.alerts.penalty.get(Severity::Medium), 0.02);
    assert_eq!(c.alerts.sla_hours.get(Severity::Critical), 24.0);
    assert_eq!(c.alerts.sla_hours.get(Severity::High), 72.0);
    assert_eq!(c.alerts.sla_hours.get(Severity::Medium), 14.0 * 24.0);
    assert_eq!(c.freshness.fresh_hours, 48.0);
    assert_eq!(c.freshness.stale_hours, 7.0 * 24.0);
    assert_eq!(c.ranking.min_coverage, 0.8);
    assert_eq!(c.ranking.min_hosts, 5);
    assert_eq!(
        c.validate().expect("defaults are valid"),
        Scoring::default()
    );
}

#[test]
fn config_reads_partial_toml_and_round_trips_json() {
    let text = r#"
        version = "province-2026-1"
        critical_cap = 40.0
        [alerts]
        floor = 0.5
        [freshness]
        fresh_hours = 24
    "#;
    let c: ScoringConfig = toml::from_str(text).expect("valid toml");
    assert_eq!(c.version, "province-2026-1");
    assert_eq!(c.critical_cap, 40.0);
    assert_eq!(c.alerts.floor, 0.5);
    // Keys not given keep their defaults, inside a given section too.
    assert_eq!(c.alerts.tau_max, 3.0);
    assert_eq!(c.freshness.fresh_hours, 24.0);
    assert_eq!(c.freshness.stale_hours, 168.0);
    assert_eq!(c.groups, ScoringConfig::default().groups);
    let scoring = c.clone().validate().expect("valid");
    assert_eq!(scoring.version(), "province-2026-1");

    let json = serde_json::to_string(&c).expect("serialize");
    let back: ScoringConfig = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, c);
    let toml_text = toml::to_string(&c).expect("serialize toml");
    assert_eq!(
        toml::from_str::<ScoringConfig>(&toml_text).expect("reparse"),
        c
    );
}

#[test]
fn config_refuses_unknown_keys_and_incomplete_severity_tables() {
    assert!(toml::from_str::<ScoringConfig>("critcal_cap = 40.0").is_err());
    assert!(toml::from_str::<ScoringConfig>("[alerts]\nflor = 0.5").is_err());
    assert!(toml::from_str::<ScoringConfig>("[severity_weights]\nhigh = 7.0").is_err());
}

#[test]
fn validation_reports_every_bad_key() {
    let mut c = ScoringConfig::default();
    c.version = " ".into();
    c.severity_weights.high = 0.0;
    c.critical_cap = 120.0;
    c.alerts.floor = f64::NAN;
    c.alerts.tau_max = 0.5;
    c.freshness.stale_hours = 10.0;
    c.assets.high_level_from = 0;
    c.ranking.min_coverage = 1.5;
    c.verdict.good = 20.0;
    for g in c.groups.values_mut() {
        g.always = false;
    }
    let errs = c.validate().expect_err("invalid").0;
    let keys: Vec<String> = errs
        .iter()
        .map(|e| match e {
            ConfigError::OutOfRange { key, .. } | ConfigError::Invalid { key, .. } => key.clone(),
        })
        .collect();
    for want in [
        "version",
        "severity_weights.high",
        "groups",
        "critical_cap",
        "alerts.floor",
        "alerts.tau_max",
        "freshness.stale_hours",
        "assets.high_level_from",
        "ranking.min_coverage",
        "verdict.good",
    ] {
        assert!(keys.iter().any(|k| k == want), "missing {want} in {keys:?}");
    }
    let msg = ConfigErrors(errs).to_string();
    assert!(
        msg.contains("scoring.critical_cap: got 120, expected a number from 0 to 100"),
        "{msg}"
    );
}

#[test]
fn validation_refuses_empty_and_weightless_groups() {
    let mut c = ScoringConfig::default();
    c.groups.clear();
    assert!(c.validate().is_err());
    let mut c = ScoringConfig::default();
    c.groups.insert(
        "extra".into(),
        GroupConfig {
            weight: -1.0,
            always: false,
        },
    );
    let errs = c.validate().expect_err("negative weight").0;
    assert_eq!(
        errs,
        [ConfigError::OutOfRange {
            key: "groups.extra.weight".into(),
            got: "-1".into(),
            expected: "a finite number > 0",
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration score

#[test]
fn all_pass_scores_100_with_an_empty_breakdown() {
    let s = score(&host("h", all_pass()));
    assert_eq!(s.score, 100.0);
    assert_eq!(s.verdict, Verdict::Good);
    assert!(s.breakdown.is_empty());
    assert!(s.fresh);
}

#[test]
fn always_counted_groups_without_data_score_zero() {
    // Only malware and patching have data; accounts and logging count as 0, hardening does not
    // count at all. ΣW = 20 + 20 + 15 + 10 = 65, S = (20·100 + 20·100) / 65.
    let results = vec![
        res("av", "malware", Severity::High, Outcome::Pass),
        res("upd", "patching", Severity::High, Outcome::Pass),
    ];
    let s = score(&host("h", results));
    assert_close(s.config_score, 4000.0 / 65.0);
    assert_close(
        item(&s, CostKind::GroupNoData, "accounts").points,
        1500.0 / 65.0,
    );
    assert_close(
        item(&s, CostKind::GroupNoData, "logging").points,
        1000.0 / 65.0,
    );
    assert_eq!(s.breakdown.len(), 2);
    let hardening = s
        .groups
        .iter()
        .find(|g| g.group == "hardening")
        .expect("listed");
    assert!(!hardening.counted);

    // A host with no results at all scores 0, each always-counted group costing its share.
    let empty = score(&host("h", vec![]));
    assert_eq!(empty.score, 0.0);
    assert_close(
        item(&empty, CostKind::GroupNoData, "malware").points,
        100.0 * 20.0 / 65.0,
    );
    assert_close(sum(&empty.breakdown), 100.0);
}

#[test]
fn optional_groups_count_only_with_applicable_results() {
    let mut results = all_pass();
    results.push(res(
        "bk",
        "backup",
        Severity::Medium,
        Outcome::NotApplicable,
    ));
    let s = score(&host("h", results.clone()));
    assert_eq!(s.score, 100.0);
    assert!(!s.groups.iter().any(|g| g.group == "backup" && g.counted));

    // One failing backup rule: ΣW = 65 + 10 and G_backup = 0.
    results.push(res("bk2", "backup", Severity::Low, Outcome::Fail));
    let s = score(&host("h", results));
    assert_close(s.score, 6500.0 / 75.0);
    assert_close(item(&s, CostKind::RuleFailed, "bk2").points, 1000.0 / 75.0);
}

#[test]
fn not_applicable_results_are_excluded() {
    // hardening: a failing high (6) rule and a passing medium (3) rule: G = 100·3/9.
    let mut results = all_pass();
    results.push(res("fw", "hardening", Severity::High, Outcome::Fail));
    results.push(res("ssh", "hardening", Severity::Medium, Outcome::Pass));
    let base = score(&host("h", results.clone()));
    // A not-applicable critical failure-prone rule changes nothing, not even the gate.
    results.push(res(
        "na",
        "hardening",
        Severity::Critical,
        Outcome::NotApplicable,
    ));
    let with_na = score(&host("h", results));
    assert_eq!(base.score, with_na.score);
    assert_eq!(base.breakdown, with_na.breakdown);
    assert!(!with_na.critical_failed);
    let g = with_na
        .groups
        .iter()
        .find(|g| g.group == "hardening")
        .expect("listed");
    assert_close(g.score, 100.0 / 3.0);
    assert_eq!(g.applicable, 2);
    // S = (65·100 + 15·100/3) / 80 = 7000 / 80.
    assert_close(with_na.score, 87.5);
    assert_close(item(&with_na, CostKind::RuleFailed, "fw").points, 12.5);
}

#[test]
fn partial_results_count_their_fraction() {
    // patching: partial 0.25 on a high rule (6) and a pass on a low rule (1):
    // G = 100·(6·0.25 + 1) / 7 = 250/7. S = (45·100 + 20·250/7) / 65.
    let mut results = all_pass();
    results.retain(|r| r.group != "patching");
    results.push(res(
        "p1",
        "patching",
        Severity::High,
        Outcome::Partial(0.25),
    ));
    results.push(res("p2", "patching", Severity::Low, Outcome::Pass));
    let s = score(&host("h", results));
    let want = (4500.0 + 20.0 * 250.0 / 7.0) / 65.0;
    assert_close(s.score, want);
    let it = item(&s, CostKind::RulePartial, "p1");
    assert_close(it.points, 100.0 * 20.0 / 65.0 * 6.0 * 0.75 / 7.0);
    assert!(it.label.contains("met 25%"), "{}", it.label);
    assert_close(sum(&s.breakdown), 100.0 - want);
}

#[test]
fn partial_fractions_are_clamped_and_nan_is_zero() {
    assert_eq!(Outcome::Partial(1.5).value(), Some(1.0));
    assert_eq!(Outcome::Partial(-0.5).value(), Some(0.0));
    assert_eq!(Outcome::Partial(f64::NAN).value(), Some(0.0));
    assert_eq!(Outcome::NotApplicable.value(), None);
}

#[test]
fn errors_and_unknowns_score_zero_and_are_flagged_unverified() {
    let mut results = all_pass();
    results.push(res("acc-lock", "accounts", Severity::High, Outcome::Error));
    results.push(res(
        "acc-idle",
        "accounts",
        Severity::High,
        Outcome::Unknown,
    ));
    let s = score(&host("h", results));
    // accounts: 1 pass of 3 equal weights, G = 100/3. S = (50·100 + 15·100/3) / 65.
    assert_close(s.score, 5500.0 / 65.0);
    assert_eq!(s.unverified, ["acc-lock", "acc-idle"]);
    assert_close(
        item(&s, CostKind::RuleUnverified, "acc-lock").points,
        500.0 / 65.0,
    );
    assert!(
        item(&s, CostKind::RuleUnverified, "acc-idle")
            .label
            .contains("no result")
    );
}

#[test]
fn check_results_from_the_wire_convert() {
    let c = CheckResult {
        rule_id: "lnx-ssh-root-login".into(),
        pack: "linux-baseline@1.0.0".into(),
        status: Status::NotApplicable,
        severity: Severity::High,
        group: "hardening".into(),
        controls: vec![],
        evidence: String::new(),
    };
    let r = RuleResult::from_check(&c, true);
    assert_eq!(r.outcome, Outcome::NotApplicable);
    assert!(r.common);
    assert_eq!(r.group, "hardening");
    assert_eq!(Outcome::from(Status::Error), Outcome::Error);
}

#[test]
fn unknown_groups_are_ignored_and_listed() {
    let mut results = all_pass();
    results.push(res("odd", "astrology", Severity::Critical, Outcome::Fail));
    let s = score(&host("h", results));
    assert_eq!(s.score, 100.0);
    assert!(!s.critical_failed);
    assert_eq!(
        s.ignored,
        [IgnoredResult {
            rule_id: "odd".into(),
            group: "astrology".into()
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Critical gate

#[test]
fn a_failed_critical_rule_caps_the_configuration_score_at_49() {
    // hardening: critical fail (10) and high pass (6): G = 37.5.
    // S_ungated = (65·100 + 15·37.5) / 80 = 88.28125, capped at 49.
    let mut results = all_pass();
    results.push(res(
        "ssh-root",
        "hardening",
        Severity::Critical,
        Outcome::Fail,
    ));
    results.push(res("fw", "hardening", Severity::High, Outcome::Pass));
    let s = score(&host("h", results));
    assert_close(s.config_score_ungated, 88.28125);
    assert_eq!(s.config_score, 49.0);
    assert_eq!(s.score, 49.0);
    assert!(s.critical_failed);
    assert_eq!(s.verdict, Verdict::Fail);
    assert_eq!(s.verdict.label_vi(), "Không đạt");
    assert_close(
        item(&s, CostKind::RuleFailed, "ssh-root").points,
        100.0 * 15.0 / 80.0 * 10.0 / 16.0,
    );
    assert_close(
        item(&s, CostKind::CriticalGate, "ssh-root").points,
        88.28125 - 49.0,
    );
    assert_close(sum(&s.breakdown), 51.0);
}

#[test]
fn the_gate_is_shared_by_every_failed_critical_rule() {
    let mut results = all_pass();
    results.push(res("c1", "hardening", Severity::Critical, Outcome::Fail));
    results.push(res("c2", "malware", Severity::Critical, Outcome::Fail));
    results.push(res("h1", "hardening", Severity::High, Outcome::Pass));
    let s = score(&host("h", results));
    let gate = s.config_score_ungated - 49.0;
    assert!(gate > 0.0);
    assert_close(item(&s, CostKind::CriticalGate, "c1").points, gate / 2.0);
    assert_close(item(&s, CostKind::CriticalGate, "c2").points, gate / 2.0);
    assert_close(sum(&s.breakdown), 51.0);
}

#[test]
fn the_gate_costs_nothing_below_the_cap_but_still_fails_the_host() {
    // Only a failed critical malware rule: S = (20·0 + 20·100 + 15·100 + 10·100)/65 ≈ 69.2; add
    // failures until it is below 49.
    let results = vec![
        res("av", "malware", Severity::Critical, Outcome::Fail),
        res("upd", "patching", Severity::High, Outcome::Fail),
        res("acc", "accounts", Severity::High, Outcome::Pass),
        res("log", "logging", Severity::High, Outcome::Pass),
    ];
    let s = score(&host("h", results));
    assert_close(s.config_score, 2500.0 / 65.0);
    assert_eq!(s.config_score, s.config_score_ungated);
    assert!(s.critical_failed);
    assert!(!s.breakdown.iter().any(|i| i.kind == CostKind::CriticalGate));
    assert_eq!(s.verdict, Verdict::Fail);
}

#[test]
fn verdict_bands_and_a_failed_critical_rule_always_fails() {
    // S = (65·100 + 15·x) / 80 with hardening G = x; pick x to land on each band edge.
    let mut results = all_pass();
    results.push(res(
        "fw",
        "hardening",
        Severity::High,
        Outcome::Partial(1.0 / 3.0),
    ));
    let s = score(&host("h", results.clone()));
    assert_close(s.score, (6500.0 + 500.0) / 80.0); // 87.5
    assert_eq!(s.verdict, Verdict::Good);
    assert_eq!(s.verdict.label_vi(), "Tốt");
    let mut h = host("h", results);
    h.last_report_at = Some(NOW - 60 * HOUR); // f = 0.9 → 78.75
    assert_eq!(score(&h).verdict, Verdict::Pass);
    assert_eq!(Verdict::Pass.label_vi(), "Đạt");

    // With a cap above the pass mark, a gated host scores 60 but is still "Không đạt".
    let mut c = ScoringConfig::default();
    c.critical_cap = 60.0;
    let sc = c.validate().expect("valid");
    let mut results = all_pass();
    results.push(res(
        "ssh-root",
        "hardening",
        Severity::Critical,
        Outcome::Fail,
    ));
    results.push(res("fw", "hardening", Severity::High, Outcome::Pass));
    let s = sc.score_host(&host("h", results), View::Full, &ctx(NOW));
    assert_eq!(s.score, 60.0);
    assert_eq!(s.verdict, Verdict::Fail);
}

#[test]
fn errors_and_partials_on_critical_rules_do_not_arm_the_gate() {
    for outcome in [Outcome::Error, Outcome::Partial(0.5), Outcome::Unknown] {
        let mut results = all_pass();
        results.push(res("c", "hardening", Severity::Critical, outcome));
        let s = score(&host("h", results));
        assert!(!s.critical_failed, "{outcome:?}");
        assert!(s.config_score > 49.0, "{outcome:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Alerts

#[test]
fn tau_is_one_within_sla_then_grows_linearly_to_three() {
    let sc = Scoring::default();
    let c = Severity::Critical;
    assert_eq!(sc.alert_tau(c, 0), 1.0);
    assert_eq!(sc.alert_tau(c, -5 * HOUR), 1.0);
    assert_eq!(sc.alert_tau(c, 10 * HOUR), 1.0);
    assert_eq!(sc.alert_tau(c, 24 * HOUR), 1.0);
    assert_eq!(sc.alert_tau(c, 36 * HOUR), 1.5);
    assert_eq!(sc.alert_tau(c, 48 * HOUR), 2.0);
    assert_eq!(sc.alert_tau(c, 72 * HOUR), 3.0);
    assert_eq!(sc.alert_tau(c, 100 * HOUR), 3.0);
    assert_eq!(sc.alert_tau(c, i64::MAX), 3.0);
    assert_eq!(sc.alert_tau(Severity::High, 72 * HOUR), 1.0);
    assert_eq!(sc.alert_tau(Severity::High, 144 * HOUR), 2.0);
    assert_eq!(sc.alert_tau(Severity::High, 216 * HOUR), 3.0);
    assert_eq!(sc.alert_tau(Severity::Medium, 14 * DAY), 1.0);
    assert_eq!(sc.alert_tau(Severity::Medium, 28 * DAY), 2.0);
    assert_eq!(sc.alert_tau(Severity::Medium, 42 * DAY), 3.0);
    assert_eq!(sc.alert_tau(Severity::Medium, 60 * DAY), 3.0);
}

#[test]
fn alert_factor_at_1x_2x_3x_and_beyond_the_sla() {
    // m = 1 − 0.25·τ with τ = 1, 1, 1.5, 2, 3, 3; at 3×SLA 1 − 0.75 = 0.25 is floored at 0.4.
    for (age, m) in [
        (12, 0.75),
        (24, 0.75),
        (36, 0.625),
        (48, 0.5),
        (72, 0.4),
        (200, 0.4),
    ] {
        let mut h = host("h", all_pass());
        h.alerts = vec![alert("a1", Severity::Critical, age * HOUR)];
        let s = score(&h);
        assert_close(s.alert_factor, m);
        assert_close(s.score, 100.0 * m);
        assert_close(item(&s, CostKind::Alert, "a1").points, 100.0 * (1.0 - m));
    }
}

#[test]
fn the_floor_scales_every_alert_alike() {
    // Two critical alerts at 3×SLA (0.75 each) and a high one within SLA (0.1): Σ = 1.6, m = 0.4.
    let mut h = host("h", all_pass());
    h.alerts = vec![
        alert("c1", Severity::Critical, 80 * HOUR),
        alert("c2", Severity::Critical, 90 * HOUR),
        alert("h1", Severity::High, HOUR),
        alert("l1", Severity::Low, 90 * DAY),
    ];
    let s = score(&h);
    assert_close(s.alert_factor, 0.4);
    assert_close(item(&s, CostKind::Alert, "c1").points, 60.0 * 0.75 / 1.6);
    assert_close(item(&s, CostKind::Alert, "h1").points, 60.0 * 0.1 / 1.6);
    // Low alerts carry no penalty and no item.
    assert!(!s.breakdown.iter().any(|i| i.key == "l1"));
    assert_close(sum(&s.breakdown), 60.0);
}

// ---------------------------------------------------------------------------------------------
// Freshness

#[test]
fn freshness_edges_at_48_hours_and_7_days() {
    let sc = Scoring::default();
    assert_eq!(sc.freshness(Some(0)), 1.0);
    assert_eq!(sc.freshness(Some(-DAY)), 1.0);
    assert_eq!(sc.freshness(Some(48 * HOUR)), 1.0);
    let just_after = sc.freshness(Some(48 * HOUR + 1));
    assert!(just_after < 1.0 && just_after > 0.999_999, "{just_after}");
    assert_eq!(sc.freshness(Some(108 * HOUR)), 0.5);
    assert_eq!(sc.freshness(Some(144 * HOUR)), 0.2);
    assert_eq!(sc.freshness(Some(7 * DAY)), 0.0);
    assert_eq!(sc.freshness(Some(30 * DAY)), 0.0);
    assert_eq!(sc.freshness(None), 0.0);
}

#[test]
fn stale_and_silent_hosts_lose_their_score() {
    let mut h = host("h", all_pass());
    h.last_report_at = Some(NOW - 48 * HOUR);
    let s = score(&h);
    assert!(s.fresh);
    assert_eq!(s.score, 100.0);

    h.last_report_at = Some(NOW - 108 * HOUR);
    let s = score(&h);
    assert!(!s.fresh);
    assert_close(s.score, 50.0);
    assert_close(item(&s, CostKind::Stale, "h").points, 50.0);

    h.last_report_at = None;
    let s = score(&h);
    assert_eq!(s.score, 0.0);
    assert_close(item(&s, CostKind::NeverReported, "h").points, 100.0);
    assert_eq!(s.verdict, Verdict::Fail);
}

// ---------------------------------------------------------------------------------------------
// The worked example of docs/scoring.md

fn worked_example() -> HostInput {
    HostInput {
        host_id: "pc-ketoan-01".into(),
        results: vec![
            res("av-realtime", "malware", Severity::High, Outcome::Pass),
            res("av-signatures", "malware", Severity::Medium, Outcome::Fail),
            res(
                "patch-auto",
                "patching",
                Severity::High,
                Outcome::Partial(0.5),
            ),
            res("pw-length", "accounts", Severity::Medium, Outcome::Pass),
            res("pw-lockout", "accounts", Severity::Medium, Outcome::Error),
            res(
                "ssh-root-login",
                "hardening",
                Severity::Critical,
                Outcome::Pass,
            ),
            res("host-firewall", "hardening", Severity::High, Outcome::Fail),
            res(
                "backup-offsite",
                "backup",
                Severity::Medium,
                Outcome::NotApplicable,
            ),
        ],
        level_results: None,
        alerts: vec![
            alert("alert-17", Severity::High, 144 * HOUR),
            alert("alert-18", Severity::Medium, 24 * HOUR),
            alert("alert-19", Severity::Low, 10 * DAY),
        ],
        last_report_at: Some(NOW - 84 * HOUR),
    }
}

#[test]
fn worked_example_matches_the_documentation() {
    let s = score(&worked_example());
    // G: malware 100·6/9, patching 50, accounts 50, logging 0 (no data), hardening 100·10/16.
    // ΣW = 20 + 20 + 15 + 10 + 15 = 80 (backup has only a not-applicable result).
    // S = (20·66.67 + 20·50 + 15·50 + 10·0 + 15·62.5) / 80 = 50.2604166…
    let s_cfg = 12062.5 / 240.0;
    assert_close(s.config_score, s_cfg);
    assert_close(s_cfg, 50.260_416_666_666_664);
    // m = 1 − (0.10·2 + 0.02·1 + 0·τ) = 0.78; f = (168 − 84) / 120 = 0.7.
    assert_close(s.alert_factor, 0.78);
    assert_close(s.freshness, 0.7);
    assert_close(s.score, 27.442_187_5);
    assert_eq!(s.verdict, Verdict::Fail);

    let want = [
        (
            CostKind::RuleFailed,
            "av-signatures",
            100.0 * 20.0 / 80.0 * 3.0 / 9.0,
        ), // 8.3333
        (CostKind::RulePartial, "patch-auto", 12.5),
        (CostKind::RuleUnverified, "pw-lockout", 9.375),
        (CostKind::RuleFailed, "host-firewall", 7.031_25),
        (CostKind::GroupNoData, "logging", 12.5),
        (CostKind::Alert, "alert-17", s_cfg * 0.2), // 10.0521
        (CostKind::Alert, "alert-18", s_cfg * 0.02), // 1.0052
        (CostKind::Stale, "pc-ketoan-01", s_cfg * 0.78 * 0.3), // 11.7609
    ];
    assert_eq!(s.breakdown.len(), want.len(), "{:#?}", s.breakdown);
    for (kind, key, points) in want {
        assert_close(item(&s, kind, key).points, points);
    }
    assert_close(sum(&s.breakdown), 100.0 - 27.442_187_5);
}

// ---------------------------------------------------------------------------------------------
// Agencies

fn asset<'a>(id: &'a str, role: Role, level: u8, score: Option<&'a HostScore>) -> AssetRef<'a> {
    AssetRef {
        asset_id: id,
        role,
        level,
        score,
    }
}

#[test]
fn asset_weights_follow_role_and_level() {
    let sc = Scoring::default();
    for level in 1..=5 {
        assert_eq!(sc.asset_weight(Role::Workstation, level), 1.0);
    }
    assert_eq!(sc.asset_weight(Role::Server, 0), 3.0);
    assert_eq!(sc.asset_weight(Role::Server, 1), 3.0);
    assert_eq!(sc.asset_weight(Role::Server, 2), 3.0);
    assert_eq!(sc.asset_weight(Role::Server, 3), 5.0);
    assert_eq!(sc.asset_weight(Role::Server, 4), 5.0);
    assert_eq!(sc.asset_weight(Role::Server, 5), 5.0);
}

#[test]
fn agency_score_weights_hosts_and_counts_missing_agents_as_zero() {
    let sc = Scoring::default();
    let c = ctx(NOW);
    let good = sc.score_host(&host("srv-a", all_pass()), View::Full, &c); // 100, fresh
    let mut stale_in = host("pc-b", all_pass());
    stale_in.last_report_at = Some(NOW - 108 * HOUR);
    let stale = sc.score_host(&stale_in, View::Full, &c); // 50, not fresh
    let assets = [
        asset("srv-a", Role::Server, 3, Some(&good)), // ω 5, H 100
        asset("pc-b", Role::Workstation, 2, Some(&stale)), // ω 1, H 50
        asset("srv-c", Role::Server, 1, None),        // ω 3, no agent
        asset("pc-d", Role::Workstation, 1, None),    // ω 1, no agent
    ];
    let a = sc.score_agency("province/so-tttt", &assets, View::Full, &c);
    // A = (5·100 + 1·50 + 0 + 0) / 10 = 55; κ = 5/10.
    assert_close(a.score, 55.0);
    assert_close(a.coverage, 0.5);
    assert_eq!(a.total_weight, 10.0);
    assert_eq!((a.hosts, a.hosts_with_agent, a.hosts_fresh), (4, 2, 1));
    let missing = a
        .breakdown
        .iter()
        .find(|i| i.key == "srv-c")
        .expect("missing item");
    assert_eq!(missing.kind, CostKind::MissingAgent);
    assert_close(missing.points, 30.0);
    let stale_item = a
        .breakdown
        .iter()
        .find(|i| i.kind == CostKind::Stale)
        .expect("stale");
    assert_eq!(stale_item.asset.as_deref(), Some("pc-b"));
    assert_close(stale_item.points, 50.0 / 10.0);
    assert_close(sum(&a.breakdown), 45.0);
    assert_eq!(
        a.ranking.reasons,
        [
            Ineligible::TooFewHosts { hosts: 4, min: 5 },
            Ineligible::LowCoverage {
                coverage: 0.5,
                min: 0.8
            },
        ]
    );
    assert!(!a.ranking.eligible);
}

#[test]
fn ranking_needs_five_hosts_and_eighty_percent_coverage() {
    let sc = Scoring::default();
    let c = ctx(NOW);
    let fresh = sc.score_host(&host("x", all_pass()), View::Full, &c);
    let ids: Vec<String> = (0..5).map(|i| format!("pc-{i}")).collect();
    // 4 fresh workstations of 5: κ = 0.8 exactly, eligible.
    let assets: Vec<AssetRef<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| asset(id, Role::Workstation, 1, (i < 4).then_some(&fresh)))
        .collect();
    let a = sc.score_agency("a", &assets, View::Full, &c);
    assert_close(a.coverage, 0.8);
    assert!(a.ranking.eligible, "{:?}", a.ranking);
    assert!(a.ranking.reasons.is_empty());
    // 3 of 5: κ = 0.6, not eligible for coverage only.
    let assets: Vec<AssetRef<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| asset(id, Role::Workstation, 1, (i < 3).then_some(&fresh)))
        .collect();
    let a = sc.score_agency("a", &assets, View::Full, &c);
    assert!(matches!(
        a.ranking.reasons[..],
        [Ineligible::LowCoverage { .. }]
    ));
}

#[test]
fn an_agency_without_assets_scores_zero() {
    let a = Scoring::default().score_agency("empty", &[], View::Full, &ctx(NOW));
    assert_eq!((a.score, a.coverage), (0.0, 0.0));
    assert_eq!(a.breakdown.len(), 1);
    assert_eq!(a.breakdown[0].kind, CostKind::NoAssets);
    assert_eq!(a.breakdown[0].points, 100.0);
    assert!(!a.ranking.eligible);
}

#[test]
fn common_and_level_views_score_their_own_results() {
    let sc = Scoring::default();
    // Full: all pass plus a failing, non-common hardening rule.
    let mut results: Vec<RuleResult> = all_pass()
        .into_iter()
        .map(|r| RuleResult { common: true, ..r })
        .collect();
    results.push(res("extra", "hardening", Severity::High, Outcome::Fail));
    let mut h = host("h", results);
    // At the agency's (higher) level, logging fails.
    let mut at_level = all_pass();
    at_level[3].outcome = Outcome::Fail;
    h.level_results = Some(at_level);
    let c = ctx(NOW);

    let full = sc.score_host(&h, View::Full, &c);
    assert_close(full.score, 6500.0 / 80.0);
    let common = sc.score_host(&h, View::Common, &c);
    assert_eq!(common.score, 100.0);
    assert_eq!(common.view, View::Common);
    let level = sc.score_host(&h, View::Level, &c);
    assert_close(level.score, 5500.0 / 65.0);
    assert_eq!(
        item(&level, CostKind::RuleFailed, "logging-ok").kind,
        CostKind::RuleFailed
    );

    // Without level results the level view falls back to the host's own results.
    h.level_results = None;
    assert_eq!(sc.score_host(&h, View::Level, &c).score, full.score);

    // The report computes the three agency scores from the same inputs.
    let mut at_level = all_pass();
    at_level[3].outcome = Outcome::Fail;
    h.level_results = Some(at_level);
    let assets = vec![
        AssetInput {
            asset_id: "h".into(),
            role: Role::Workstation,
            level: 2,
            host: Some(h),
        },
        AssetInput {
            asset_id: "gone".into(),
            role: Role::Workstation,
            level: 2,
            host: None,
        },
    ];
    let r = sc.agency_report("a", &assets, &c);
    assert_close(r.full.score, full.score / 2.0);
    assert_close(r.common.score, 50.0);
    assert_close(r.level.score, level.score / 2.0);
    assert_eq!(
        (r.full.view, r.common.view, r.level.view),
        (View::Full, View::Common, View::Level)
    );
    assert_eq!(r.hosts.len(), 1);
    for a in [&r.full, &r.common, &r.level] {
        assert_close(sum(&a.breakdown), 100.0 - a.score);
    }
}

#[test]
fn totals_by_key_sums_one_rule_across_hosts() {
    let sc = Scoring::default();
    let c = ctx(NOW);
    let mut results = all_pass();
    results.push(res("fw", "hardening", Severity::High, Outcome::Fail));
    let h1 = sc.score_host(&host("h1", results.clone()), View::Full, &c);
    let h2 = sc.score_host(&host("h2", results), View::Full, &c);
    let assets = [
        asset("h1", Role::Workstation, 1, Some(&h1)),
        asset("h2", Role::Workstation, 1, Some(&h2)),
        asset("h3", Role::Workstation, 1, None),
    ];
    let a = sc.score_agency("a", &assets, View::Full, &c);
    let totals = totals_by_key(&a.breakdown);
    assert_eq!(totals[0].0, CostKind::MissingAgent);
    assert_close(totals[0].2, 100.0 / 3.0);
    assert_eq!(
        (totals[1].0, totals[1].1.as_str()),
        (CostKind::RuleFailed, "fw")
    );
    assert_close(totals[1].2, 2.0 * (100.0 - h1.score) / 3.0);
}

#[test]
fn switching_off_half_the_agents_lowers_score_and_coverage_over_time() {
    let sc = Scoring::default();
    let t0 = NOW;
    let mut hosts: Vec<HostInput> = (0..10)
        .map(|i| {
            let mut results = all_pass();
            if i % 3 == 0 {
                results.push(res("fw", "hardening", Severity::High, Outcome::Fail));
            }
            let mut h = host(&format!("pc-{i}"), results);
            if i % 4 == 0 {
                h.alerts = vec![OpenAlert {
                    id: format!("al-{i}"),
                    severity: Severity::High,
                    opened_at: t0 - 10 * HOUR,
                }];
            }
            h
        })
        .collect();
    let agency = |hosts: &[HostInput], now: i64| {
        let assets: Vec<AssetInput> = hosts
            .iter()
            .map(|h| AssetInput {
                asset_id: h.host_id.clone(),
                role: Role::Workstation,
                level: 2,
                host: Some(h.clone()),
            })
            .collect();
        sc.agency_report("province/xa-nghi-loc", &assets, &ctx(now))
            .full
    };

    let start = agency(&hosts, t0);
    assert_eq!(start.coverage, 1.0);
    assert!(start.ranking.eligible);
    let (mut prev_a, mut prev_k) = (start.score, start.coverage);
    let mut all_on = hosts.clone();
    // Every hour for ten days, the even hosts keep reporting, the odd ones went silent at t0.
    for step in 1..=240 {
        let now = t0 + step * HOUR;
        for (i, h) in hosts.iter_mut().enumerate() {
            if i % 2 == 0 {
                h.last_report_at = Some(now);
            }
        }
        for h in &mut all_on {
            h.last_report_at = Some(now);
        }
        let a = agency(&hosts, now);
        let on = agency(&all_on, now);
        assert!(
            a.score <= prev_a + EPS,
            "A rose at +{step} h: {prev_a} → {}",
            a.score
        );
        assert!(a.coverage <= prev_k, "κ rose at +{step} h");
        assert!(
            a.score <= on.score + EPS,
            "off ({}) above all-on ({}) at +{step} h",
            a.score,
            on.score
        );
        assert_close(sum(&a.breakdown), 100.0 - a.score);
        if step <= 48 {
            // Within the freshness window nobody is penalised yet.
            assert_eq!(a.coverage, 1.0);
            assert_close(a.score, on.score);
        }
        (prev_a, prev_k) = (a.score, a.coverage);
    }
    let end = agency(&hosts, t0 + 240 * HOUR);
    let on = agency(&all_on, t0 + 240 * HOUR);
    assert_eq!(end.coverage, 0.5);
    assert!(end.score < start.score);
    assert!(
        end.score < on.score / 2.0 + EPS,
        "{} vs {}",
        end.score,
        on.score
    );
    assert!(!end.ranking.eligible);
    assert!(matches!(
        end.ranking.reasons[..],
        [Ineligible::LowCoverage { .. }]
    ));
    assert_eq!(
        end.breakdown
            .iter()
            .filter(|i| i.kind == CostKind::Stale)
            .count(),
        5
    );
}

#[test]
fn the_rule_pack_version_is_stamped_on_every_score_after_it_changes() {
    let sc = Scoring::default();
    let assets: Vec<AssetInput> = (0..3)
        .map(|i| AssetInput {
            asset_id: format!("pc-{i}"),
            role: Role::Workstation,
            level: 1,
            host: Some(worked_example()),
        })
        .collect();
    let check = |version: &str, now: i64| {
        let c = ScoreContext {
            now,
            rule_pack_version: version.into(),
        };
        let r = sc.agency_report("a", &assets, &c);
        for a in [&r.full, &r.common, &r.level] {
            assert_eq!(a.rule_pack_version, version);
            assert_eq!(a.scoring_version, DEFAULT_SCORING_VERSION);
            assert_eq!(a.computed_at, now);
        }
        assert_eq!(r.hosts.len(), 3);
        for h in &r.hosts {
            assert_eq!(h.rule_pack_version, version);
            assert_eq!(h.computed_at, now);
        }
        let json = serde_json::to_value(&r).expect("serialize");
        assert_eq!(json["full"]["rule_pack_version"], version);
        assert_eq!(json["hosts"][2]["rule_pack_version"], version);
        let back: AgencyReport = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, r);
        r
    };
    let before = check("linux-baseline@1.0.0", NOW);
    let after = check("linux-baseline@1.1.0", NOW + HOUR);
    assert_ne!(before.full.rule_pack_version, after.full.rule_pack_version);

    // A new scoring configuration version is visible the same way.
    let mut cfg = ScoringConfig::default();
    cfg.version = "vigil-scoring-2".into();
    let sc2 = cfg.validate().expect("valid");
    let h = sc2.score_host(&worked_example(), View::Full, &ctx(NOW));
    assert_eq!(h.scoring_version, "vigil-scoring-2");
}

#[test]
fn breakdown_json_uses_stable_kind_names() {
    let s = score(&worked_example());
    let json = serde_json::to_value(&s).expect("serialize");
    let kinds: Vec<&str> = json["breakdown"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"rule_failed"));
    assert!(kinds.contains(&"group_no_data"));
    assert!(kinds.contains(&"stale"));
    for i in &s.breakdown {
        assert_eq!(serde_json::to_value(i.kind).expect("kind"), i.kind.as_str());
    }
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["view"], "full");
}

// ---------------------------------------------------------------------------------------------
// Properties

const GROUPS: [&str; 9] = [
    "malware",
    "patching",
    "accounts",
    "hardening",
    "logging",
    "removable-media",
    "backup",
    "integrity",
    "not-a-group",
];

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Pass),
        3 => Just(Outcome::Fail),
        1 => (0.0f64..=1.0).prop_map(Outcome::Partial),
        1 => Just(Outcome::Error),
        1 => Just(Outcome::Unknown),
        1 => Just(Outcome::NotApplicable),
    ]
}

fn rule_result() -> impl Strategy<Value = RuleResult> {
    (
        0u32..40,
        prop::sample::select(GROUPS.to_vec()),
        severity(),
        outcome(),
        any::<bool>(),
    )
        .prop_map(|(n, g, severity, outcome, common)| RuleResult {
            rule_id: format!("r{n}"),
            group: g.into(),
            severity,
            outcome,
            common,
        })
}

fn host_input(id: String) -> impl Strategy<Value = HostInput> {
    (
        prop::collection::vec(rule_result(), 0..25),
        prop::option::of(prop::collection::vec(rule_result(), 0..10)),
        prop::collection::vec((severity(), -HOUR..60 * DAY), 0..6),
        prop::option::of(-HOUR..10 * DAY),
    )
        .prop_map(move |(results, level_results, alerts, age)| HostInput {
            host_id: id.clone(),
            results,
            level_results,
            alerts: alerts
                .into_iter()
                .enumerate()
                .map(|(i, (severity, age))| OpenAlert {
                    id: format!("a{i}"),
                    severity,
                    opened_at: NOW - age,
                })
                .collect(),
            last_report_at: age.map(|a| NOW - a),
        })
}

fn view() -> impl Strategy<Value = View> {
    prop::sample::select(vec![View::Full, View::Common, View::Level])
}

/// Random but valid configurations, to check the breakdown does not depend on the defaults.
fn scoring() -> impl Strategy<Value = Scoring> {
    (
        prop::array::uniform4(0.1f64..20.0),
        prop::collection::vec(0.1f64..30.0, 8),
        0.0f64..=100.0,
        0.0f64..=1.0,
        1.0f64..5.0,
        prop::array::uniform4(0.0f64..=1.0),
    )
        .prop_map(|(sev, gw, cap, floor, tau_max, pen)| {
            let mut c = ScoringConfig::default();
            c.severity_weights = PerSeverity {
                low: sev[0],
                medium: sev[1],
                high: sev[2],
                critical: sev[3],
            };
            for (g, w) in c.groups.values_mut().zip(gw) {
                g.weight = w;
            }
            c.critical_cap = cap;
            c.alerts.floor = floor;
            c.alerts.tau_max = tau_max;
            c.alerts.penalty = PerSeverity {
                low: pen[0],
                medium: pen[1],
                high: pen[2],
                critical: pen[3],
            };
            c.validate().expect("generated configs are valid")
        })
}

fn asset_input(i: usize) -> impl Strategy<Value = AssetInput> {
    (
        prop::sample::select(vec![Role::Workstation, Role::Server]),
        1u8..=5,
        prop::option::weighted(0.8, host_input(format!("h{i}"))),
    )
        .prop_map(move |(role, level, host)| AssetInput {
            asset_id: format!("asset-{i}"),
            role,
            level,
            host,
        })
}

fn agency_assets() -> impl Strategy<Value = Vec<AssetInput>> {
    (0usize..12).prop_flat_map(|n| (0..n).map(asset_input).collect::<Vec<_>>())
}

fn host_score_is_sound(s: &HostScore) -> Result<(), TestCaseError> {
    prop_assert!((0.0..=100.0).contains(&s.score), "H = {}", s.score);
    prop_assert!((0.0..=100.0).contains(&s.config_score));
    prop_assert!((0.0..=1.0).contains(&s.alert_factor));
    prop_assert!((0.0..=1.0).contains(&s.freshness));
    let total = sum(&s.breakdown);
    prop_assert!(
        (total - (100.0 - s.score)).abs() < EPS,
        "Σ = {total}, 100 − H = {}",
        100.0 - s.score
    );
    prop_assert!(
        s.breakdown
            .iter()
            .all(|i| i.points > 0.0 && i.points.is_finite())
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn host_breakdown_sums_to_the_loss(sc in scoring(), h in host_input("h".into()), v in view()) {
        host_score_is_sound(&sc.score_host(&h, v, &ctx(NOW)))?;
    }

    #[test]
    fn agency_breakdown_sums_to_the_loss(sc in scoring(), assets in agency_assets()) {
        let r = sc.agency_report("a", &assets, &ctx(NOW));
        for h in &r.hosts {
            host_score_is_sound(h)?;
        }
        for a in [&r.full, &r.common, &r.level] {
            prop_assert!((0.0..=100.0).contains(&a.score), "A = {}", a.score);
            prop_assert!((0.0..=1.0).contains(&a.coverage));
            let total = sum(&a.breakdown);
            prop_assert!((total - (100.0 - a.score)).abs() < EPS, "Σ = {total}, A = {}", a.score);
        }
    }

    #[test]
    fn totals_breakdown_is_the_per_asset_breakdown_summed_by_key(
        sc in scoring(),
        assets in agency_assets(),
        v in view(),
    ) {
        let c = ctx(NOW);
        let scores: Vec<Option<HostScore>> = assets
            .iter()
            .map(|a| a.host.as_ref().map(|h| sc.score_host(h, v, &c)))
            .collect();
        let refs: Vec<AssetRef<'_>> = assets
            .iter()
            .zip(&scores)
            .map(|(a, s)| AssetRef { asset_id: &a.asset_id, role: a.role, level: a.level, score: s.as_ref() })
            .collect();
        let per_asset = sc.score_agency("a", &refs, v, &c);
        let totals = sc.score_agency_totals("a", &refs, v, &c);
        prop_assert_eq!(per_asset.score, totals.score);
        prop_assert_eq!(per_asset.coverage, totals.coverage);
        prop_assert!((sum(&totals.breakdown) - (100.0 - totals.score)).abs() < EPS);
        prop_assert!(totals.breakdown.iter().all(|i| i.asset.is_none()));
        prop_assert!(totals.breakdown.windows(2).all(|w| w[0].points >= w[1].points));
        let want = totals_by_key(&per_asset.breakdown);
        prop_assert_eq!(want.len(), totals.breakdown.len());
        for (i, (kind, key, points)) in want.iter().enumerate() {
            let got = totals
                .breakdown
                .iter()
                .find(|t| t.kind == *kind && &t.key == key)
                .ok_or_else(|| TestCaseError::fail(format!("{kind} {key} missing (#{i})")))?;
            prop_assert!((got.points - points).abs() < EPS, "{} {}: {} vs {}", kind, key, got.points, points);
        }
    }

    #[test]
    fn failing_one_more_rule_never_raises_the_host_score(
        sc in scoring(),
        h in host_input("h".into()),
        idx in any::<prop::sample::Index>(),
        extra in rule_result(),
        v in view(),
    ) {
        let c = ctx(NOW);
        let before = sc.score_host(&h, v, &c).score;
        // Flip one existing result to fail, in both result sets.
        let mut flipped = h.clone();
        if !flipped.results.is_empty() {
            let i = idx.index(flipped.results.len());
            flipped.results[i].outcome = Outcome::Fail;
        }
        if let Some(lr) = flipped.level_results.as_mut().filter(|lr| !lr.is_empty()) {
            let i = idx.index(lr.len());
            lr[i].outcome = Outcome::Fail;
        }
        let after = sc.score_host(&flipped, v, &c).score;
        prop_assert!(after <= before + EPS, "flip: {before} → {after}");
        // Add one more failing result.
        let mut added = h.clone();
        let failing = RuleResult { outcome: Outcome::Fail, ..extra };
        added.results.push(failing.clone());
        if let Some(lr) = added.level_results.as_mut() {
            lr.push(failing);
        }
        let after = sc.score_host(&added, v, &c).score;
        prop_assert!(after <= before + EPS, "add: {before} → {after}");
    }

    #[test]
    fn switching_off_an_agent_never_raises_the_agency_score_or_coverage(
        sc in scoring(),
        assets in agency_assets(),
        idx in any::<prop::sample::Index>(),
        silence in prop_oneof![Just(None), (0i64..10 * DAY).prop_map(Some)],
        uninstall in any::<bool>(),
    ) {
        prop_assume!(!assets.is_empty());
        let c = ctx(NOW);
        let before = sc.agency_report("a", &assets, &c);
        let mut off = assets.clone();
        let i = idx.index(off.len());
        if uninstall {
            off[i].host = None;
        } else if let Some(h) = off[i].host.as_mut() {
            // The agent stops: its last report only gets older (or there never was one).
            h.last_report_at = match (h.last_report_at, silence) {
                (Some(t), Some(d)) => Some(t - d),
                _ => None,
            };
        }
        let after = sc.agency_report("a", &off, &c);
        for (b, a) in [(&before.full, &after.full), (&before.common, &after.common), (&before.level, &after.level)] {
            prop_assert!(a.score <= b.score + EPS, "A: {} → {}", b.score, a.score);
            prop_assert!(a.coverage <= b.coverage, "κ: {} → {}", b.coverage, a.coverage);
        }
    }
}

#[test]
fn score_check_results_uses_freshness_and_pack_versions() {
    use vigil_proto::{CheckResult, Severity, Status};
    let r = |id: &str, status| CheckResult {
        rule_id: id.into(),
        pack: "p@1".into(),
        status,
        severity: Severity::High,
        group: "hardening".into(),
        controls: vec![],
        evidence: String::new(),
    };
    let results = vec![r("a", Status::Pass), r("b", Status::Fail)];
    let now = 10 * 24 * 3_600_000;
    let fresh = super::score_check_results("h", &results, Some(now), now);
    let stale = super::score_check_results("h", &results, Some(0), now);
    assert_eq!(fresh.rule_pack_version, "p@1");
    assert!(fresh.score > 0.0);
    assert_eq!(stale.score, 0.0, "ten days without a report: freshness 0");
    let never = super::score_check_results("h", &results, None, now);
    assert_eq!(never.score, 0.0);
}
