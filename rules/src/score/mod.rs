//! Posture scoring of hosts and agencies (DESIGN §6), pure and exactly explainable.
//!
//! A host scores `H = S_cfg · m · f` (configuration score with a critical-failure gate, open-alert
//! factor, freshness factor); an agency scores the weighted mean of `H` over *all* its registered
//! assets, so an asset without an agent counts as 0. Nothing here reads a clock or does I/O: time
//! comes in through [`ScoreContext::now`] (ms since the Unix epoch), and every constant through a validated
//! [`ScoringConfig`].
//!
//! The main design choice is the **exact additive breakdown**. The formula is multiplicative, so
//! the loss `100 − H` is attributed in a fixed order, each stage taking its share of what the
//! previous ones left:
//!
//! 1. configuration: `100 − S_ungated`, split over the failed / partial / unverified rules (and the
//!    always-counted groups without data) in proportion to their weight in the formula;
//! 2. the critical gate: `S_ungated − S_cfg`, shared equally by the failed critical rules;
//! 3. alerts: `S_cfg · (1 − m)`, split over the open alerts in proportion to `p · τ` (so the 0.4
//!    floor scales every alert down alike);
//! 4. staleness: `S_cfg · m · (1 − f)`.
//!
//! The items telescope to `100 − S_cfg · m · f` exactly (up to float rounding). An agency's
//! breakdown is each host's items scaled by `ω_h / Σω`, plus one item per asset without an agent; a federated subtree folded in ([`Scoring::fold_subtrees`])
//! adds one item for the whole subtree.

mod config;
mod fold;
#[cfg(test)]
mod fold_tests;
mod model;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use vigil_proto::Severity;

pub use config::{
    AlertConfig, AssetWeights, ConfigError, ConfigErrors, DEFAULT_SCORING_VERSION, FreshnessConfig,
    GroupConfig, PerSeverity, RankingConfig, ScoringConfig, VerdictConfig,
};
pub use model::{
    AgencyReport, AgencyScore, AssetInput, AssetRef, AssetScore, CostItem, CostKind, GroupScore,
    HostInput, HostScore, IgnoredResult, Ineligible, OpenAlert, Outcome, Ranking, Role, RuleResult,
    ScoreContext, Verdict, View, totals_by_key,
};

const MS_PER_HOUR: f64 = 3_600_000.0;

/// A validated [`ScoringConfig`]: the only way to compute scores.
///
/// Build it with [`ScoringConfig::validate`]; `Scoring::default()` uses the DESIGN values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scoring {
    config: ScoringConfig,
}

impl Scoring {
    /// The configuration in force.
    pub fn config(&self) -> &ScoringConfig {
        &self.config
    }

    /// The configuration's version, stamped on every score as `scoring_version`.
    pub fn version(&self) -> &str {
        &self.config.version
    }

    /// Weight `ω` of an asset: workstation 1; server 3, or 5 in a system of level ≥ 3.
    pub fn asset_weight(&self, role: Role, level: u8) -> f64 {
        let a = &self.config.assets;
        match role {
            Role::Workstation => a.workstation,
            Role::Server if level >= a.high_level_from => a.server_high,
            Role::Server => a.server,
        }
    }

    /// Ageing factor `τ` of an alert `age_ms` old: 1 within the SLA, then `age / SLA`, capped at
    /// `tau_max` (3 at three times the SLA and beyond). A negative age (clock skew) gives 1.
    pub fn alert_tau(&self, severity: Severity, age_ms: i64) -> f64 {
        let a = &self.config.alerts;
        let sla_ms = a.sla_hours.get(severity) * MS_PER_HOUR;
        (age_ms as f64 / sla_ms).clamp(1.0, a.tau_max)
    }

