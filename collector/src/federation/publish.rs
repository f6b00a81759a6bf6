//! Builds the posture summary this collector pushes upstream from its computed scores, and
//! tells whether it says anything new.

use std::collections::{BTreeMap, HashMap};

use vigil_proto::Status;
use vigil_rules::score::AgencyScore;

use super::summary::{
    AgencySummary, AlertStat, FedMark, PostureSummary, RuleCount, SUMMARY_VERSION, TOP_RULES,
};
use crate::scoring::{AgencyScores, Inputs, Scores, federated_roots, in_subtree};

/// The summary of every agency in `scores` (federated ones included, so the collector above
/// sees the whole tree below it), as `downstream_id`.
pub fn build(downstream_id: &str, inputs: &Inputs, scores: &Scores) -> PostureSummary {
    let agent_agency: HashMap<&str, &str> = inputs
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a.agency.as_str()))
        .collect();
    // Failing rules and open alerts per agency of the host they are about.
    let mut failing: HashMap<&str, BTreeMap<&str, usize>> = HashMap::new();
    for (agent, states) in &inputs.checks {
        let Some(agency) = agent_agency.get(agent.as_str()) else {
            continue;
        };
        for c in states.iter().filter(|c| c.4 == Status::Fail) {
            *failing
                .entry(agency)
                .or_default()
                .entry(c.rule_id())
                .or_default() += 1;
        }
    }
    let mut alerts: HashMap<&str, BTreeMap<String, AlertStat>> = HashMap::new();
    for a in &inputs.alerts {
        let Some(agency) = agent_agency.get(a.agent_id.as_str()) else {
            continue;
        };
        let e = alerts
            .entry(agency)
            .or_default()
            .entry(a.severity.as_str().to_owned())
            .or_insert(AlertStat {
                count: 0,
                oldest_opened_at: a.opened_at,
            });
        e.count += 1;
        e.oldest_opened_at = e.oldest_opened_at.min(a.opened_at);
    }
    let roots = federated_roots(&scores.agencies);
    let agencies = scores
        .agencies
        .iter()
        .map(|ag| match &ag.federated {
            Some(m) => AgencySummary {
                open_alerts: m.open_alerts.clone(),
                top_failing: m.top_failing.clone(),
                origin_computed_at: Some(m.computed_at),
                ..own(ag, &HashMap::new(), &HashMap::new())
            },
            None => {
                let mut s = own(ag, &failing, &alerts);
                // Its scores fold the federated subtrees below it; so do its alerts and rules.
                let below = roots
                    .iter()
                    .filter(|r| r.id != ag.id && in_subtree(&r.id, &ag.id))
                    .filter_map(|r| r.federated.as_deref());
                fold_marks(&mut s, below);
                s
            }
        })
        .collect();
    PostureSummary {
        v: SUMMARY_VERSION,
        downstream_id: downstream_id.to_owned(),
        computed_at: scores.computed_at,
        rule_pack_version: scores.rule_pack_version.clone(),
        scoring_version: scores.scoring_version.clone(),
        agencies,
    }
}

/// An agency's summary over its own subtree's hosts.
fn own(
    ag: &AgencyScores,
    failing: &HashMap<&str, BTreeMap<&str, usize>>,
    alerts: &HashMap<&str, BTreeMap<String, AlertStat>>,
) -> AgencySummary {
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    let mut open: BTreeMap<String, AlertStat> = BTreeMap::new();
    for (agency, per) in failing {
        if in_subtree(agency, &ag.id) {
            for (r, n) in per {
                *rules.entry(r).or_default() += n;
            }
        }
    }
    for (agency, per) in alerts {
        if in_subtree(agency, &ag.id) {
            for (sev, st) in per {
                match open.get_mut(sev) {
                    Some(e) => {
                        e.count += st.count;
                        e.oldest_opened_at = e.oldest_opened_at.min(st.oldest_opened_at);
                    }
                    None => {
                        open.insert(sev.clone(), *st);
                    }
                }
            }
        }
    }
    let mut top: Vec<RuleCount> = rules
        .into_iter()
        .map(|(r, hosts)| RuleCount {
            rule_id: r.to_owned(),
            hosts,
        })
        .collect();
    top.sort_by(|a, b| b.hosts.cmp(&a.hosts).then(a.rule_id.cmp(&b.rule_id)));
    top.truncate(TOP_RULES);
    AgencySummary {
        path: ag.id.clone(),
        name: ag.name.clone(),
        level: ag.level,
        a: strip(&ag.full),
        a_common: strip(&ag.common),
        a_level: strip(&ag.level_view),
        hosts_failing: ag.hosts_failing,
        open_alerts: open,
        top_failing: top,
        origin_computed_at: None,
    }
}

/// Adds the open alerts and failing rules of federated subtrees to an agency's own. The
/// subtrees' lists are their top [`TOP_RULES`] only, so a rule's count here is a lower bound.
fn fold_marks<'a>(s: &mut AgencySummary, below: impl Iterator<Item = &'a FedMark>) {
    let mut rules: BTreeMap<String, usize> = s
        .top_failing
        .drain(..)
        .map(|r| (r.rule_id, r.hosts))
        .collect();
    for m in below {
        for (sev, st) in &m.open_alerts {
            let e = s.open_alerts.entry(sev.clone()).or_insert(AlertStat {
                count: 0,
                oldest_opened_at: st.oldest_opened_at,
            });
            e.count += st.count;
            e.oldest_opened_at = e.oldest_opened_at.min(st.oldest_opened_at);
        }
        for r in &m.top_failing {
            *rules.entry(r.rule_id.clone()).or_default() += r.hosts;
        }
    }
    s.top_failing = rules
        .into_iter()
        .map(|(rule_id, hosts)| RuleCount { rule_id, hosts })
        .collect();
    s.top_failing
        .sort_by(|a, b| b.hosts.cmp(&a.hosts).then(a.rule_id.cmp(&b.rule_id)));
    s.top_failing.truncate(TOP_RULES);
}

/// A score without its per-asset lines and breakdown: what may leave the collector.
fn strip(s: &AgencyScore) -> AgencyScore {
    AgencyScore {
        assets: Vec::new(),
        breakdown: Vec::new(),
        ..s.clone()
    }
}

/// Whether `new` says something `old` (a spooled body) did not: anything but the computation
/// time differs. An unreadable `old` counts as different.
pub fn changed(old: &str, new: &PostureSummary) -> bool {
    let Ok(mut old) = serde_json::from_str::<PostureSummary>(old) else {
        return true;
    };
    let mut new = new.clone();
    old.computed_at = 0;
    new.computed_at = 0;
    for a in old.agencies.iter_mut().chain(new.agencies.iter_mut()) {
        for s in [&mut a.a, &mut a.a_common, &mut a.a_level] {
            s.computed_at = 0;
        }
    }
    old != new
}
