//! The JSON behind the console's three main pages: the province overview, one agency and one
//! host. Each is one request, built from the cached scores (`ScoreCache`), so a page of a
//! 20,000-host province costs a lookup rather than a full score computation.
//!
//! Like the rest of `/api/v1`, everything is filtered to the caller's agency subtree; an agency
//! or host outside it answers 404 as if it did not exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;
use vigil_rules::score::{CostItem, GroupScore, Ineligible, PerSeverity, Verdict};

use super::extract::{ErrorBody, Principal, blocking, json_response};
use super::{ApiError, AppState};
use crate::scoring::{AgencyScores, HostScores, Scores, in_subtree};
use crate::store::{Alert, FindingFilter, ScorePoint};
use crate::views::HostRow;

/// Days of history in the overview's sparklines.
const SPARK_DAYS: i64 = 30;
/// Days of history in an agency's or host's trend chart.
const TREND_DAYS: i64 = 90;
/// Hosts listed on an agency page (worst first); the total is given alongside.
const MAX_HOSTS: usize = 1000;
/// Breakdown items listed on an agency page (largest first); the rest is summed.
const MAX_BREAKDOWN: usize = 40;
/// Recent file and network events on a host page.
const MAX_EVENTS: usize = 100;
const DAY_MS: i64 = 86_400_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/agencies/{id}", get(agency))
        .route("/api/v1/hosts/{id}", get(host))
}

/// One agency of the overview.
#[derive(Serialize, ToSchema)]
pub(crate) struct AgencyRow {
    /// Path in the organisation tree.
    id: String,
    /// Display name.
    name: String,
    /// Required security level.
    level: u8,
    /// True when no agency sits below it (only leaves are ranked).
    leaf: bool,
    /// `A`, `A_common`, `A_level`.
    a: f64,
    a_common: f64,
    a_level: f64,
    /// Coverage κ in [0, 1].
    coverage: f64,
    /// Registered assets, with an agent, reporting.
    hosts: usize,
    hosts_with_agent: usize,
    hosts_fresh: usize,
    /// Hosts whose verdict is "Không đạt".
    hosts_failing: usize,
    /// Open or acknowledged alerts per severity.
    open_alerts: BTreeMap<String, usize>,
    /// May be ranked; otherwise `reasons` says why not.
    eligible: bool,
    #[schema(value_type = Vec<Object>)]
    reasons: Vec<Ineligible>,
    /// `A` per day over the last 30 days, `[ms, score]`, oldest first.
    trend: Vec<(i64, f64)>,
    /// Set for a downstream collector's agency: whose, and how fresh (issue 19).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    federated: Option<FedRow>,
}

/// Where a federated agency comes from.
#[derive(Serialize)]
pub(crate) struct FedRow {
    /// The downstream collector's name.
    downstream_name: String,
    /// Seconds since its figures were computed.
    age_s: i64,
    /// No summary for over two hours.
    stale: bool,
}

/// `GET /api/v1/overview`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Overview {
    /// Organisation name.
    name: String,
    /// When the scores were computed, ms.
    computed_at: i64,
    rule_pack_version: String,
    scoring_version: String,
    /// Alert response times by severity, hours (the SLA the alert queue counts down).
    #[schema(value_type = Object)]
    sla_hours: PerSeverity<f64>,
    /// Agencies of the caller's scope, by path.
    agencies: Vec<AgencyRow>,
}

