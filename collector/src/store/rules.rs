//! The store's rules that do not depend on a backend, written once and applied by both:
//! token use, enrollment decisions and their audit, alert quotas and reasons, the merge of check
//! results into a host's state, and decoding of rows both backends read alike.

use super::*;

/// A live agent holding the machine id being enrolled, as enrollment reads it.
#[derive(Debug, Clone)]
pub(crate) struct LiveMachine {
    pub(crate) id: String,
    pub(crate) agency: String,
    pub(crate) hostname: String,
    pub(crate) serial: String,
    pub(crate) pending: Option<String>,
}

/// Decides an enrollment of `new` given the live agents with its machine id: refused when one
/// of them is in another agency, else every one of them is replaced.
pub(crate) fn enroll_decision(
    new: &NewAgent,
    live: Vec<LiveMachine>,
) -> std::result::Result<Vec<ReplacedAgent>, MachineInUse> {
    if let Some(other) = live.iter().find(|l| l.agency != new.agency) {
        return Err(MachineInUse {
            agent_id: other.id.clone(),
            agency: other.agency.clone(),
            hostname: other.hostname.clone(),
        });
    }
    Ok(live
        .into_iter()
        .map(|l| ReplacedAgent {
            id: l.id,
            agency: l.agency,
            hostname: l.hostname,
            serials: std::iter::once(l.serial).chain(l.pending).collect(),
        })
        .collect())
}

/// The audit entries of an enrollment decision: `(action, detail)`; both agencies are named.
pub(crate) fn enroll_audit(
    new: &NewAgent,
    decision: &std::result::Result<Vec<ReplacedAgent>, MachineInUse>,
) -> Vec<(&'static str, serde_json::Value)> {
    match decision {
        Err(m) => vec![(
            "agent.enroll_refused",
            serde_json::json!({
                "machine_id": new.machine_id, "hostname": new.hostname, "agency": new.agency,
                "token": new.token_id, "existing": m.agent_id, "existing_agency": m.agency,
                "reason": "machine id live in another agency",
            }),
        )],
        Ok(replaced) => replaced
            .iter()
            .map(|r| {
                (
                    "agent.replaced",
                    serde_json::json!({
                        "old": r.id, "new": new.id, "machine_id": new.machine_id,
                        "old_agency": r.agency, "agency": new.agency,
                        "old_hostname": r.hostname, "hostname": new.hostname,
                    }),
                )
            })
            .chain(std::iter::once((
                "agent.enrolled",
                serde_json::json!({
                    "agent": new.id, "agency": new.agency, "hostname": new.hostname,
                    "token": new.token_id,
                }),
            )))
            .collect(),
    }
}

/// The alert that stands for the alerts an agent raises past [`MAX_OPEN_ALERTS_PER_AGENT`].
pub(crate) fn alert_quota_alert(agent_id: &str) -> NewAlert {
    NewAlert {
        key: format!("quota:alerts:{agent_id}"),
        kind: "agent_quota".into(),
        severity: vigil_proto::Severity::High,
        agent_id: agent_id.into(),
        title: format!(
            "this host has {MAX_OPEN_ALERTS_PER_AGENT} open alerts; further alerts are counted \
             here and not recorded until some are resolved"
        ),
        other_agency: None,
        params: Default::default(),
    }
}

/// True for alerts the collector raises from its own tables (exempt from the per-agent cap).
pub(crate) fn alert_is_periodic(kind: &str) -> bool {
    matches!(
        kind,
        "agent_silent"
            | "cert_expiring"
            | "duplicate_machine_id"
            | "duplicate_machine"
            | "agent_quota"
    )
}

/// An alert row as both backends read it, before its enums are checked.
#[derive(Debug)]
pub(crate) struct RawAlert {
    pub(crate) id: i64,
    pub(crate) key: String,
    pub(crate) kind: String,
    pub(crate) severity: String,
    pub(crate) agent_id: String,
    pub(crate) title: String,
    pub(crate) params: Option<String>,
    pub(crate) state: String,
    pub(crate) count: i64,
    pub(crate) opened_at: i64,
    pub(crate) last_seen: i64,
    pub(crate) reason: Option<String>,
    pub(crate) assignee: Option<String>,
    pub(crate) other_agency: Option<String>,
}

