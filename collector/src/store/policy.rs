//! Storage of central policies (issue 18), behind [`PolicyStore`], which both backends implement
//! with the statements of `sql.rs` (`sqlite/policy.rs`, `postgres/policy.rs`).
//!
//! A policy is a name with versions 1, 2, 3…: each `add` (and each rollback, which re-adds an
//! old body) is a new row, never an update, so the history is complete. Assignments bind a
//! policy name to an agency subtree; an unassignment keeps its row with no policy.
//!
//! Every change also takes the next value of one global *revision* (`rev`): the version of the
//! bundle an agency receives is the highest `rev` among the assignment rows on its path and the
//! policy versions they resolve to. Rows are never deleted and their `rev` only grows, so that
//! bundle version only grows too, whatever is assigned, re-assigned or unassigned above it.

use serde::Serialize;

use super::Result;

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    /// Policy name.
    pub name: String,
    /// Version of this policy, from 1.
    pub version: i64,
    /// Global revision taken when it was added.
    pub rev: i64,
    /// Agency subtree the policy may be assigned within (empty: the whole organisation).
    pub scope: String,
    /// The content (JSON, see `crate::policy::PolicyContent`).
    pub body: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Who added it.
    pub actor: String,
    /// Free text (`rollback to v2` for a rollback).
    pub note: String,
}

/// A policy version to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicyVersion<'a> {
    /// Policy name.
    pub name: &'a str,
    /// Subtree it may be assigned within; must equal the scope of its earlier versions.
    pub scope: &'a str,
    /// Content (JSON).
    pub body: &'a str,
    /// Free text.
    pub note: &'a str,
    /// Audit action (`policy.add`, `policy.rollback`).
    pub action: &'a str,
}

/// A policy bound to an agency subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyAssignment {
    /// Agency path (the root of the subtree).
    pub agency: String,
    /// Policy name; `None` after an unassignment.
    pub policy: Option<String>,
    /// Global revision taken when it was (un)assigned.
    pub rev: i64,
    /// Unix seconds.
    pub assigned_at: i64,
    /// Who did it.
    pub actor: String,
}

/// The policy bundle version a host last reported as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedPolicy {
    /// Agent id.
    pub agent_id: String,
    /// Bundle version.
    pub version: i64,
    /// Unix seconds of the heartbeat that reported it.
    pub reported_at: i64,
}

/// Policies, assignments and applied versions.
pub trait PolicyStore: Send + Sync {
    /// Adds the next version of a policy (audited under `actor` as `p.action`); returns it.
    /// [`super::StoreError::Invalid`] when `p.scope` differs from the policy's earlier scope.
    fn policy_add(&self, p: &NewPolicyVersion<'_>, actor: &str, now: i64) -> Result<PolicyVersion>;
    /// Every version of one policy, oldest first (empty when unknown).
    fn policy_history(&self, name: &str) -> Result<Vec<PolicyVersion>>;
    /// The newest version of every policy, by name.
    fn policies_latest(&self) -> Result<Vec<PolicyVersion>>;
    /// Assigns `policy` (or nothing) to the subtree at `agency`, audited; returns the revision.
    /// [`super::StoreError::NotFound`] for an unknown agency or policy.
    fn policy_assign(
        &self,
        agency: &str,
        policy: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<i64>;
    /// Every assignment row (unassigned ones too), by agency.
    fn policy_assignments(&self) -> Result<Vec<PolicyAssignment>>;
    /// The highest revision taken so far (0: no policy ever).
    fn policy_rev(&self) -> Result<i64>;
    /// Records the bundle version an agent reports as applied (only when it changed).
    fn policy_applied_set(&self, agent_id: &str, version: i64, now: i64) -> Result<()>;
    /// The applied version of every agent that reported one.
    fn policy_applied(&self) -> Result<Vec<AppliedPolicy>>;
}

/// Checks a new version's scope against the policy's earlier versions.
pub(crate) fn check_scope(name: &str, earlier: Option<&str>, scope: &str) -> Result<()> {
    match earlier {
        Some(s) if s != scope => Err(super::StoreError::Invalid(format!(
            "policy {name:?} belongs to scope {s:?}, not {scope:?}"
        ))),
        _ => Ok(()),
    }
}