    /// Freshness `f` of a host whose last report is `age_ms` old: 1 up to `fresh_hours`, then
    /// linear down to 0 at `stale_hours`. `None` (never reported) gives 0; a negative age gives 1.
    pub fn freshness(&self, age_ms: Option<i64>) -> f64 {
        let Some(age_ms) = age_ms else { return 0.0 };
        let fr = &self.config.freshness;
        let (fresh, stale) = (fr.fresh_hours * MS_PER_HOUR, fr.stale_hours * MS_PER_HOUR);
        let age = age_ms as f64;
        if age <= fresh {
            1.0
        } else if age >= stale {
            0.0
        } else {
            (stale - age) / (stale - fresh)
        }
    }

    /// Scores one host for one view.
    ///
    /// Results in groups the configuration does not know are left out and listed in
    /// [`HostScore::ignored`]. The gate fires on a `Fail` of a critical rule (not on `Error` or
    /// `Partial`, which already score 0 or a fraction). Results are not deduplicated: two results
    /// with one rule id score as two rules and give two breakdown items with the same key.
    pub fn score_host(&self, host: &HostInput, view: View, ctx: &ScoreContext) -> HostScore {
        let cfg = &self.config;
        let results: Vec<&RuleResult> = match view {
            View::Full => host.results.iter().collect(),
            View::Common => host.results.iter().filter(|r| r.common).collect(),
            View::Level => host
                .level_results
                .as_ref()
                .unwrap_or(&host.results)
                .iter()
                .collect(),
        };

        // Per-group sums Σ w·r and Σ w over applicable results.
        let mut groups: BTreeMap<&str, GroupAcc<'_>> = cfg
            .groups
            .keys()
            .map(|g| (g.as_str(), GroupAcc::default()))
            .collect();
        let mut ignored = Vec::new();
        let mut unverified = Vec::new();
        let mut critical_failed: Vec<&str> = Vec::new();
        for res in results {
            let Some(acc) = groups.get_mut(res.group.as_str()) else {
                ignored.push(IgnoredResult {
                    rule_id: res.rule_id.clone(),
                    group: res.group.clone(),
                });
                continue;
            };
            let Some(r) = res.outcome.value() else {
                continue;
            };
            let w = cfg.severity_weights.get(res.severity);
            acc.weight += w;
            acc.achieved += w * r;
            acc.applicable.push((res, r, w));
            if res.outcome.is_unverified() {
                acc.unverified += 1;
                unverified.push(res.rule_id.clone());
            }
            if res.severity == Severity::Critical && res.outcome == Outcome::Fail {
                critical_failed.push(&res.rule_id);
            }
        }

        let counted = |name: &str, acc: &GroupAcc<'_>| {
            acc.weight > 0.0 || cfg.groups.get(name).is_some_and(|g| g.always)
        };
        let total_w: f64 = groups
            .iter()
            .filter(|(name, acc)| counted(name, acc))
            .map(|(name, _)| cfg.groups.get(*name).map_or(0.0, |g| g.weight))
            .sum();