impl RawAlert {
    pub(crate) fn decode(self) -> Result<Alert> {
        Ok(Alert {
            id: self.id,
            key: self.key,
            kind: self.kind,
            severity: self.severity.parse().map_err(StoreError::Corrupt)?,
            agent_id: self.agent_id,
            title: self.title,
            // Only the collector writes params; unreadable ones just lose the localised title.
            params: self
                .params
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
            state: AlertState::parse(&self.state)
                .ok_or_else(|| StoreError::Corrupt(format!("alert state {:?}", self.state)))?,
            count: u64::try_from(self.count).unwrap_or(0),
            opened_at: self.opened_at,
            last_seen: self.last_seen,
            reason: self.reason,
            assignee: self.assignee,
            other_agency: self.other_agency,
        })
    }
}

/// What both backends store for [`NewAlert::params`]: a JSON object, or NULL when empty.
pub(crate) fn params_json(p: &AlertParams) -> Option<String> {
    (!p.is_empty()).then(|| {
        serde_json::Value::from(p.clone().into_iter().collect::<serde_json::Map<_, _>>())
            .to_string()
    })
}

/// Resolving or marking an alert false positive needs a reason (audited).
pub(crate) fn require_reason(state: AlertState, reason: Option<&str>) -> Result<()> {
    if matches!(state, AlertState::Resolved | AlertState::FalsePositive)
        && reason.is_none_or(|r| r.trim().is_empty())
    {
        return Err(StoreError::Invalid(format!(
            "a reason is required to mark an alert {}",
            state.as_str()
        )));
    }
    Ok(())
}

/// Merges check results delivered in a batch into an agent's stored state (JSON array of
/// [`CheckState`]): the newer observation of a `(pack, rule)` wins, so a replayed or reordered
/// batch never moves a result back in time, and rules past [`MAX_RULES_PER_AGENT`] are counted
/// and left out. Returns the new state (`None` when the batch holds no check result) and the
/// count of results left out.
pub(crate) fn merge_check_state<'a>(
    old: Option<&str>,
    new: impl Iterator<Item = (&'a vigil_proto::CheckResult, i64)>,
) -> Result<(Option<String>, usize)> {
    let mut new = new.peekable();
    if new.peek().is_none() {
        return Ok((None, 0));
    }
    let mut state: Vec<CheckState> = match old {
        Some(s) => {
            serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("check state: {e}")))?
        }
        None => Vec::new(),
    };
    let mut index: std::collections::HashMap<(String, String), usize> = state
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.0.clone(), c.1.clone()), i))
        .collect();
    let mut over = 0;
    for (c, observed_at) in new {
        let entry = CheckState(
            c.pack.clone(),
            c.rule_id.clone(),
            c.group.clone(),
            c.severity,
            c.status,
            observed_at,
        );
        match index.get(&(c.pack.clone(), c.rule_id.clone())) {
            Some(&i) if state[i].5 <= observed_at => state[i] = entry,
            Some(_) => {}
            None if state.len() >= MAX_RULES_PER_AGENT => over += 1,
            None => {
                index.insert((c.pack.clone(), c.rule_id.clone()), state.len());
                state.push(entry);
            }
        }
    }
    serde_json::to_string(&state)
        .map(|s| (Some(s), over))
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What both backends read from a user row, before the role is checked.
pub(crate) fn decode_user(
    name: String,
    password_hash: String,
    role: &str,
    scope: String,
    created_at: i64,
    disabled: bool,
) -> Result<User> {
    Ok(User {
        name,
        password_hash,
        role: UserRole::parse(role)
            .ok_or_else(|| StoreError::Corrupt(format!("user role {role:?}")))?,
        scope,
        created_at,
        disabled,
    })
}

impl TokenRecord {
    /// Why this token cannot enroll an agent at `now` (Unix seconds), if it cannot. The one rule
    /// of token use: both backends and `token list` ask it.
    pub fn refusal(&self, now: i64) -> Option<TokenRefusal> {
        if self.revoked {
            Some(TokenRefusal::Revoked)
        } else if now >= self.expires_at {
            Some(TokenRefusal::Expired)
        } else if self.uses >= self.max_uses {
            Some(TokenRefusal::UsedUp)
        } else {
            None
        }
    }
}
