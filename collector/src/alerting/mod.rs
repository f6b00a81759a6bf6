//! Built-in alert rules.
//!
//! Each alert has a dedupe key, so a condition seen again counts on the same alert instead of
//! opening a new one. Two kinds of rules:
//! - on what an agent delivers ([`alerts_for`], pure): sequence gap, IOC hit, failed critical
//!   rule, change on a critical file path, spool drops, and new listeners on servers (raised only
//!   for a listener the collector has not seen on that host before, after its first report);
//! - periodic, over the agent table ([`periodic`], pure): agent silent past a threshold, two
//!   live agents with one machine id, agent certificate near expiry. These also resolve their
//!   own alerts once the condition is gone (the agent reports again, the certificate is renewed).
//!
//! [`AlertSettings`] holds the thresholds and disabled kinds, for the whole organisation and per
//! agency subtree (`[alerts]` and `[[alerts.subtree]]` in collector.toml).
//!
//! Nothing here notifies anyone: every new alert is a row of the store, and `crate::notify`
//! reads new rows after its own cursor (`Store::alerts_after`), so e-mail and webhooks never
//! slow down or fail the paths that raise alerts, and see the alerts raised outside this module
//! (vulnerability matching) too.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use vigil_proto::units::parse_duration;
use vigil_proto::{Envelope, FileEventKind, Finding, HealthKind, NetEventKind, Severity, Status};

use crate::store::{
    AgentRecord, Alert, AlertParams, AlertState, MachineInUse, NewAgent, NewAlert, ReplacedAgent,
    Result, Store,
};

mod config;
pub use config::{RawAlertRules, RawAlerts, RawSubtreeAlerts};

/// Every alert kind the collector raises.
pub const KINDS: &[&str] = &[
    "seq_gap",
    "ioc_hit",
    "critical_rule_failed",
    "fim_critical_path",
    "registry_autostart",
    "spool_dropped",
    "new_listener_on_server",
    "agent_silent",
    "duplicate_machine_id",
    "duplicate_machine",
    "cert_expiring",
    "agent_quota",
];

/// The alert settings in force for one agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRules {
    /// Silence that raises `agent_silent`.
    pub silent_after: Duration,
    /// Certificate lifetime left that raises `cert_expiring`.
    pub cert_expiry_warning: Duration,
    /// Kinds not raised.
    pub disabled: BTreeSet<String>,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            silent_after: Duration::from_secs(24 * 3600),
            cert_expiry_warning: Duration::from_secs(30 * 86_400),
            disabled: BTreeSet::new(),
        }
    }
}

impl AlertRules {
    /// True unless the kind is disabled here.
    pub fn enabled(&self, kind: &str) -> bool {
        !self.disabled.contains(kind)
    }
}

/// Settings given for a scope; `None` keeps what the enclosing scope says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Partial {
    silent_after: Option<Duration>,
    cert_expiry_warning: Option<Duration>,
    disabled: Option<BTreeSet<String>>,
}

impl Partial {
    fn parse(raw: &RawAlertRules, at: &str, errs: &mut Vec<String>) -> Self {
        let mut dur = |field: &str, v: &Option<String>| {
            v.as_deref().and_then(|s| match parse_duration(s) {
                Ok(d) if !d.is_zero() => Some(d),
                Ok(_) => {
                    errs.push(format!("{at}.{field}: must be longer than 0"));
                    None
                }
                Err(e) => {
                    errs.push(format!("{at}.{field}: {e}"));
                    None
                }
            })
        };
        let silent_after = dur("silent_after", &raw.silent_after);
        let cert_expiry_warning = dur("cert_expiry_warning", &raw.cert_expiry_warning);
        for k in &raw.disabled {
            if !KINDS.contains(&k.as_str()) {
                errs.push(format!(
                    "{at}.disabled: {k:?} is not an alert kind, expected one of {}",
                    KINDS.join(", ")
                ));
            }
        }
        Self {
            silent_after,
            cert_expiry_warning,
            disabled: (!raw.disabled.is_empty()).then(|| raw.disabled.iter().cloned().collect()),
        }
    }

    fn apply(&self, to: &mut AlertRules) {
        if let Some(d) = self.silent_after {
            to.silent_after = d;
        }
        if let Some(d) = self.cert_expiry_warning {
            to.cert_expiry_warning = d;
        }
        if let Some(d) = &self.disabled {
            to.disabled.clone_from(d);
        }
    }
}

