//! Folding federated subtrees into a parent agency's score.

use super::*;

const NOW: i64 = 1_750_000_000_000;

fn ctx() -> ScoreContext {
    ScoreContext {
        now: NOW,
        rule_pack_version: "p@1".into(),
    }
}

fn fresh_host(id: &str) -> HostScore {
    let input = HostInput {
        host_id: id.into(),
        // Passing and failing rules in the always-counted groups: 0 < H < 100.
        results: ["malware", "patching", "accounts", "logging"]
            .iter()
            .map(|g| RuleResult {
                rule_id: format!("{g}-rule"),
                group: (*g).into(),
                severity: vigil_proto::Severity::High,
                outcome: if *g == "logging" {
                    Outcome::Fail
                } else {
                    Outcome::Pass
                },
                common: false,
            })
            .collect(),
        level_results: None,
        alerts: Vec::new(),
        last_report_at: Some(NOW),
    };
    Scoring::default().score_host(&input, View::Full, &ctx())
}

/// A downstream's figure as its summary carries it (no lines, no breakdown).
fn subtree(id: &str, score: f64, coverage: f64, weight: f64, hosts: usize) -> AgencyScore {
    let mut a = Scoring::default().score_agency(id, &[], View::Full, &ctx());
    a.score = score;
    a.coverage = coverage;
    a.total_weight = weight;
    a.hosts = hosts;
    a.hosts_with_agent = hosts;
    a.hosts_fresh = hosts;
    a.breakdown.clear();
    a
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn a_subtree_counts_as_its_weight_of_assets() {
    let sc = Scoring::default();
    let h = fresh_host("srv");
    // Local: one fresh server of level 3 (ω 5) and one workstation without agent (ω 1).
    let local = sc.score_agency(
        "tinh",
        &[
            AssetRef {
                asset_id: "srv",
                role: Role::Server,
                level: 3,
                score: Some(&h),
            },
            AssetRef {
                asset_id: "pc",
                role: Role::Workstation,
                level: 1,
                score: None,
            },
        ],
        View::Full,
        &ctx(),
    );
    let hs = h.score;
    assert!(hs > 0.0 && hs < 100.0, "{hs}");
    close(local.score, 5.0 * hs / 6.0);
    // Two federated subtrees: 80 over Σω 4 (κ 0.5), 40 over Σω 10 (κ 1).
    let a = subtree("tinh/xa", 80.0, 0.5, 4.0, 4);
    let b = subtree("tinh/xb", 40.0, 1.0, 10.0, 6);
    let f = sc.fold_subtrees(&local, &[&a, &b]);
    close(f.score, (5.0 * hs + 0.0 + 4.0 * 80.0 + 10.0 * 40.0) / 20.0);
    close(f.coverage, (5.0 + 2.0 + 10.0) / 20.0);
    close(f.total_weight, 20.0);
    assert_eq!((f.hosts, f.hosts_with_agent, f.hosts_fresh), (12, 11, 11));
    // Still exact: 100 − A = Σ points, one item per subtree.
    let sum: f64 = f.breakdown.iter().map(|i| i.points).sum();
    close(sum, 100.0 - f.score);
    let xb = f
        .breakdown
        .iter()
        .find(|i| i.kind == CostKind::FederatedSubtree && i.key == "tinh/xb")
        .expect("subtree item");
    close(xb.points, 60.0 * 10.0 / 20.0);
    // Ranking follows the folded figures: 12 assets, κ 0.85.
    assert!(f.ranking.eligible, "{:?}", f.ranking);
    assert!(!local.ranking.eligible);
    // The local assets' own lines are kept; the subtree's hosts are not known here.
    assert_eq!(f.assets.len(), 2);
}

#[test]
fn an_agency_without_own_assets_takes_its_subtrees_figures() {
    let sc = Scoring::default();
    let local = sc.score_agency("vn", &[], View::Full, &ctx());
    let only = subtree("vn/tinh", 63.25, 0.75, 7.0, 5);
    let f = sc.fold_subtrees(&local, &[&only]);
    close(f.score, 63.25);
    close(f.coverage, 0.75);
    assert_eq!(f.hosts, 5);
    // The `no_assets` item is gone: the subtree's loss is the whole breakdown.
    assert_eq!(f.breakdown.len(), 1);
    assert_eq!(f.breakdown[0].kind, CostKind::FederatedSubtree);
    close(f.breakdown[0].points, 100.0 - 63.25);
    assert_eq!(
        f.ranking.reasons,
        [Ineligible::LowCoverage {
            coverage: 0.75,
            min: 0.8
        }]
    );
    // Nothing to fold, or nothing registered anywhere: the local score as it was.
    assert_eq!(sc.fold_subtrees(&local, &[]), local);
    let empty = subtree("vn/x", 0.0, 0.0, 0.0, 0);
    let f = sc.fold_subtrees(&local, &[&empty]);
    close(f.score, 0.0);
    assert_eq!(f.breakdown[0].kind, CostKind::NoAssets);
}
