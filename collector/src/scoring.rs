//! Scores of every host and agency, computed from what the store holds (DESIGN §6).
//!
//! [`Inputs::load`] reads everything scoring needs in a handful of queries; [`compute`] is pure
//! (time is an argument) and turns it into host scores and, for every node of the organisation
//! tree, the agency scores `A`, `A_common` and `A_level` over all registered assets of its
//! subtree. [`history_points`] decides which scores are worth a new point in the time series.
//!
//! How the collector fills the scorer's inputs:
//! - **Assets** of an agency are its registered assets (`assets import`) plus every live agent
//!   of the agency that matches none of them; an agent matches an asset of its own agency with
//!   the same host name (case-insensitive, short name or FQDN). Role comes from the asset when
//!   there is one, else from the agent; the security level from `host set --level`, else the
//!   asset, else the agency's required level.
//! - **Common baseline** (`A_common`): rules the collector's rule catalogue knows to apply at
//!   every level (no `min_level` above 1), so every agency is compared on the same controls.
//! - **Required level** (`A_level`): rules that apply at the agency's level. A rule the host
//!   skipped because its own level is lower counts as unverified; one that only applies above
//!   the agency's level is left out.
//! - **Alerts**: open and acknowledged alerts of the host (`m(h)`, with SLA ageing).
//! - **Freshness**: the agent's last contact.
//! - **Federated subtrees** (issue 19): a downstream collector's agencies are shown with the
//!   downstream's own figures, and folded into the local agencies above them by their weight.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use vigil_proto::Status;
use vigil_rules::score::{
    AgencyScore, AssetRef, HostInput, HostScore, OpenAlert, Outcome, Role, RuleResult,
    ScoreContext, Scoring, View,
};

use crate::store::{Agency, AgentRecord, Alert, Asset, CheckState, Result, ScorePoint, Store};

pub use crate::catalog::RuleCatalog;
use crate::federation::summary::{FedMark, Grafted, graft, regraft};

/// Everything scoring reads from the store.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The organisation tree.
    pub agencies: Vec<Agency>,
    /// Live agents.
    pub agents: Vec<AgentRecord>,
    /// Registered assets.
    pub assets: Vec<Asset>,
    /// Latest check results per agent id.
    pub checks: HashMap<String, Vec<CheckState>>,
    /// Open and acknowledged alerts.
    pub alerts: Vec<Alert>,
    /// The newest summary of every live downstream collector (issue 19).
    pub federated: Vec<crate::store::fed::LatestSummary>,
    /// Per host, since when (Unix seconds) it has run a package with a critical advisory whose
    /// fix is known (issue 23; the patching group's [`crate::catalog::VULN_RULE`]).
    pub critical_fixable_since: HashMap<String, i64>,
}

impl Inputs {
    /// Reads the inputs.
    ///
    /// # Errors
    /// Store errors.
    pub fn load(store: &dyn Store) -> Result<Self> {
        // The check states are most of the data; the other reads overlap with them.
        std::thread::scope(|s| {
            let checks = s.spawn(|| store.check_states());
            let mut agents = store.agents_brief()?;
            agents.retain(|a| !a.revoked);
            let mut alerts = store.alerts(None)?;
            alerts.retain(|a| a.state.is_active());
            let agencies = store.agencies()?;
            let assets = store.assets()?;
            let federated = store.federation().fed_latest()?;
            let critical_fixable_since = store
                .vulns()
                .vuln_critical_fixable_since()?
                .into_iter()
                .collect();
            let checks = checks.join().map_err(|_| {
                crate::store::StoreError::Db("reading check states panicked".into())
            })??;
            // Results of central packs a host no longer runs do not count (policy/running.rs).
            let mut running = crate::policy::running::Running::load(store)?;
            let agency_of: HashMap<&str, &str> = agents
                .iter()
                .map(|a| (a.id.as_str(), a.agency.as_str()))
                .collect();
            let mut checks: HashMap<String, Vec<CheckState>> = checks.into_iter().collect();
            for (id, states) in &mut checks {
                if let Some(agency) = agency_of.get(id.as_str()) {
                    running.retain(id, agency, states);
                }
            }
            Ok(Self {
                agencies,
                agents,
                assets,
                checks,
                alerts,
                federated,
                critical_fixable_since,
            })
        })
    }
}