fn row(a: &AgencyScores, leaf: bool, trend: Vec<(i64, f64)>) -> AgencyRow {
    AgencyRow {
        id: a.id.clone(),
        name: a.name.clone(),
        level: a.level,
        leaf,
        a: round1(a.full.score),
        a_common: round1(a.common.score),
        a_level: round1(a.level_view.score),
        coverage: (a.full.coverage * 1000.0).round() / 1000.0,
        hosts: a.full.hosts,
        hosts_with_agent: a.full.hosts_with_agent,
        hosts_fresh: a.full.hosts_fresh,
        hosts_failing: a.hosts_failing,
        open_alerts: a.open_alerts.clone(),
        eligible: a.full.ranking.eligible,
        reasons: a.full.ranking.reasons.clone(),
        trend,
        federated: a.federated.as_ref().map(|f| FedRow {
            downstream_name: f.downstream_name.clone(),
            age_s: f.age_s,
            stale: f.stale,
        }),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The last point of each day of a series of one view, `[ms, score]`.
fn daily(points: &[ScorePoint], view: &str) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for p in points.iter().filter(|p| p.view == view) {
        match out.last_mut() {
            Some(last) if last.0.div_euclid(DAY_MS) == p.computed_at.div_euclid(DAY_MS) => {
                *last = (p.computed_at, round1(p.score));
            }
            _ => out.push((p.computed_at, round1(p.score))),
        }
    }
    out
}

fn is_leaf(id: &str, all: &[AgencyScores]) -> bool {
    !all.iter().any(|b| b.id != id && in_subtree(&b.id, id))
}

async fn cached(st: &AppState) -> Result<Arc<Scores>, ApiError> {
    Ok(st.scores.get(st.store.clone(), st.scoring.clone()).await?)
}

/// `GET /api/v1/overview`: every agency of the caller's scope with its three scores, ranking
/// eligibility and a 30-day sparkline.
#[utoipa::path(get, path = "/api/v1/overview", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "Agencies of the caller's scope", body = Overview),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
async fn overview(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let scores = cached(&st).await?;
    let visible: Vec<&AgencyScores> = scores.agencies.iter().filter(|a| p.sees(&a.id)).collect();
    let ids: Vec<String> = visible.iter().map(|a| a.id.clone()).collect();
    let store = st.store.clone();
    let since = crate::clock::now_ms() - SPARK_DAYS * DAY_MS;
    let histories = blocking(move || {
        ids.iter()
            .map(|id| store.score_history("agency", id, since))
            .collect::<crate::store::Result<Vec<_>>>()
    })
    .await?;
    let agencies = visible
        .iter()
        .zip(histories)
        .map(|(a, h)| row(a, is_leaf(&a.id, &scores.agencies), daily(&h, "full")))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        Overview {
            name: st.name.to_string(),
            computed_at: scores.computed_at,
            rule_pack_version: scores.rule_pack_version.clone(),
            scoring_version: scores.scoring_version.clone(),
            sla_hours: st.scoring.config().alerts.sla_hours,
            agencies,
        },
    ))
}

/// Rule texts of the built-in packs, by rule id.
struct RuleText {
    title: vigil_rules::Text,
    remediation: vigil_rules::Text,
}

fn rule_texts() -> &'static HashMap<String, RuleText> {
    static TEXTS: OnceLock<HashMap<String, RuleText>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        vigil_rules::builtin_packs()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|p| p.rules)
            .map(|r| {
                (
                    r.id,
                    RuleText {
                        title: r.title,
                        remediation: r.remediation,
                    },
                )
            })
            .collect()
    })
}

/// A breakdown item with the rule's title when it is about a rule.
#[derive(Serialize)]
struct Cost {
    kind: vigil_rules::score::CostKind,
    key: String,
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title_vi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title_en: Option<String>,
    points: f64,
}

fn cost(c: &CostItem) -> Cost {
    let t = rule_texts().get(&c.key);
    Cost {
        kind: c.kind,
        key: c.key.clone(),
        label: c.label.clone(),
        title_vi: t.map(|t| t.title.vi.clone()),
        title_en: t.map(|t| t.title.en.clone()),
        points: (c.points * 100.0).round() / 100.0,
    }
}

/// One host in an agency page.
#[derive(Serialize)]
struct HostLine {
    id: String,
    hostname: String,
    agency: String,
    role: vigil_rules::score::Role,
    level: u8,
    a: f64,
    a_common: f64,
    a_level: f64,
    verdict: Verdict,
    fresh: bool,
    reported: bool,
    critical_failed: bool,
    simulated: bool,
}