/// Alert settings for the organisation and its subtrees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSettings {
    base: AlertRules,
    /// (agency path, settings), shallowest first.
    subtrees: Vec<(String, Partial)>,
}

impl AlertSettings {
    /// Validates `[alerts]`; every problem is reported, naming the field.
    ///
    /// # Errors
    /// The list of problems.
    pub fn from_raw(raw: &RawAlerts) -> std::result::Result<Self, Vec<String>> {
        let mut errs = Vec::new();
        let mut base = AlertRules::default();
        Partial::parse(&raw.rules, "alerts", &mut errs).apply(&mut base);
        let mut subtrees = Vec::new();
        let mut seen = HashSet::new();
        for (i, st) in raw.subtree.iter().enumerate() {
            let at = format!("alerts.subtree[{i}]");
            let path = st.agency.trim_end_matches('/');
            if path.is_empty() {
                errs.push(format!("{at}.agency: must name an agency path"));
            } else if !seen.insert(path.to_owned()) {
                errs.push(format!("{at}.agency: {path:?} is configured twice"));
            }
            subtrees.push((path.to_owned(), Partial::parse(&st.rules, &at, &mut errs)));
        }
        subtrees.sort_by_key(|(p, _)| p.matches('/').count());
        if errs.is_empty() {
            Ok(Self { base, subtrees })
        } else {
            Err(errs)
        }
    }

    /// The settings for an agency: the organisation's, overridden key by key by every subtree
    /// that contains it, deepest last.
    pub fn for_agency(&self, agency: &str) -> AlertRules {
        let mut r = self.base.clone();
        for (path, p) in &self.subtrees {
            if crate::scoring::in_subtree(agency, path) {
                p.apply(&mut r);
            }
        }
        r
    }
}

/// `duplicate_machine`: an enrollment replaced the live identity `old` of the same machine in
/// its agency (a reinstall; or, if both keep running, a cloned machine).
pub fn machine_replaced(new: &NewAgent, old: &ReplacedAgent) -> NewAlert {
    NewAlert {
        key: format!("dupmachine:replaced:{}", new.id),
        kind: "duplicate_machine".into(),
        severity: Severity::Medium,
        agent_id: new.id.clone(),
        title: format!(
            "{} enrolled with the machine id of {} (agent {}), which was revoked: a reinstall, or \
             a cloned machine if both keep running",
            new.hostname, old.hostname, old.id
        ),
        other_agency: None,
        params: params([
            ("case", "replaced".into()),
            ("host", new.hostname.as_str().into()),
            ("old_host", old.hostname.as_str().into()),
            ("old_agent", old.id.as_str().into()),
        ]),
    }
}

/// `duplicate_machine`: an enrollment into another agency presented the machine id of live
/// agent `m` and was refused; the users of both agencies see it.
pub fn machine_refused(new: &NewAgent, m: &MachineInUse) -> NewAlert {
    NewAlert {
        key: format!("dupmachine:refused:{}:{}", m.agent_id, new.agency),
        kind: "duplicate_machine".into(),
        severity: Severity::High,
        agent_id: m.agent_id.clone(),
        title: format!(
            "an enrollment into {} as {} presented the machine id of {} ({}) and was refused: if \
             the host moved, an admin runs `vigil-collector agent move --id {} --agency {}`; \
             otherwise the machine id was copied (a cloned disk, or an impostor)",
            new.agency, new.hostname, m.hostname, m.agency, m.agent_id, new.agency
        ),
        other_agency: Some(new.agency.clone()),
        params: params([
            ("case", "refused".into()),
            ("host", new.hostname.as_str().into()),
            ("agency", new.agency.as_str().into()),
            ("old_host", m.hostname.as_str().into()),
            ("old_agency", m.agency.as_str().into()),
            ("old_agent", m.agent_id.as_str().into()),
        ]),
    }
}

/// `duplicate_machine`: one agent identity is in use from two places at once (a cloned disk
/// that kept the agent's key); the second session was refused.
pub fn identity_in_use_twice(agent: &AgentRecord, live: &str, refused: &str) -> NewAlert {
    NewAlert {
        key: format!("dupmachine:twice:{}", agent.id),
        kind: "duplicate_machine".into(),
        severity: Severity::High,
        agent_id: agent.id.clone(),
        title: format!(
            "the identity of {} is connected from {live} and was also presented from {refused}: \
             two machines share one agent key (a cloned disk?); revoke the agent and enroll each \
             machine with its own machine id",
            agent.hostname
        ),
        other_agency: None,
        params: params([
            ("case", "twice".into()),
            ("host", agent.hostname.as_str().into()),
            ("live", live.into()),
            ("refused", refused.into()),
        ]),
    }
}