impl Inputs {
    /// What the store's inputs were at `t_ms`, as far as they tell: results observed after `t`
    /// are left out, so are agents with no result observed by then (they had not reported yet),
    /// and alerts opened after `t`. With [`compute`] at `t`, this reconstructs the score of a
    /// past instant from results delivered with their observation times (the province demo's
    /// history). Results that were later replaced are gone from the store, so this is exact
    /// only when the store was filled in time order, as the demo does day by day.
    pub fn as_of(mut self, t_ms: i64) -> Self {
        for states in self.checks.values_mut() {
            states.retain(|c| c.5 <= t_ms);
        }
        self.checks.retain(|_, states| !states.is_empty());
        self.agents.retain(|a| self.checks.contains_key(&a.id));
        self.alerts
            .retain(|a| a.opened_at.saturating_mul(1000) <= t_ms);
        self.critical_fixable_since
            .retain(|_, since| since.saturating_mul(1000) <= t_ms);
        self
    }
}

/// The three scores of one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostScores {
    /// Agent id.
    pub id: String,
    /// Agency path.
    pub agency: String,
    /// Host name.
    pub hostname: String,
    /// Role used for the weight.
    pub role: Role,
    /// Security level used for the weight and `A_level`.
    pub level: u8,
    /// `H` over the host's own results, with its breakdown.
    pub full: HostScore,
    /// Over the common baseline.
    pub common: HostScore,
    /// At the agency's required level.
    pub level_view: HostScore,
    /// True when the agent has reported check results (until then its score means little).
    pub reported: bool,
    /// A simulated host of `demo --province`, not a real machine.
    pub simulated: bool,
}

/// Scores of one node of the organisation tree, over all assets of its subtree.
#[derive(Debug, Clone, Serialize)]
pub struct AgencyScores {
    /// Path.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Required security level.
    pub level: u8,
    /// `A`.
    pub full: AgencyScore,
    /// `A_common`.
    pub common: AgencyScore,
    /// `A_level`.
    pub level_view: AgencyScore,
    /// Hosts whose verdict is "Không đạt".
    pub hosts_failing: usize,
    /// Open or acknowledged alerts per severity.
    pub open_alerts: BTreeMap<String, usize>,
    /// Set when the agency is a downstream collector's, grafted from its latest summary: where
    /// it came from and how fresh it is. Its scores are the downstream's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated: Option<Box<FedMark>>,
}

/// Scores of the whole organisation at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// When they were computed for, ms since the epoch.
    pub computed_at: i64,
    /// Rule packs behind the results: the known `id@version`s, sorted and comma-separated, then
    /// a count of packs the collector does not know (`RuleCatalog::packs_label`).
    pub rule_pack_version: String,
    /// Scoring configuration version.
    pub scoring_version: String,
    /// Every agency, by path.
    pub agencies: Vec<AgencyScores>,
    /// Every host with an agent, by agency then host name.
    pub hosts: Vec<HostScores>,
}

/// One asset of an agency as scored.
struct Slot {
    asset_id: String,
    agency: String,
    role: Role,
    level: u8,
    /// Index into the host scores, for assets with an agent.
    host: Option<usize>,
}

fn role(s: &str) -> Role {
    if s.eq_ignore_ascii_case("server") {
        Role::Server
    } else {
        Role::Workstation
    }
}

fn short_name(h: &str) -> String {
    h.split('.').next().unwrap_or(h).to_ascii_lowercase()
}

fn outcome(s: Status) -> Outcome {
    s.into()
}