/// Mean score of each counted group over the hosts that have results in it.
#[derive(Serialize)]
struct GroupMean {
    group: String,
    score: f64,
    hosts: usize,
}

fn group_means<'a>(hosts: impl Iterator<Item = &'a HostScores>) -> Vec<GroupMean> {
    let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for h in hosts.filter(|h| h.reported) {
        for g in h.full.groups.iter().filter(|g| g.applicable > 0) {
            let e = sums.entry(g.group.as_str()).or_default();
            e.0 += g.score;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(g, (s, n))| GroupMean {
            group: g.to_owned(),
            score: round1(s / n as f64),
            hosts: n,
        })
        .collect()
}

/// Three series of one entity, `[ms, score]` per day.
#[derive(Serialize)]
struct Trend {
    full: Vec<(i64, f64)>,
    common: Vec<(i64, f64)>,
    level: Vec<(i64, f64)>,
}

fn trend(points: &[ScorePoint]) -> Trend {
    Trend {
        full: daily(points, "full"),
        common: daily(points, "common"),
        level: daily(points, "level"),
    }
}

/// `GET /api/v1/agencies/{id}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AgencyPage {
    #[schema(value_type = Object)]
    agency: AgencyRow,
    /// Agencies directly below it.
    #[schema(value_type = Vec<Object>)]
    children: Vec<AgencyRow>,
    /// What `100 − A` is made of, largest first (rule items carry the rule title).
    #[schema(value_type = Vec<Object>)]
    breakdown: Vec<Cost>,
    /// Points of the items beyond those listed.
    breakdown_rest: f64,
    /// Mean group scores over the subtree's reporting hosts.
    #[schema(value_type = Vec<Object>)]
    groups: Vec<GroupMean>,
    /// Hosts of the subtree, worst first (at most 1,000).
    #[schema(value_type = Vec<Object>)]
    hosts: Vec<HostLine>,
    /// All hosts with an agent in the subtree.
    hosts_total: usize,
    /// Daily scores over 90 days.
    #[schema(value_type = Object)]
    trend: Trend,
    computed_at: i64,
}

fn host_line(h: &HostScores) -> HostLine {
    HostLine {
        id: h.id.clone(),
        hostname: h.hostname.clone(),
        agency: h.agency.clone(),
        role: h.role,
        level: h.level,
        a: round1(h.full.score),
        a_common: round1(h.common.score),
        a_level: round1(h.level_view.score),
        verdict: h.full.verdict,
        fresh: h.full.fresh,
        reported: h.reported,
        critical_failed: h.full.critical_failed,
        simulated: h.simulated,
    }
}

/// `GET /api/v1/agencies/{id}`: one agency (URL-encode the `/` of its path) with its hosts,
/// group scores, "why not 100" breakdown and 90-day trend.
#[utoipa::path(get, path = "/api/v1/agencies/{id}", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "Agency path, URL-encoded")),
    responses(
        (status = 200, description = "The agency", body = AgencyPage),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such agency in the caller's scope", body = ErrorBody),
    ))]