        let mut group_scores = Vec::with_capacity(groups.len());
        let mut breakdown = Vec::new();
        let mut weighted = 0.0;
        for (name, acc) in &groups {
            let gw = cfg.groups.get(*name).map_or(0.0, |g| g.weight);
            let is_counted = counted(name, acc);
            let g_score = if acc.weight > 0.0 {
                100.0 * acc.achieved / acc.weight
            } else {
                0.0
            };
            group_scores.push(GroupScore {
                group: (*name).to_owned(),
                weight: gw,
                counted: is_counted,
                score: g_score,
                applicable: acc.applicable.len(),
                unverified: acc.unverified,
            });
            // A validated config has an always-counted group of positive weight, so total_w > 0.
            if !is_counted || total_w <= 0.0 {
                continue;
            }
            weighted += gw * g_score;
            let share = 100.0 * gw / total_w;
            if acc.weight <= 0.0 {
                breakdown.push(CostItem {
                    kind: CostKind::GroupNoData,
                    key: (*name).to_owned(),
                    asset: None,
                    label: format!("group {name}: no applicable result (counts as 0)"),
                    points: share,
                });
                continue;
            }
            for &(res, r, w) in &acc.applicable {
                if r >= 1.0 {
                    continue;
                }
                let points = share * w * (1.0 - r) / acc.weight;
                let (kind, what) = match res.outcome {
                    Outcome::Fail => (CostKind::RuleFailed, "failed".to_owned()),
                    Outcome::Partial(_) => {
                        (CostKind::RulePartial, format!("met {:.0}%", 100.0 * r))
                    }
                    Outcome::Unknown => (CostKind::RuleUnverified, "no result".to_owned()),
                    _ => (CostKind::RuleUnverified, "could not be checked".to_owned()),
                };
                breakdown.push(CostItem {
                    kind,
                    key: res.rule_id.clone(),
                    asset: None,
                    label: format!("{} ({name}, {}): {what}", res.rule_id, res.severity),
                    points,
                });
            }
        }
        let s_ungated = if total_w > 0.0 {
            weighted / total_w
        } else {
            0.0
        };

        // Critical gate.
        let mut s_cfg = s_ungated;
        if !critical_failed.is_empty() && s_ungated > cfg.critical_cap {
            s_cfg = cfg.critical_cap;
            let each = (s_ungated - s_cfg) / critical_failed.len() as f64;
            for id in &critical_failed {
                breakdown.push(CostItem {
                    kind: CostKind::CriticalGate,
                    key: (*id).to_owned(),
                    asset: None,
                    label: format!(
                        "critical rule {id} failed: configuration score capped at {}",
                        cfg.critical_cap
                    ),
                    points: each,
                });
            }
        }

        // Open alerts.
        let pressures: Vec<(&OpenAlert, f64, f64)> = host
            .alerts
            .iter()
            .map(|a| {
                let tau = self.alert_tau(a.severity, ctx.now.saturating_sub(a.opened_at));
                (a, tau, cfg.alerts.penalty.get(a.severity) * tau)
            })
            .collect();
        let pressure: f64 = pressures.iter().map(|p| p.2).sum();
        let m = (1.0 - pressure).max(cfg.alerts.floor);
        let alert_cost = s_cfg * (1.0 - m);
        if pressure > 0.0 {
            for &(a, tau, x) in &pressures {
                let points = alert_cost * x / pressure;
                if points > 0.0 {
                    breakdown.push(CostItem {
                        kind: CostKind::Alert,
                        key: a.id.clone(),
                        asset: None,
                        label: format!("open {} alert {} (τ = {tau:.2})", a.severity, a.id),
                        points,
                    });
                }
            }
        }

        // Freshness.
        let age = host.last_report_at.map(|t| ctx.now.saturating_sub(t));
        let f = self.freshness(age);
        let fresh_ms = cfg.freshness.fresh_hours * MS_PER_HOUR;
        let fresh = age.is_some_and(|a| a as f64 <= fresh_ms);
        let stale_cost = s_cfg * m * (1.0 - f);
        if stale_cost > 0.0 {
            let (kind, label) = match age {
                None => (CostKind::NeverReported, "never reported".to_owned()),
                Some(a) => (
                    CostKind::Stale,
                    format!(
                        "last report {:.1} h ago (f = {f:.3})",
                        a as f64 / MS_PER_HOUR
                    ),
                ),
            };
            breakdown.push(CostItem {
                kind,
                key: host.host_id.clone(),
                asset: None,
                label,
                points: stale_cost,
            });
        }