/// The host's results with the collector's own patching rule ([`crate::catalog::VULN_RULE`]):
/// failed when a critical advisory with a known fix has matched the host for longer than the
/// patch window, and absent otherwise (never a pass: a host without matches may simply run an
/// OS no imported advisory covers). A result an agent sent under that id is dropped: only the
/// collector decides it.
fn with_vuln_rule(
    states: &[CheckState],
    critical_since_s: Option<i64>,
    now_ms: i64,
) -> std::borrow::Cow<'_, [CheckState]> {
    use crate::catalog::{VULN_PACK, VULN_PATCH_WINDOW_DAYS, VULN_RULE};
    let window_ms = VULN_PATCH_WINDOW_DAYS * 86_400_000;
    let overdue_since = critical_since_s
        .map(|s| s.saturating_mul(1000).saturating_add(window_ms))
        .filter(|due| *due <= now_ms);
    let claimed = states.iter().any(|c| c.1 == VULN_RULE);
    if overdue_since.is_none() && !claimed {
        return std::borrow::Cow::Borrowed(states);
    }
    let mut own: Vec<CheckState> = states
        .iter()
        .filter(|c| c.1 != VULN_RULE)
        .cloned()
        .collect();
    if let Some(due) = overdue_since {
        own.push(CheckState(
            VULN_PACK.to_owned(),
            VULN_RULE.to_owned(),
            "patching".to_owned(),
            vigil_proto::Severity::High,
            vigil_proto::Status::Fail,
            due,
        ));
    }
    std::borrow::Cow::Owned(own)
}

/// True when `id` is `root` or below it.
pub fn in_subtree(id: &str, root: &str) -> bool {
    id == root || (id.starts_with(root) && id.as_bytes().get(root.len()) == Some(&b'/'))
}