/// `agent_quota`: the agent reports more distinct rules than the collector keeps a state for.
pub fn rules_quota(agent_id: &str) -> NewAlert {
    NewAlert {
        key: format!("quota:rules:{agent_id}"),
        kind: "agent_quota".into(),
        severity: Severity::Medium,
        agent_id: agent_id.into(),
        title: format!(
            "this host reports more than {} distinct rules; results of further rules are stored \
             but not scored",
            crate::store::MAX_RULES_PER_AGENT
        ),
        other_agency: None,
        params: params([("max", crate::store::MAX_RULES_PER_AGENT.into())]),
    }
}

/// Dedupe key of a `new_listener_on_server` alert (also the listener's identity in the store).
fn listener_key(agent_id: &str, proto: &str, local: &str) -> String {
    format!("listen:{agent_id}:{proto}:{local}")
}

/// An alert's named facts; `null` values (an unknown process) are left out.
fn params<const N: usize>(kv: [(&str, serde_json::Value); N]) -> AlertParams {
    kv.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Raises `a` (or counts it again on its open alert) and, when it is new, counts it in the
/// metrics. Returns the alert id and whether it was new, as [`Store::alert_raise`].
///
/// # Errors
/// Store errors.
pub fn raise(store: &dyn Store, a: &NewAlert, now_s: i64) -> Result<(i64, bool)> {
    let (id, new) = store.alert_raise(a, now_s)?;
    if new {
        crate::metrics::record(crate::metrics::Event::AlertRaised { kind: &a.kind });
    }
    Ok((id, new))
}

/// Raises the alerts of a stored batch, as the agent's agency settings allow.
///
/// # Errors
/// Store errors.
pub fn raise_for_batch(
    store: &dyn Store,
    settings: &AlertSettings,
    agent_id: &str,
    batch: &[Envelope],
    gaps: &[(u64, u64)],
    now_s: i64,
) -> Result<usize> {
    let alerts = alerts_for(agent_id, batch, gaps);
    if alerts.is_empty() {
        return Ok(0);
    }
    let Some(agent) = store.agent(agent_id)? else {
        return Ok(0);
    };
    let rules = settings.for_agency(&agent.agency);
    let listeners: Vec<String> = alerts
        .iter()
        .filter(|a| a.kind == "new_listener_on_server")
        .map(|a| a.key.clone())
        .collect();
    // Every host learns its listeners (so a later role change does not flag old ones); the
    // first report of a host is its baseline, not news.
    let (known_before, new) = if listeners.is_empty() {
        (0, Vec::new())
    } else {
        store.listeners_learn(agent_id, &listeners, now_s)?
    };
    let new: HashSet<String> = new.into_iter().collect();
    let mut raised = 0;
    for a in alerts {
        if !rules.enabled(&a.kind) {
            continue;
        }
        if a.kind == "new_listener_on_server"
            && !(agent.role == "server" && known_before > 0 && new.contains(&a.key))
        {
            continue;
        }
        raise(store, &a, now_s)?;
        raised += 1;
    }
    Ok(raised)
}

/// What one run of the periodic rules decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Periodic {
    /// Alerts to raise (conditions with no active alert yet).
    pub raise: Vec<NewAlert>,
    /// Active alerts whose condition is gone: (alert id, reason).
    pub resolve: Vec<(i64, String)>,
}

