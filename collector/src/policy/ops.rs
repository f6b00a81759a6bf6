//! The policy changes the CLI and the API make, with their checks in one place: names, packs
//! and settings are validated before anything is stored, and a user acts only inside the
//! agency subtree of their scope (the CLI acts with the whole organisation as its scope).
//!
//! Who may do what: a policy belongs to a scope (the subtree it may be assigned within, fixed
//! by its first version). Adding a version or rolling back needs a user scope that covers the
//! policy's scope; assigning needs one that covers the target agency, which must itself lie in
//! the policy's scope. So an agency admin can never push a policy above their own subtree.

use crate::store::policy::{NewPolicyVersion, PolicyVersion};
use crate::store::{Store, StoreError};

use super::{PolicyContent, RawSettings, check_name, parse_packs, within};

/// Who acts.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// Name for the audit log (`cli` or a user).
    pub name: &'a str,
    /// Subtree they may act in (empty: the whole organisation).
    pub scope: &'a str,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The input is wrong (every problem listed).
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// Outside the actor's scope.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown policy, version or agency.
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Invalid(m) => Self::Invalid(vec![m]),
            e => Self::Store(e),
        }
    }
}

/// A new policy version as given.
#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    /// Policy name.
    pub name: String,
    /// Scope (subtree it may be assigned within); `None`: the policy's existing scope, or the
    /// actor's for a new policy.
    pub scope: Option<String>,
    /// Rule packs: (file name for errors, YAML text).
    pub packs: Vec<(String, String)>,
    /// Settings.
    pub settings: RawSettings,
    /// Free text.
    pub note: String,
}

/// Adds the next version of a policy.
///
/// # Errors
/// [`OpError::Invalid`] with every problem of the name, packs and settings (nothing stored);
/// [`OpError::Forbidden`] outside the actor's scope.
pub fn add(
    store: &dyn Store,
    actor: Actor<'_>,
    req: &AddRequest,
    now: i64,
) -> Result<PolicyVersion, OpError> {
    let mut errs = Vec::new();
    if let Err(e) = check_name(&req.name) {
        errs.push(e);
    }
    let packs = parse_packs(&req.packs).unwrap_or_else(|e| {
        errs.extend(e);
        Vec::new()
    });
    let settings = req.settings.validate().unwrap_or_else(|e| {
        errs.extend(e);
        Default::default()
    });
    if !errs.is_empty() {
        return Err(OpError::Invalid(errs));
    }
    let existing = store.policies().policy_history(&req.name)?;
    let scope = match (&req.scope, existing.last()) {
        (Some(s), _) => s.clone(),
        (None, Some(v)) => v.scope.clone(),
        (None, None) => actor.scope.to_owned(),
    };
    if !scope.is_empty() && store.agency(&scope)?.is_none() {
        return Err(OpError::NotFound(format!("agency {scope:?}")));
    }
    if !within(&scope, actor.scope) {
        return Err(forbidden(actor, &scope));
    }
    let body = PolicyContent { packs, settings }.to_body();
    let v = NewPolicyVersion {
        name: &req.name,
        scope: &scope,
        body: &body,
        note: &req.note,
        action: "policy.add",
    };
    Ok(store.policies().policy_add(&v, actor.name, now)?)
}

/// Assigns a policy (or, with `None`, nothing) to the subtree at `agency`.
///
/// # Errors
/// [`OpError::Forbidden`] when the agency is outside the actor's scope or the policy's;
/// [`OpError::NotFound`] for an unknown agency or policy.
pub fn assign(
    store: &dyn Store,
    actor: Actor<'_>,
    agency: &str,
    policy: Option<&str>,
    now: i64,
) -> Result<i64, OpError> {
    if !within(agency, actor.scope) {
        return Err(forbidden(actor, agency));
    }
    if let Some(name) = policy {
        let history = store.policies().policy_history(name)?;
        let Some(head) = history.last() else {
            return Err(OpError::NotFound(format!("policy {name:?}")));
        };
        if !within(agency, &head.scope) {
            return Err(OpError::Forbidden(format!(
                "policy {name:?} may only be assigned within {:?}",
                head.scope
            )));
        }
    }
    Ok(store
        .policies()
        .policy_assign(agency, policy, actor.name, now)?)
}

/// Makes the content of version `to` the newest version again, as a new, higher version (the
/// history only grows, and agents only accept higher versions).
///
/// # Errors
/// [`OpError::NotFound`] for an unknown policy or version; [`OpError::Forbidden`] outside the
/// actor's scope.
pub fn rollback(
    store: &dyn Store,
    actor: Actor<'_>,
    name: &str,
    to: i64,
    now: i64,
) -> Result<PolicyVersion, OpError> {
    let history = store.policies().policy_history(name)?;
    let Some(head) = history.last() else {
        return Err(OpError::NotFound(format!("policy {name:?}")));
    };
    if !within(&head.scope, actor.scope) {
        return Err(forbidden(actor, &head.scope));
    }
    let Some(old) = history.iter().find(|v| v.version == to) else {
        return Err(OpError::NotFound(format!(
            "version {to} of policy {name:?}"
        )));
    };
    let note = format!("rollback to v{to}");
    let v = NewPolicyVersion {
        name,
        scope: &head.scope,
        body: &old.body,
        note: &note,
        action: "policy.rollback",
    };
    Ok(store.policies().policy_add(&v, actor.name, now)?)
}

fn forbidden(actor: Actor<'_>, what: &str) -> OpError {
    OpError::Forbidden(format!(
        "{what:?} is outside the scope {:?} of {}",
        actor.scope, actor.name
    ))
}