/// Computes every score as of `now_ms`.
pub fn compute(inputs: &Inputs, scoring: &Scoring, catalog: &RuleCatalog, now_ms: i64) -> Scores {
    let agency_level: HashMap<&str, u8> = inputs
        .agencies
        .iter()
        .map(|a| (a.id.as_str(), a.level))
        .collect();
    let mut alerts: HashMap<&str, Vec<OpenAlert>> = HashMap::new();
    let mut alert_counts: HashMap<&str, BTreeMap<String, usize>> = HashMap::new();
    let agent_agency: HashMap<&str, &str> = inputs
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a.agency.as_str()))
        .collect();
    for a in &inputs.alerts {
        alerts.entry(&a.agent_id).or_default().push(OpenAlert {
            id: a.id.to_string(),
            severity: a.severity,
            opened_at: a.opened_at.saturating_mul(1000),
        });
        if let Some(ag) = agent_agency.get(a.agent_id.as_str()) {
            *alert_counts
                .entry(ag)
                .or_default()
                .entry(a.severity.as_str().to_owned())
                .or_default() += 1;
        }
    }
    // Pack names are agent text: only the catalogue's label of them is shown (catalog.rs).
    let mut all_packs: BTreeSet<&str> = BTreeSet::new();

    // Match agents to registered assets of their agency.
    let mut by_name: HashMap<(&str, String), usize> = HashMap::new();
    for (i, a) in inputs.assets.iter().enumerate() {
        by_name.insert((a.agency.as_str(), short_name(&a.hostname)), i);
    }
    let mut asset_host: Vec<Option<usize>> = vec![None; inputs.assets.len()];
    let mut slots: Vec<Slot> = Vec::with_capacity(inputs.assets.len() + inputs.agents.len());
    // Who each agent is (sequential: matching consumes assets), then its scores (in parallel).
    let mut profiles = Vec::with_capacity(inputs.agents.len());
    for (idx, ag) in inputs.agents.iter().enumerate() {
        let matched = by_name
            .get(&(ag.agency.as_str(), short_name(&ag.hostname)))
            .copied()
            .filter(|&i| asset_host[i].is_none());
        let asset = matched.map(|i| &inputs.assets[i]);
        let required = agency_level.get(ag.agency.as_str()).copied().unwrap_or(1);
        let level = ag.level.or(asset.map(|a| a.level)).unwrap_or(required);
        let r = asset.map_or_else(|| role(&ag.role), |a| role(&a.role));
        let states = inputs.checks.get(&ag.id).map_or(&[][..], Vec::as_slice);
        all_packs.extend(states.iter().map(|c| c.0.as_str()));
        let states = with_vuln_rule(
            states,
            inputs.critical_fixable_since.get(&ag.id).copied(),
            now_ms,
        );
        match matched {
            Some(i) => asset_host[i] = Some(idx),
            None => slots.push(Slot {
                asset_id: ag.id.clone(),
                agency: ag.agency.clone(),
                role: r,
                level,
                host: Some(idx),
            }),
        }
        profiles.push((
            ag,
            states,
            required,
            level,
            r,
            alerts.remove(ag.id.as_str()),
        ));
    }
    let hosts: Vec<HostScores> = par_map(&profiles, |(ag, states, required, level, r, alerts)| {
        score_one(
            scoring,
            catalog,
            now_ms,
            ag,
            states,
            *required,
            *level,
            *r,
            alerts.clone(),
        )
    });
    for (a, host) in inputs.assets.iter().zip(asset_host) {
        slots.push(Slot {
            asset_id: host.map_or_else(
                || format!("{}/{}", a.agency, a.hostname),
                |h| hosts[h].id.clone(),
            ),
            agency: a.agency.clone(),
            role: role(&a.role),
            level: host.map_or(a.level, |h| hosts[h].level),
            host,
        });
    }
    slots.sort_by(|a, b| a.agency.cmp(&b.agency).then(a.asset_id.cmp(&b.asset_id)));

    let agencies = par_map(&inputs.agencies, |ag| {
        // Slots are sorted by agency path, and a subtree's paths sort together after it.
        let start = slots.partition_point(|s| s.agency.as_str() < ag.id.as_str());
        let sub: Vec<&Slot> = slots[start..]
            .iter()
            .take_while(|s| in_subtree(&s.agency, &ag.id))
            .collect();
        // The packs of this subtree's own hosts, as the catalogue names them.
        let packs: BTreeSet<&str> = sub
            .iter()
            .filter_map(|s| s.host)
            .flat_map(|h| profiles[h].1.iter().map(|c| c.0.as_str()))
            .collect();
        let ctx = ScoreContext {
            now: now_ms,
            rule_pack_version: catalog.packs_label(packs),
        };
        let view = |pick: fn(&HostScores) -> &HostScore, v: View| {
            let refs: Vec<AssetRef<'_>> = sub
                .iter()
                .map(|s| AssetRef {
                    asset_id: &s.asset_id,
                    role: s.role,
                    level: s.level,
                    score: s.host.map(|h| pick(&hosts[h])),
                })
                .collect();
            scoring.score_agency_totals(&ag.id, &refs, v, &ctx)
        };
        let mut open_alerts = BTreeMap::new();
        for (a, counts) in &alert_counts {
            if in_subtree(a, &ag.id) {
                for (sev, n) in counts {
                    *open_alerts.entry(sev.clone()).or_default() += n;
                }
            }
        }
        AgencyScores {
            id: ag.id.clone(),
            name: ag.name.clone(),
            level: ag.level,
            full: view(|h| &h.full, View::Full),
            common: view(|h| &h.common, View::Common),
            level_view: view(|h| &h.level_view, View::Level),
            hosts_failing: sub
                .iter()
                .filter_map(|s| s.host)
                .filter(|&h| hosts[h].full.verdict == vigil_rules::score::Verdict::Fail)
                .count(),
            open_alerts,
            federated: None,
        }
    });
    let local: Vec<&str> = inputs.agencies.iter().map(|a| a.id.as_str()).collect();
    let grafted: Vec<AgencyScores> = graft(&inputs.federated, &local, now_ms)
        .into_iter()
        .map(federated)
        .collect();
    let mut agencies = fold_federated(scoring, agencies, &grafted);
    agencies.extend(grafted);
    agencies.sort_by(|a, b| a.id.cmp(&b.id));
    Scores {
        computed_at: now_ms,
        rule_pack_version: catalog.packs_label(all_packs),
        scoring_version: scoring.version().to_owned(),
        agencies,
        hosts,
    }
}

/// The federated agencies that are the top of a downstream's subtree here: those whose parent
/// is not itself federated. Each one's figures already hold everything below it.
pub fn federated_roots(agencies: &[AgencyScores]) -> Vec<&AgencyScores> {
    let fed: std::collections::HashSet<&str> = agencies
        .iter()
        .filter(|a| a.federated.is_some())
        .map(|a| a.id.as_str())
        .collect();
    agencies
        .iter()
        .filter(|a| a.federated.is_some())
        .filter(|a| {
            a.id.rsplit_once('/')
                .is_none_or(|(parent, _)| !fed.contains(parent))
        })
        .collect()
}