async fn agency(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !p.sees(&id) {
        return Err(ApiError::not_found());
    }
    let scores = cached(&st).await?;
    let a = scores
        .agencies
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(ApiError::not_found)?;
    let (store, key) = (st.store.clone(), id.clone());
    let since = crate::clock::now_ms() - TREND_DAYS * DAY_MS;
    let history = blocking(move || store.score_history("agency", &key, since)).await?;
    let children = scores
        .agencies
        .iter()
        .filter(|c| {
            c.id.strip_prefix(id.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| !r.is_empty() && !r.contains('/'))
        })
        .map(|c| row(c, is_leaf(&c.id, &scores.agencies), Vec::new()))
        .collect();
    let sub: Vec<&HostScores> = scores
        .hosts
        .iter()
        .filter(|h| in_subtree(&h.agency, &id))
        .collect();
    let mut hosts: Vec<HostLine> = sub.iter().map(|h| host_line(h)).collect();
    hosts.sort_by(|x, y| {
        x.a.total_cmp(&y.a)
            .then_with(|| x.hostname.cmp(&y.hostname))
    });
    let hosts_total = hosts.len();
    hosts.truncate(MAX_HOSTS);
    let items = &a.full.breakdown;
    let breakdown = items.iter().take(MAX_BREAKDOWN).map(cost).collect();
    let rest: f64 = items.iter().skip(MAX_BREAKDOWN).map(|c| c.points).sum();
    Ok(json_response(
        StatusCode::OK,
        AgencyPage {
            agency: row(a, is_leaf(&a.id, &scores.agencies), daily(&history, "full")),
            children,
            breakdown,
            breakdown_rest: (rest * 100.0).round() / 100.0,
            groups: group_means(sub.iter().copied()),
            hosts,
            hosts_total,
            trend: trend(&history),
            computed_at: scores.computed_at,
        },
    ))
}

/// One check result with the rule's texts.
#[derive(Serialize)]
struct CheckLine {
    rule_id: String,
    pack: String,
    status: vigil_proto::Status,
    severity: vigil_proto::Severity,
    group: String,
    controls: Vec<String>,
    evidence: String,
    title_vi: Option<String>,
    title_en: Option<String>,
    remediation_vi: Option<String>,
    remediation_en: Option<String>,
}

/// One recent event of a host.
#[derive(Serialize)]
struct EventLine {
    seq: u64,
    observed_at: i64,
    #[serde(flatten)]
    finding: serde_json::Value,
}

/// A host's three scores with their details.
#[derive(Serialize)]
struct HostScoreView {
    a: f64,
    a_common: f64,
    a_level: f64,
    verdict: Verdict,
    critical_failed: bool,
    alert_factor: f64,
    freshness: f64,
    groups: Vec<GroupScore>,
    breakdown: Vec<Cost>,
}

/// `GET /api/v1/hosts/{id}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct HostPage {
    /// Agent health and inventory (schema of `hosts --json`).
    #[schema(value_type = Object)]
    host: HostRow,
    /// Null until the agent reports check results.
    #[schema(value_type = Object)]
    score: Option<HostScoreView>,
    /// Latest result of every rule, failures first.
    #[schema(value_type = Vec<Object>)]
    checks: Vec<CheckLine>,
    /// Latest file-integrity events, newest first.
    #[schema(value_type = Vec<Object>)]
    files: Vec<EventLine>,
    /// Latest registry-watch events (Windows hosts), newest first.
    #[schema(value_type = Vec<Object>)]
    registry: Vec<EventLine>,
    /// Latest listeners, connections and IOC hits, newest first.
    #[schema(value_type = Vec<Object>)]
    network: Vec<EventLine>,
    /// Alerts of this host, newest first.
    #[schema(value_type = Vec<Object>)]
    alerts: Vec<Alert>,
    /// Daily scores over 90 days.
    #[schema(value_type = Object)]
    trend: Trend,
}

fn status_rank(s: vigil_proto::Status) -> u8 {
    use vigil_proto::Status as S;
    match s {
        S::Fail => 0,
        S::Error => 1,
        S::NotApplicable => 2,
        S::Pass => 3,
    }
}

fn events(
    store: &dyn crate::store::Store,
    id: &str,
    kind: &str,
) -> crate::store::Result<Vec<EventLine>> {
    Ok(store
        .findings(&FindingFilter {
            agent_id: Some(id.to_owned()),
            kind: Some(kind.to_owned()),
            since_ms: None,
            limit: MAX_EVENTS,
        })?
        .into_iter()
        .map(|f| EventLine {
            seq: f.seq,
            observed_at: f.observed_at,
            finding: f.finding,
        })
        .collect())
}

