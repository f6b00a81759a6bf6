use vigil_rules::score::{AgencyScore, Ranking, View};

use super::*;
use crate::store::fed::Downstream;

fn score(path: &str, view: View, a: f64) -> AgencyScore {
    AgencyScore {
        agency_id: path.into(),
        view,
        score: a,
        coverage: 1.0,
        hosts: 2,
        hosts_with_agent: 2,
        hosts_fresh: 2,
        total_weight: 2.0,
        ranking: Ranking {
            eligible: false,
            reasons: Vec::new(),
        },
        assets: Vec::new(),
        breakdown: Vec::new(),
        rule_pack_version: "p@1".into(),
        scoring_version: "1".into(),
        computed_at: 1_000,
    }
}

fn agency(path: &str, a: f64) -> AgencySummary {
    AgencySummary {
        path: path.into(),
        name: format!("Agency {path}"),
        level: 2,
        a: score(path, View::Full, a),
        a_common: score(path, View::Common, a),
        a_level: score(path, View::Level, a),
        hosts_failing: 1,
        open_alerts: [(
            "high".to_owned(),
            AlertStat {
                count: 2,
                oldest_opened_at: 5,
            },
        )]
        .into(),
        top_failing: vec![RuleCount {
            rule_id: "r1".into(),
            hosts: 1,
        }],
        origin_computed_at: None,
    }
}

fn summary(agencies: Vec<AgencySummary>) -> PostureSummary {
    PostureSummary {
        v: SUMMARY_VERSION,
        downstream_id: "d1".into(),
        computed_at: 1_000,
        rule_pack_version: "p@1".into(),
        scoring_version: "1".into(),
        agencies,
    }
}

fn body(s: &PostureSummary) -> String {
    serde_json::to_string(s).expect("json")
}

#[test]
fn a_valid_summary_parses_to_itself() {
    let s = summary(vec![agency("xa", 71.5), agency("xa/ubnd", 64.0)]);
    assert_eq!(PostureSummary::parse(&body(&s)).expect("parse"), s);
}

#[test]
fn paths_outside_the_subtree_are_refused() {
    for bad in [
        "",
        "/abs",
        "../up",
        "xa/../../p",
        "xa//b",
        "xa/.",
        "x a",
        "xa/",
    ] {
        assert!(check_path(bad).is_err(), "{bad:?}");
        let s = summary(vec![agency(bad, 50.0)]);
        assert!(PostureSummary::parse(&body(&s)).is_err(), "{bad:?}");
    }
    assert!(check_path("xa-nghi-loc/ubnd_1.v2").is_ok());
}

#[test]
fn hostile_or_raw_summaries_are_refused_whole() {
    let ok = agency("xa", 50.0);
    let mut cases = Vec::new();
    let mut a = ok.clone();
    a.a.score = f64::NAN;
    cases.push(("nan", a));
    let mut a = ok.clone();
    a.a.score = 100.5;
    cases.push(("over 100", a));
    let mut a = ok.clone();
    a.a_common.agency_id = "elsewhere".into();
    cases.push(("score of another agency", a));
    let mut a = ok.clone();
    a.a_level.view = View::Full;
    cases.push(("wrong view", a));
    let mut a = ok.clone();
    a.a.hosts_fresh = 3;
    cases.push(("counts", a));
    let mut a = ok.clone();
    a.level = 9;
    cases.push(("level", a));
    let mut a = ok.clone();
    a.open_alerts.insert(
        "apocalyptic".into(),
        AlertStat {
            count: 1,
            oldest_opened_at: 0,
        },
    );
    cases.push(("severity", a));
    let mut a = ok.clone();
    a.top_failing = vec![
        RuleCount {
            rule_id: "r".into(),
            hosts: 1
        };
        TOP_RULES + 1
    ];
    cases.push(("too many rules", a));
    let mut a = ok.clone();
    a.name = "bad\u{7}name".into();
    cases.push(("control character", a));
    for (what, a) in cases {
        let s = summary(vec![a]);
        assert!(PostureSummary::parse(&body(&s)).is_err(), "{what}");
    }
    let twice = summary(vec![ok.clone(), ok.clone()]);
    assert!(
        PostureSummary::parse(&body(&twice)).is_err(),
        "duplicate agency"
    );
    // Per-host lines never travel: a summary carrying an asset line is refused.
    let mut with_asset = serde_json::to_value(summary(vec![ok])).expect("value");
    with_asset["agencies"][0]["a"]["breakdown"] = serde_json::json!([{
        "kind": "rule_failed", "key": "r1", "asset": "host-1", "label": "x", "points": 1.0
    }]);
    let refused = PostureSummary::parse(&with_asset.to_string());
    assert!(
        matches!(&refused, Err(SummaryError::Invalid(m)) if m.contains("per-host")),
        "{refused:?}"
    );
    assert!(PostureSummary::parse("{\"v\":1,\"extra\":true}").is_err());
    assert!(PostureSummary::parse("not json").is_err());
}

fn latest(id: &str, agency: &str, s: &PostureSummary, received_at: i64) -> LatestSummary {
    LatestSummary {
        downstream: Downstream {
            id: id.into(),
            agency: agency.into(),
            name: format!("collector {id}"),
            cert_serial: "s".into(),
            enrolled_at: 0,
            revoked_at: 0,
            acked_seq: 1,
            last_received: received_at,
        },
        seq: 1,
        received_at,
        body: body(s),
    }
}

#[test]
fn grafts_go_under_the_enrolled_agency_and_never_over_local_ones() {
    let s1 = summary(vec![agency("xa", 71.5), agency("so-tttt", 10.0)]);
    let s2 = summary(vec![agency("xa", 20.0)]);
    let l = [latest("d1", "tinh", &s1, 2), latest("d2", "tinh", &s2, 3)];
    let now_ms = 1_000 + 90_000;
    let g = graft(&l, &["tinh", "tinh/so-tttt"], now_ms);
    // `tinh/so-tttt` is a local agency and `tinh/xa` is d1's: d1's copy and d2's are left out.
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0].id, "tinh/xa");
    assert_eq!(g[0].summary.a.score, 71.5);
    assert_eq!(g[0].mark.downstream, "d1");
    assert_eq!(g[0].mark.age_s, 90);
    assert!(!g[0].mark.stale);
    let later = graft(&l[..1], &[], 1_000 + (STALE_AFTER_S + 1) * 1000);
    assert!(later.iter().all(|x| x.mark.stale));
    // A subtree the downstream received from below keeps its own computation time.
    let mut nested = agency("xa", 50.0);
    nested.origin_computed_at = Some(400);
    let g = graft(&[latest("d1", "vn", &summary(vec![nested]), 2)], &[], 1_400);
    assert_eq!(
        (g[0].id.as_str(), g[0].mark.computed_at, g[0].mark.age_s),
        ("vn/xa", 400, 1)
    );
    assert_eq!(regraft(&g[0].summary.a, "vn/xa").agency_id, "vn/xa");
}