/// Every local agency with the federated subtrees below it folded into its figures (DESIGN §6:
/// `A` is over all assets of the subtree, wherever they are scored): scores, coverage and
/// ranking by the subtrees' weights ([`Scoring::fold_subtrees`]), failing hosts and open alerts
/// by their counts.
fn fold_federated(
    scoring: &Scoring,
    local: Vec<AgencyScores>,
    grafted: &[AgencyScores],
) -> Vec<AgencyScores> {
    let roots = federated_roots(grafted);
    if roots.is_empty() {
        return local;
    }
    local
        .into_iter()
        .map(|mut ag| {
            let below: Vec<&AgencyScores> = roots
                .iter()
                .copied()
                .filter(|r| r.id != ag.id && in_subtree(&r.id, &ag.id))
                .collect();
            if below.is_empty() {
                return ag;
            }
            let fold = |own: &AgencyScore, pick: fn(&AgencyScores) -> &AgencyScore| {
                let subs: Vec<&AgencyScore> = below.iter().map(|r| pick(r)).collect();
                scoring.fold_subtrees(own, &subs)
            };
            ag.full = fold(&ag.full, |a| &a.full);
            ag.common = fold(&ag.common, |a| &a.common);
            ag.level_view = fold(&ag.level_view, |a| &a.level_view);
            for r in below {
                ag.hosts_failing += r.hosts_failing;
                for (sev, n) in &r.open_alerts {
                    *ag.open_alerts.entry(sev.clone()).or_default() += n;
                }
            }
            ag
        })
        .collect()
}

/// A downstream's agency as this collector shows it: the downstream's figures under the grafted
/// path, marked federated.
fn federated(g: Grafted) -> AgencyScores {
    let s = g.summary;
    AgencyScores {
        full: regraft(&s.a, &g.id),
        common: regraft(&s.a_common, &g.id),
        level_view: regraft(&s.a_level, &g.id),
        id: g.id,
        name: s.name,
        level: s.level,
        hosts_failing: s.hosts_failing,
        open_alerts: s
            .open_alerts
            .iter()
            .map(|(k, v)| (k.clone(), v.count))
            .collect(),
        federated: Some(Box::new(g.mark)),
    }
}

/// Maps `items` on all cores, keeping their order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if threads < 2 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| match p.join() {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    })
}

/// The three scores of one host.
#[allow(clippy::too_many_arguments)]
fn score_one(
    scoring: &Scoring,
    catalog: &RuleCatalog,
    now_ms: i64,
    ag: &AgentRecord,
    states: &[CheckState],
    required: u8,
    level: u8,
    role: Role,
    alerts: Option<Vec<OpenAlert>>,
) -> HostScores {
    let ctx = ScoreContext {
        now: now_ms,
        rule_pack_version: catalog.packs_label(states.iter().map(|c| c.0.as_str())),
    };
    let results: Vec<RuleResult> = states
        .iter()
        .map(|c| RuleResult {
            rule_id: c.1.clone(),
            group: c.2.clone(),
            severity: c.3,
            outcome: outcome(c.4),
            common: catalog.is_common(&c.1),
        })
        .collect();
    let level_results = (level != required).then(|| {
        results
            .iter()
            .filter_map(|r| {
                let Some(min) = catalog.min_level(&r.rule_id) else {
                    return Some(r.clone());
                };
                if min > required {
                    None
                } else if min > level && r.outcome == Outcome::NotApplicable {
                    Some(RuleResult {
                        outcome: Outcome::Unknown,
                        ..r.clone()
                    })
                } else {
                    Some(r.clone())
                }
            })
            .collect()
    });
    let input = HostInput {
        host_id: ag.id.clone(),
        results,
        level_results,
        alerts: alerts.unwrap_or_default(),
        last_report_at: (ag.last_seen > 0).then(|| ag.last_seen.saturating_mul(1000)),
    };
    HostScores {
        id: ag.id.clone(),
        agency: ag.agency.clone(),
        hostname: ag.hostname.clone(),
        role,
        level,
        full: scoring.score_host(&input, View::Full, &ctx),
        common: scoring.score_host(&input, View::Common, &ctx),
        level_view: scoring.score_host(&input, View::Level, &ctx),
        reported: !states.is_empty(),
        simulated: ag.simulated,
    }
}