/// `GET /api/v1/hosts/{id}`: one host with its agent health, inventory, check results (with
/// remediation), recent file and network events, alerts and trend.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The host", body = HostPage),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such host in the caller's scope", body = ErrorBody),
    ))]
async fn host(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let key = id.clone();
    let agent = blocking(move || store.agent(&key)).await?;
    let agent = agent
        .filter(|a| p.sees(&a.agency))
        .ok_or_else(ApiError::not_found)?;
    let scores = cached(&st).await?;
    let store = st.store.clone();
    let since = crate::clock::now_ms() - TREND_DAYS * DAY_MS;
    let (checks, (files, registry), network, alerts, history) = blocking(move || {
        let checks = crate::views::latest_checks(&*store, &id)?;
        let alerts: Vec<Alert> = store
            .alerts(None)?
            .into_iter()
            .filter(|a| a.agent_id == id)
            .collect();
        Ok((
            checks,
            (
                events(&*store, &id, "file")?,
                events(&*store, &id, "registry")?,
            ),
            events(&*store, &id, "net")?,
            alerts,
            store.score_history("host", &id, since)?,
        ))
    })
    .await?;
    let mut checks: Vec<CheckLine> = checks
        .into_iter()
        .map(|c| {
            let t = rule_texts().get(&c.rule_id);
            CheckLine {
                title_vi: t.map(|t| t.title.vi.clone()),
                title_en: t.map(|t| t.title.en.clone()),
                remediation_vi: t.map(|t| t.remediation.vi.clone()),
                remediation_en: t.map(|t| t.remediation.en.clone()),
                rule_id: c.rule_id,
                pack: c.pack,
                status: c.status,
                severity: c.severity,
                group: c.group,
                controls: c.controls,
                evidence: c.evidence,
            }
        })
        .collect();
    checks.sort_by(|x, y| {
        status_rank(x.status)
            .cmp(&status_rank(y.status))
            .then(y.severity.cmp(&x.severity))
            .then_with(|| x.rule_id.cmp(&y.rule_id))
    });
    let hs = scores.hosts.iter().find(|h| h.id == agent.id);
    let mut row = HostRow::from(agent);
    row.score = hs.filter(|h| h.reported).map(|h| round1(h.full.score));
    let score = hs.filter(|h| h.reported).map(|h| HostScoreView {
        a: round1(h.full.score),
        a_common: round1(h.common.score),
        a_level: round1(h.level_view.score),
        verdict: h.full.verdict,
        critical_failed: h.full.critical_failed,
        alert_factor: h.full.alert_factor,
        freshness: h.full.freshness,
        groups: h.full.groups.clone(),
        breakdown: h.full.breakdown.iter().map(cost).collect(),
    });
    Ok(json_response(
        StatusCode::OK,
        HostPage {
            host: row,
            score,
            checks,
            files,
            registry,
            network,
            alerts,
            trend: trend(&history),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(view: &str, at: i64, score: f64) -> ScorePoint {
        ScorePoint {
            scope: "agency".into(),
            id: "t".into(),
            view: view.into(),
            score,
            coverage: Some(1.0),
            rule_pack_version: String::new(),
            scoring_version: String::new(),
            computed_at: at,
        }
    }

    #[test]
    fn daily_keeps_the_last_point_of_each_day_of_one_view() {
        let pts = [
            point("full", DAY_MS + 1, 10.0),
            point("common", DAY_MS + 2, 99.0),
            point("full", DAY_MS + 3, 20.04),
            point("full", 3 * DAY_MS, 30.0),
        ];
        assert_eq!(
            daily(&pts, "full"),
            vec![(DAY_MS + 3, 20.0), (3 * DAY_MS, 30.0)]
        );
        assert_eq!(daily(&pts, "common"), vec![(DAY_MS + 2, 99.0)]);
        assert!(daily(&pts, "level").is_empty());
    }
}
