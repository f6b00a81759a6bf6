//! Folding federated subtrees into an agency's score (issue 19): an upstream collector knows a
//! downstream's subtree only by its summary (`A`, `κ`, `Σ ω`, host counts), never its hosts.
//!
//! `A = Σ ω_h H_h / Σ ω_h` over all assets of the subtree, so a subtree whose assets weigh
//! `Σ ω_s` and score `A_s` contributes exactly `Σ ω_s · A_s` to the numerator and `Σ ω_s` to the
//! denominator, as its hosts would if they were local; coverage folds the same way with
//! `κ_s · Σ ω_s`. The breakdown stays exact: the local items are rescaled by
//! `Σ ω_local / Σ ω`, and each subtree adds one `federated_subtree` item worth
//! `(100 − A_s) · Σ ω_s / Σ ω`.

use super::{AgencyScore, CostItem, CostKind, Ineligible, Ranking, Scoring};

impl Scoring {
    /// `local` (scored over the agency's own registered assets) with the federated `subtrees`
    /// below it folded in. Subtrees must be disjoint (none below another) and of the same view.
    pub fn fold_subtrees(&self, local: &AgencyScore, subtrees: &[&AgencyScore]) -> AgencyScore {
        if subtrees.is_empty() {
            return local.clone();
        }
        let lw = local.total_weight;
        let total: f64 = lw + subtrees.iter().map(|s| s.total_weight).sum::<f64>();
        let weighted: f64 = local.score * lw
            + subtrees
                .iter()
                .map(|s| s.score * s.total_weight)
                .sum::<f64>();
        let fresh_w: f64 = local.coverage * lw
            + subtrees
                .iter()
                .map(|s| s.coverage * s.total_weight)
                .sum::<f64>();
        let mut out = local.clone();
        out.hosts += subtrees.iter().map(|s| s.hosts).sum::<usize>();
        out.hosts_with_agent += subtrees.iter().map(|s| s.hosts_with_agent).sum::<usize>();
        out.hosts_fresh += subtrees.iter().map(|s| s.hosts_fresh).sum::<usize>();
        out.total_weight = total;
        if total <= 0.0 {
            // Nothing registered anywhere below: the local `no_assets` item stands.
            return out;
        }
        out.score = weighted / total;
        out.coverage = fresh_w / total;
        let scale = lw / total;
        let mut breakdown: Vec<CostItem> = local
            .breakdown
            .iter()
            .filter(|it| it.kind != CostKind::NoAssets)
            .map(|it| CostItem {
                points: it.points * scale,
                ..it.clone()
            })
            .collect();
        breakdown.extend(subtrees.iter().map(|s| CostItem {
            kind: CostKind::FederatedSubtree,
            key: s.agency_id.clone(),
            asset: None,
            label: format!(
                "federated subtree {} scores {:.1} (weight {})",
                s.agency_id, s.score, s.total_weight
            ),
            points: (100.0 - s.score) * s.total_weight / total,
        }));
        breakdown.retain(|it| it.points > 0.0);
        breakdown.sort_by(|a, b| {
            b.points
                .total_cmp(&a.points)
                .then_with(|| (a.kind, &a.key).cmp(&(b.kind, &b.key)))
        });
        // Per-asset lines stay those of the local assets: a subtree's hosts are not known here.
        out.breakdown = breakdown;
        out.ranking = self.ranking(out.hosts, out.coverage);
        out
    }

    /// Ranking eligibility of an agency with `hosts` registered assets and coverage `coverage`.
    pub(super) fn ranking(&self, hosts: usize, coverage: f64) -> Ranking {
        let rk = &self.config.ranking;
        let mut reasons = Vec::new();
        if hosts < rk.min_hosts as usize {
            reasons.push(Ineligible::TooFewHosts {
                hosts,
                min: rk.min_hosts,
            });
        }
        if coverage < rk.min_coverage {
            reasons.push(Ineligible::LowCoverage {
                coverage,
                min: rk.min_coverage,
            });
        }
        Ranking {
            eligible: reasons.is_empty(),
            reasons,
        }
    }
}