/// A new history point is written when a score moves by more than this many points.
const HISTORY_EPSILON: f64 = 0.05;
/// ... or when the series' latest point is older than this (a point at least daily).
const HISTORY_MAX_GAP_MS: i64 = 24 * 3_600_000;

/// The points of `scores` worth recording given the latest stored ones: every series whose
/// score or coverage moved, whose rule-pack or scoring version changed, or whose last point is
/// a day old.
pub fn history_points(scores: &Scores, latest: &[ScorePoint]) -> Vec<ScorePoint> {
    let last: HashMap<(&str, &str, &str), &ScorePoint> = latest
        .iter()
        .map(|p| ((p.scope.as_str(), p.id.as_str(), p.view.as_str()), p))
        .collect();
    let mut out = Vec::new();
    let mut push = |scope: &str, id: &str, view: &str, s: &HostScoreLike<'_>| {
        let p = ScorePoint {
            scope: scope.into(),
            id: id.into(),
            view: view.into(),
            score: s.score,
            coverage: s.coverage,
            rule_pack_version: s.rule_pack_version.into(),
            scoring_version: s.scoring_version.into(),
            computed_at: scores.computed_at,
        };
        let changed = last.get(&(scope, id, view)).is_none_or(|l| {
            (l.score - p.score).abs() > HISTORY_EPSILON
                || match (l.coverage, p.coverage) {
                    (Some(a), Some(b)) => (a - b).abs() > 1e-3,
                    (a, b) => a.is_some() != b.is_some(),
                }
                || l.rule_pack_version != p.rule_pack_version
                || l.scoring_version != p.scoring_version
                || p.computed_at - l.computed_at >= HISTORY_MAX_GAP_MS
        });
        if changed {
            out.push(p);
        }
    };
    for h in &scores.hosts {
        for (v, s) in [
            ("full", &h.full),
            ("common", &h.common),
            ("level", &h.level_view),
        ] {
            push("host", &h.id, v, &HostScoreLike::host(s));
        }
    }
    for a in &scores.agencies {
        for (v, s) in [
            ("full", &a.full),
            ("common", &a.common),
            ("level", &a.level_view),
        ] {
            push("agency", &a.id, v, &HostScoreLike::agency(s));
        }
    }
    out
}

/// The fields a history point takes from a host or agency score.
struct HostScoreLike<'a> {
    score: f64,
    coverage: Option<f64>,
    rule_pack_version: &'a str,
    scoring_version: &'a str,
}

impl<'a> HostScoreLike<'a> {
    fn host(s: &'a HostScore) -> Self {
        Self {
            score: s.score,
            coverage: None,
            rule_pack_version: &s.rule_pack_version,
            scoring_version: &s.scoring_version,
        }
    }

    fn agency(s: &'a AgencyScore) -> Self {
        Self {
            score: s.score,
            coverage: Some(s.coverage),
            rule_pack_version: &s.rule_pack_version,
            scoring_version: &s.scoring_version,
        }
    }
}

/// Loads, computes and records the history points that changed; returns the scores.
///
/// # Errors
/// Store errors.
pub fn recompute(
    store: &dyn Store,
    scoring: &Scoring,
    catalog: &RuleCatalog,
    now_ms: i64,
) -> Result<(Scores, usize)> {
    let inputs = Inputs::load(store)?;
    let scores = compute(&inputs, scoring, catalog, now_ms);
    let points = history_points(&scores, &store.scores_latest()?);
    store.scores_record(&points)?;
    Ok((scores, points.len()))
}

/// The latest computed [`Scores`], shared by the scheduler (which publishes every recompute) and
/// the console, whose pages must not pay for a full computation (over a second for a province of
/// 20,000 hosts) on every request.
///
/// Once the cached scores are older than `max_age`, the first reader starts one background
/// recompute and every reader waits for it at most [`ScoreCache::STALE_WAIT`]: a small province
/// always sees scores at most `max_age` old, and a large one (where computing takes over a
/// second) gets the previous scores at once rather than a slow page. Only an empty cache
/// (start-up, or after [`ScoreCache::invalidate`]) makes a reader wait for the computation, and
/// concurrent readers then share one.
#[derive(Debug)]
pub struct ScoreCache {
    latest: std::sync::Mutex<Option<std::sync::Arc<Scores>>>,
    max_age_ms: i64,
    refreshing: std::sync::atomic::AtomicBool,
    /// Findings that may change scores were stored since the last computation began.
    changed: std::sync::atomic::AtomicBool,
    refreshed: tokio::sync::Notify,
    gate: tokio::sync::Mutex<()>,
}