        let score = s_cfg * m * f;
        let gated = !critical_failed.is_empty();
        let verdict = if gated || score < cfg.verdict.pass {
            Verdict::Fail
        } else if score >= cfg.verdict.good {
            Verdict::Good
        } else {
            Verdict::Pass
        };
        HostScore {
            host_id: host.host_id.clone(),
            view,
            score,
            verdict,
            config_score: s_cfg,
            config_score_ungated: s_ungated,
            critical_failed: gated,
            alert_factor: m,
            freshness: f,
            fresh,
            groups: group_scores,
            unverified,
            ignored,
            breakdown,
            rule_pack_version: ctx.rule_pack_version.clone(),
            scoring_version: self.config.version.clone(),
            computed_at: ctx.now,
        }
    }

    /// Scores one agency from its registered assets and their host scores (all computed with the
    /// same context and `view`).
    ///
    /// An asset without an agent has `H = 0`; one counts as covered only if its host is fresh.
    /// An agency without assets scores 0 with a single `no_assets` item.
    pub fn score_agency(
        &self,
        agency_id: &str,
        assets: &[AssetRef<'_>],
        view: View,
        ctx: &ScoreContext,
    ) -> AgencyScore {
        self.agency_score(agency_id, assets, view, ctx, true)
    }

    /// Like [`score_agency`](Self::score_agency), but the breakdown sums each `(kind, key)`
    /// over all assets (largest first, `asset` unset) instead of listing every asset's items:
    /// "which rule costs this agency most", in a size that does not grow with the number of
    /// hosts. It is just as exact: `100 − A = Σ points`.
    pub fn score_agency_totals(
        &self,
        agency_id: &str,
        assets: &[AssetRef<'_>],
        view: View,
        ctx: &ScoreContext,
    ) -> AgencyScore {
        self.agency_score(agency_id, assets, view, ctx, false)
    }

    fn agency_score(
        &self,
        agency_id: &str,
        assets: &[AssetRef<'_>],
        view: View,
        ctx: &ScoreContext,
        per_asset: bool,
    ) -> AgencyScore {
        use std::collections::hash_map::{Entry, HashMap};
        // Totals mode: where each (kind, key) sits in `breakdown`.
        let mut totals: HashMap<(CostKind, &str), usize> = HashMap::new();
        let weights: Vec<f64> = assets
            .iter()
            .map(|a| self.asset_weight(a.role, a.level))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut weighted = 0.0;
        let mut fresh_w = 0.0;
        let mut lines = Vec::with_capacity(assets.len());
        let mut breakdown = Vec::new();
        for (a, &w) in assets.iter().zip(&weights) {
            let h = a.score.map_or(0.0, |s| s.score);
            let fresh = a.score.is_some_and(|s| s.fresh);
            weighted += w * h;
            if fresh {
                fresh_w += w;
            }
            lines.push(AssetScore {
                asset_id: a.asset_id.to_owned(),
                role: a.role,
                level: a.level,
                weight: w,
                has_agent: a.score.is_some(),
                fresh,
                score: h,
            });
            let scale = if total > 0.0 { w / total } else { 0.0 };
            match a.score {
                None => breakdown.push(CostItem {
                    kind: CostKind::MissingAgent,
                    key: a.asset_id.to_owned(),
                    asset: Some(a.asset_id.to_owned()),
                    label: format!("asset {} has no agent (scores 0)", a.asset_id),
                    points: 100.0 * scale,
                }),
                Some(s) if per_asset => breakdown.extend(s.breakdown.iter().map(|it| CostItem {
                    asset: Some(a.asset_id.to_owned()),
                    points: it.points * scale,
                    ..it.clone()
                })),
                Some(s) => {
                    for it in &s.breakdown {
                        match totals.entry((it.kind, it.key.as_str())) {
                            Entry::Occupied(at) => breakdown[*at.get()].points += it.points * scale,
                            Entry::Vacant(at) => {
                                at.insert(breakdown.len());
                                breakdown.push(CostItem {
                                    asset: None,
                                    points: it.points * scale,
                                    ..it.clone()
                                });
                            }
                        }
                    }
                }
            }
        }
        if !per_asset {
            for it in &mut breakdown {
                it.asset = None;
            }
            breakdown.sort_by(|a, b| {
                b.points
                    .total_cmp(&a.points)
                    .then_with(|| (a.kind, &a.key).cmp(&(b.kind, &b.key)))
            });
        }
        let (score, coverage) = if total > 0.0 {
            (weighted / total, fresh_w / total)
        } else {
            breakdown.push(CostItem {
                kind: CostKind::NoAssets,
                key: agency_id.to_owned(),
                asset: None,
                label: format!("agency {agency_id} has no registered asset"),
                points: 100.0,
            });
            (0.0, 0.0)
        };
        breakdown.retain(|it| it.points > 0.0);

        AgencyScore {
            agency_id: agency_id.to_owned(),
            view,
            score,
            coverage,
            hosts: assets.len(),
            hosts_with_agent: lines.iter().filter(|l| l.has_agent).count(),
            hosts_fresh: lines.iter().filter(|l| l.fresh).count(),
            total_weight: total,
            ranking: self.ranking(assets.len(), coverage),
            assets: lines,
            breakdown,
            rule_pack_version: ctx.rule_pack_version.clone(),
            scoring_version: self.config.version.clone(),
            computed_at: ctx.now,
        }
    }

    /// Scores every host of an agency and the agency itself in the three views (`A`, `A_common`,
    /// `A_level`).
    pub fn agency_report(
        &self,
        agency_id: &str,
        assets: &[AssetInput],
        ctx: &ScoreContext,
    ) -> AgencyReport {
        let per_view = |view: View| -> Vec<Option<HostScore>> {
            assets
                .iter()
                .map(|a| a.host.as_ref().map(|h| self.score_host(h, view, ctx)))
                .collect()
        };
        let agency = |view: View, scores: &[Option<HostScore>]| {
            let refs: Vec<AssetRef<'_>> = assets
                .iter()
                .zip(scores)
                .map(|(a, s)| AssetRef {
                    asset_id: &a.asset_id,
                    role: a.role,
                    level: a.level,
                    score: s.as_ref(),
                })
                .collect();
            self.score_agency(agency_id, &refs, view, ctx)
        };
        let full_hosts = per_view(View::Full);
        let full = agency(View::Full, &full_hosts);
        let common = agency(View::Common, &per_view(View::Common));
        let level = agency(View::Level, &per_view(View::Level));
        AgencyReport {
            full,
            common,
            level,
            hosts: full_hosts.into_iter().flatten().collect(),
        }
    }
}

/// Running sums of one group of a host.
#[derive(Default)]
struct GroupAcc<'a> {
    /// Σ w over applicable results.
    weight: f64,
    /// Σ w·r.
    achieved: f64,
    /// Applicable results with their r and w, in input order.
    applicable: Vec<(&'a RuleResult, f64, f64)>,
    unverified: usize,
}

/// Scores one host from its latest check results, last reported at `last_report_ms`, as of
/// `now_ms`, with no alerts: the score `vigil-agent check` prints (reported now) and the collector
/// shows until alerts exist. The rule-pack version is taken from the results (`pack` field),
/// sorted and joined when there are several.
pub fn score_check_results(
    host_id: &str,
    results: &[vigil_proto::CheckResult],
    last_report_ms: Option<i64>,
    now_ms: i64,
) -> HostScore {
    let mut packs: Vec<&str> = results.iter().map(|r| r.pack.as_str()).collect();
    packs.sort_unstable();
    packs.dedup();
    let host = HostInput {
        host_id: host_id.to_string(),
        results: results
            .iter()
            .map(|c| RuleResult::from_check(c, false))
            .collect(),
        level_results: None,
        alerts: Vec::new(),
        last_report_at: last_report_ms,
    };
    let ctx = ScoreContext {
        now: now_ms,
        rule_pack_version: packs.join(","),
    };
    Scoring::default().score_host(&host, View::Full, &ctx)
}