fn human(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// The periodic rules over the agent table at `now_s` (Unix seconds), given the active alerts.
pub fn periodic(
    agents: &[AgentRecord],
    active: &[Alert],
    settings: &AlertSettings,
    now_s: i64,
) -> Periodic {
    let live: Vec<&AgentRecord> = agents.iter().filter(|a| !a.revoked).collect();
    let by_id: HashMap<&str, &AgentRecord> = live.iter().map(|a| (a.id.as_str(), *a)).collect();
    let active_keys: HashSet<&str> = active
        .iter()
        .filter(|a| a.state.is_active())
        .map(|a| a.key.as_str())
        .collect();
    let mut out = Periodic::default();
    let mut want: HashSet<String> = HashSet::new();
    let mut raise = |out: &mut Periodic, a: NewAlert| {
        want.insert(a.key.clone());
        if !active_keys.contains(a.key.as_str()) {
            out.raise.push(a);
        }
    };
    for a in &live {
        let rules = settings.for_agency(&a.agency);
        let since = if a.last_seen > 0 {
            a.last_seen
        } else {
            a.enrolled_at
        };
        let silent = now_s - since;
        if rules.enabled("agent_silent")
            && silent > i64::try_from(rules.silent_after.as_secs()).unwrap_or(i64::MAX)
        {
            raise(
                &mut out,
                NewAlert {
                    key: format!("silent:{}", a.id),
                    kind: "agent_silent".into(),
                    severity: if a.role == "server" {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    agent_id: a.id.clone(),
                    title: if a.last_seen > 0 {
                        format!("{} has not reported for {}", a.hostname, human(silent))
                    } else {
                        format!(
                            "{} enrolled {} ago and never reported",
                            a.hostname,
                            human(silent)
                        )
                    },
                    params: params([
                        ("host", a.hostname.as_str().into()),
                        ("seconds", silent.into()),
                        ("never", (a.last_seen == 0).into()),
                    ]),
                    other_agency: None,
                },
            );
        }
        let left = a.cert_not_after - now_s;
        if rules.enabled("cert_expiring")
            && left < i64::try_from(rules.cert_expiry_warning.as_secs()).unwrap_or(i64::MAX)
        {
            raise(
                &mut out,
                NewAlert {
                    key: format!("cert:{}:{}", a.id, a.cert_serial),
                    kind: "cert_expiring".into(),
                    severity: Severity::High,
                    agent_id: a.id.clone(),
                    title: if left > 0 {
                        format!(
                            "the agent certificate of {} expires in {} and has not been renewed",
                            a.hostname,
                            human(left)
                        )
                    } else {
                        format!("the agent certificate of {} has expired", a.hostname)
                    },
                    params: params([
                        ("host", a.hostname.as_str().into()),
                        ("seconds", left.into()),
                    ]),
                    other_agency: None,
                },
            );
        }
    }
    let mut by_machine: HashMap<&str, Vec<&AgentRecord>> = HashMap::new();
    for a in &live {
        by_machine.entry(a.machine_id.as_str()).or_default().push(a);
    }
    let mut dups: Vec<_> = by_machine
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .collect();
    dups.sort_by_key(|(m, _)| *m);
    for (machine, ids) in dups {
        if !settings
            .for_agency(&ids[0].agency)
            .enabled("duplicate_machine_id")
        {
            continue;
        }
        let list: Vec<&str> = ids.iter().map(|a| a.id.as_str()).collect();
        raise(
            &mut out,
            NewAlert {
                key: format!("dupmid:{machine}"),
                kind: "duplicate_machine_id".into(),
                severity: Severity::High,
                agent_id: ids[0].id.clone(),
                title: format!(
                    "{} live agents share machine id {machine}: {} (a cloned disk or image?)",
                    list.len(),
                    list.join(", ")
                ),
                params: params([
                    ("count", list.len().into()),
                    ("machine", machine.into()),
                    ("agents", list.join(", ").into()),
                ]),
                other_agency: None,
            },
        );
    }
    // Periodic alerts whose condition is gone resolve themselves.
    for a in active.iter().filter(|a| a.state.is_active()) {
        let reason = match a.kind.as_str() {
            "agent_silent" if !want.contains(&a.key) => match by_id.get(a.agent_id.as_str()) {
                Some(ag) if ag.last_seen > 0 => Some(format!(
                    "the agent reported again (last seen {}s ago)",
                    now_s - ag.last_seen
                )),
                Some(_) => None,
                None => Some("the agent was revoked".to_owned()),
            },
            "cert_expiring" if !want.contains(&a.key) => {
                Some("the agent certificate was renewed (or the agent revoked)".to_owned())
            }
            "duplicate_machine_id" if !want.contains(&a.key) => {
                Some("only one live agent has this machine id now".to_owned())
            }
            _ => None,
        };
        if let Some(r) = reason {
            out.resolve.push((a.id, r));
        }
    }
    out
}

/// Runs the periodic rules against the store; returns (raised, resolved).
///
/// # Errors
/// Store errors.
pub fn run_periodic(
    store: &dyn Store,
    settings: &AlertSettings,
    now_s: i64,
) -> Result<(usize, usize)> {
    let agents = store.agents_brief()?;
    let mut active = store.alerts(Some(AlertState::Open))?;
    active.extend(store.alerts(Some(AlertState::Acknowledged))?);
    let p = periodic(&agents, &active, settings, now_s);
    for a in &p.raise {
        raise(store, a, now_s)?;
    }
    for (id, reason) in &p.resolve {
        store.alert_set_state(*id, AlertState::Resolved, "collector", Some(reason), now_s)?;
    }
    Ok((p.raise.len(), p.resolve.len()))
}

/// Alerts raised by one stored batch and the gaps it revealed.
pub fn alerts_for(agent_id: &str, batch: &[Envelope], gaps: &[(u64, u64)]) -> Vec<NewAlert> {
    let mut out: Vec<NewAlert> = gaps
        .iter()
        .map(|(from, to)| NewAlert {
            key: format!("gap:{agent_id}:{from}-{to}"),
            kind: "seq_gap".into(),
            severity: Severity::High,
            agent_id: agent_id.into(),
            title: format!(
                "findings #{from}..=#{to} from this agent never arrived ({} missing)",
                to - from + 1
            ),
            params: params([
                ("from", (*from).into()),
                ("to", (*to).into()),
                ("count", (to - from + 1).into()),
            ]),
            other_agency: None,
        })
        .collect();
    for e in batch {
        let alert = match &e.finding {
            Finding::NetEvent(n) if n.kind == NetEventKind::Listen => {
                let exe = n.exe.as_deref().unwrap_or("unknown process");
                Some((
                    "new_listener_on_server",
                    Severity::High,
                    listener_key(agent_id, &n.proto, &n.local),
                    format!("new {} listener on {} ({exe})", n.proto, n.local),
                    params([
                        ("proto", n.proto.as_str().into()),
                        ("local", n.local.as_str().into()),
                        ("exe", n.exe.as_deref().into()),
                    ]),
                ))
            }
            Finding::NetEvent(n) if n.kind == NetEventKind::IocHit => {
                let what = n.indicator.as_deref().unwrap_or("?");
                let who = n.exe.as_deref().unwrap_or("unknown process");
                Some((
                    "ioc_hit",
                    Severity::Critical,
                    format!("ioc:{agent_id}:{what}:{who}"),
                    format!("{who} matched indicator {what}"),
                    params([
                        ("indicator", what.into()),
                        ("exe", n.exe.as_deref().into()),
                        ("remote", n.remote.as_deref().into()),
                    ]),
                ))
            }
            Finding::CheckResult(c)
                if c.status == Status::Fail && c.severity == Severity::Critical =>
            {
                Some((
                    "critical_rule_failed",
                    Severity::Critical,
                    format!("rule:{agent_id}:{}:{}", c.pack, c.rule_id),
                    format!("critical rule {} fails: {}", c.rule_id, c.evidence),
                    params([
                        ("rule", c.rule_id.as_str().into()),
                        ("evidence", c.evidence.as_str().into()),
                    ]),
                ))
            }
            Finding::FileEvent(f)
                if f.severity >= Severity::High && f.kind != FileEventKind::Rescan =>
            {
                let kind = serde_json::to_value(f.kind).unwrap_or_default();
                Some((
                    "fim_critical_path",
                    f.severity,
                    format!("fim:{agent_id}:{}", f.path),
                    format!("{} {:?} on a critical path", f.path, f.kind).to_lowercase(),
                    params([("path", f.path.as_str().into()), ("change", kind)]),
                ))
            }
            Finding::Registry(r)
                if r.severity >= Severity::High
                    && !matches!(r.kind, FileEventKind::Rescan | FileEventKind::Summary) =>
            {
                let target = match &r.value {
                    Some(v) => format!("{}\\{v}", r.key),
                    None => r.key.clone(),
                };
                Some((
                    "registry_autostart",
                    r.severity,
                    format!("registry:{agent_id}:{target}"),
                    format!("{target} {:?} ({})", r.kind, r.group).to_lowercase(),
                    params([
                        ("key", r.key.as_str().into()),
                        ("value", r.value.as_deref().into()),
                        ("change", serde_json::to_value(r.kind).unwrap_or_default()),
                        ("group", r.group.as_str().into()),
                    ]),
                ))
            }
            Finding::AgentHealth(h) if h.kind == HealthKind::SpoolDropped => Some((
                "spool_dropped",
                Severity::High,
                format!("spool:{agent_id}:{}", e.seq),
                h.message.clone(),
                params([("count", h.counts.values().sum::<u64>().into())]),
            )),
            _ => None,
        };
        if let Some((kind, severity, key, title, params)) = alert {
            out.push(NewAlert {
                key,
                kind: kind.into(),
                severity,
                agent_id: agent_id.into(),
                title,
                params,
                other_agency: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