impl ScoreCache {
    /// How long a reader waits for a background refresh before taking the previous scores.
    pub const STALE_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
    /// Scores at least this old are refreshed once new findings have been stored.
    const CHANGED_AGE_MS: i64 = 2_000;

    /// Notes that stored findings may have changed scores (new check results, inventory).
    pub fn mark_changed(&self) {
        self.changed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether findings were marked since the last look, clearing the mark (tests).
    #[cfg(test)]
    pub(crate) fn take_changed(&self) -> bool {
        self.changed
            .swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// An empty cache whose entries are refreshed once older than `max_age`.
    pub fn new(max_age: std::time::Duration) -> Self {
        Self {
            latest: std::sync::Mutex::new(None),
            max_age_ms: i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            changed: std::sync::atomic::AtomicBool::new(false),
            refreshed: tokio::sync::Notify::new(),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<std::sync::Arc<Scores>>> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the cached scores (unless they are newer than `scores`).
    pub fn publish(&self, scores: std::sync::Arc<Scores>) {
        let mut g = self.slot();
        if g.as_ref()
            .is_none_or(|s| s.computed_at <= scores.computed_at)
        {
            *g = Some(scores);
        }
    }

    /// Forgets the cached scores, so the next reader waits for new ones (after a change the
    /// reader must see, such as a resolved alert).
    pub fn invalidate(&self) {
        *self.slot() = None;
    }

    /// The cached scores (refreshed in the background when old), or scores computed now when
    /// there are none.
    ///
    /// # Errors
    /// Store errors of a computation this call had to wait for.
    pub async fn get(
        self: &std::sync::Arc<Self>,
        store: std::sync::Arc<dyn Store>,
        scoring: std::sync::Arc<Scoring>,
    ) -> anyhow::Result<std::sync::Arc<Scores>> {
        use std::sync::atomic::Ordering;
        let cached = self.slot().clone();
        if let Some(s) = cached {
            let age = crate::clock::now_ms().saturating_sub(s.computed_at);
            let old = age > self.max_age_ms
                || (age > Self::CHANGED_AGE_MS && self.changed.load(Ordering::Acquire));
            if !old {
                return Ok(s);
            }
            // Registered before the refresh can finish, so its wake-up is not missed.
            let refreshed = self.refreshed.notified();
            if !self.refreshing.swap(true, Ordering::AcqRel) {
                let me = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.compute(store, scoring).await {
                        tracing::warn!(error = %e, "Refreshing the console's scores failed.");
                    }
                    me.refreshing.store(false, Ordering::Release);
                    me.refreshed.notify_waiters();
                });
            }
            let _ = tokio::time::timeout(Self::STALE_WAIT, refreshed).await;
            return Ok(self.slot().clone().unwrap_or(s));
        }
        let _turn = self.gate.lock().await;
        if let Some(s) = self.slot().clone() {
            return Ok(s);
        }
        self.compute(store, scoring).await
    }

    async fn compute(
        &self,
        store: std::sync::Arc<dyn Store>,
        scoring: std::sync::Arc<Scoring>,
    ) -> anyhow::Result<std::sync::Arc<Scores>> {
        // Findings stored from now on are not in this computation: they mark it again.
        self.changed
            .store(false, std::sync::atomic::Ordering::Release);
        let started = std::time::Instant::now();
        let scores = tokio::task::spawn_blocking(move || -> Result<Scores> {
            let inputs = Inputs::load(&*store)?;
            Ok(compute(
                &inputs,
                &scoring,
                &RuleCatalog::builtin(),
                crate::clock::now_ms(),
            ))
        })
        .await??;
        crate::metrics::record(crate::metrics::Event::ScoresRecomputed {
            elapsed: started.elapsed(),
        });
        let scores = std::sync::Arc::new(scores);
        self.publish(scores.clone());
        Ok(scores)
    }
}

#[cfg(test)]
mod tests;
