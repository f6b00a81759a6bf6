//! Central policies in the API (issue 18): list, history, add a version, roll back, assign,
//! and an agency's status (the policy in force, hosts running it, an older one, none).
//!
//! Reading needs a user who sees the policy's scope (or lies in it: an agency sees the
//! policies of the province above it); changing needs an admin, and [`crate::policy::ops`]
//! keeps every change inside the admin's subtree. Changes are audited by the store.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{Modify, OpenApi, ToSchema};

use super::extract::{ErrorBody, JsonBody, Principal, blocking, json_response, now_s};
use super::{ApiError, AppState};
use crate::policy::ops::{self, Actor, AddRequest, OpError};
use crate::policy::{PolicyContent, RawSettings, within};
use crate::store::policy::PolicyVersion;

/// Largest body of `POST /api/v1/policies` (rule packs are larger than the API's other
/// bodies; the body is read only after the caller is authenticated).
pub(crate) const POLICY_BODY: usize = 4 << 20;

/// The policy routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/policies",
            get(list)
                .post(add)
                .layer(DefaultBodyLimit::max(POLICY_BODY)),
        )
        .route("/api/v1/policies/assign", post(assign))
        .route("/api/v1/policies/status", get(status))
        .route("/api/v1/policies/{name}", get(history))
        .route("/api/v1/policies/{name}/rollback", post(rollback))
}

/// The OpenAPI part of these routes, merged into the API document.
#[derive(OpenApi)]
#[openapi(
    paths(list, add, history, rollback, assign, status),
    components(schemas(
        PolicyList, PolicyAdd, PackFile, VersionOut, Rollback, Assign, Assigned
    ))
)]
pub(crate) struct PolicyDoc;

impl Modify for PolicyDoc {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.merge(<Self as OpenApi>::openapi());
    }
}

/// One policy version as the API shows it.
#[derive(Serialize, ToSchema)]
struct VersionOut {
    name: String,
    version: i64,
    /// Subtree it may be assigned within (empty: the whole organisation).
    scope: String,
    created_at: i64,
    actor: String,
    note: String,
    /// Pack ids and versions (`id@version`).
    packs: Vec<String>,
    /// Settings (seconds, bytes).
    #[schema(value_type = Object)]
    settings: crate::policy::Settings,
}

impl VersionOut {
    fn of(v: &PolicyVersion) -> Self {
        let c = PolicyContent::from_body(&v.body).unwrap_or_default();
        Self {
            name: v.name.clone(),
            version: v.version,
            scope: v.scope.clone(),
            created_at: v.created_at,
            actor: v.actor.clone(),
            note: v.note.clone(),
            packs: c
                .packs
                .iter()
                .map(|p| format!("{}@{}", p.id, p.version))
                .collect(),
            settings: c.settings,
        }
    }
}

/// Policies (newest version of each) and assignments the caller sees.
#[derive(Serialize, ToSchema)]
struct PolicyList {
    policies: Vec<VersionOut>,
    /// `{agency, policy (null: unassigned), rev, assigned_at, actor}`.
    #[schema(value_type = Vec<Object>)]
    assignments: Vec<crate::store::policy::PolicyAssignment>,
}

/// A rule pack file.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PackFile {
    /// File name, for error messages.
    file: String,
    /// YAML text.
    text: String,
}

/// A new policy version.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyAdd {
    name: String,
    /// Subtree it may be assigned within (default: the policy's, or the caller's scope).
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    packs: Vec<PackFile>,
    /// `{checks: {interval, level}, fim: {paths, exclude, storm_threshold}, netwatch:
    /// {interval}, inventory: {interval}, spool: {max_size}}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: RawSettings,
    #[serde(default)]
    note: String,
}

/// The version whose content comes back.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rollback {
    to: i64,
}

/// An assignment (`policy: null` removes the agency's own).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Assign {
    agency: String,
    policy: Option<String>,
}

/// The revision the assignment took.
#[derive(Serialize, ToSchema)]
struct Assigned {
    agency: String,
    policy: Option<String>,
    revision: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyQuery {
    agency: Option<String>,
}

fn op_error(e: OpError) -> ApiError {
    match e {
        OpError::Invalid(errs) => ApiError::bad_request(errs.join("\n")),
        OpError::Forbidden(m) => ApiError::forbidden(&m),
        OpError::NotFound(_) => ApiError::not_found(),
        OpError::Store(e) => ApiError::Internal(e.into()),
    }
}

/// A policy of scope `scope` concerns the caller when one subtree holds the other.
fn related(p: &Principal, scope: &str) -> bool {
    p.sees(scope) || within(p.scope(), scope)
}

/// `GET /api/v1/policies`.
#[utoipa::path(get, path = "/api/v1/policies", security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Policies and assignments concerning the caller's scope", body = PolicyList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ))]
async fn list(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let (latest, assignments) = blocking(move || {
        let s = store.policies();
        Ok((s.policies_latest()?, s.policy_assignments()?))
    })
    .await?;
    let policies = latest
        .iter()
        .filter(|v| related(&p, &v.scope))
        .map(VersionOut::of)
        .collect();
    let assignments = assignments
        .into_iter()
        .filter(|a| related(&p, &a.agency))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        PolicyList {
            policies,
            assignments,
        },
    ))
}

/// `POST /api/v1/policies`: adds the next version of a policy (admins; within their scope).
#[utoipa::path(post, path = "/api/v1/policies", security(("session" = []), ("bearer" = [])),
    request_body = PolicyAdd,
    responses(
        (status = 201, description = "Stored", body = VersionOut),
        (status = 400, description = "Bad name, packs (file:line) or settings; nothing stored", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin, outside the scope, or no X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such scope agency", body = ErrorBody),
    ))]
async fn add(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<PolicyAdd>,
) -> Result<Response, ApiError> {
    p.require_admin("change policies")?;
    let req = AddRequest {
        name: req.name,
        scope: req.scope,
        packs: req.packs.into_iter().map(|f| (f.file, f.text)).collect(),
        settings: req.settings,
        note: req.note,
    };
    let store = st.store.clone();
    let v = tokio::task::spawn_blocking(move || {
        let actor = Actor {
            name: &p.user.name,
            scope: &p.user.scope,
        };
        ops::add(&*store, actor, &req, now_s())
    })
    .await?
    .map_err(op_error)?;
    Ok(json_response(StatusCode::CREATED, VersionOut::of(&v)))
}

/// `GET /api/v1/policies/{name}`: every version, oldest first.
#[utoipa::path(get, path = "/api/v1/policies/{name}", security(("session" = []), ("bearer" = [])),
    params(("name" = String, Path, description = "Policy name")),
    responses(
        (status = 200, description = "Every version, oldest first", body = Vec<VersionOut>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such policy concerning the caller", body = ErrorBody),
    ))]
async fn history(
    State(st): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let h = blocking(move || store.policies().policy_history(&name)).await?;
    match h.last() {
        Some(v) if related(&p, &v.scope) => {
            let out: Vec<VersionOut> = h.iter().map(VersionOut::of).collect();
            Ok(json_response(StatusCode::OK, out))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `POST /api/v1/policies/{name}/rollback`: the content of an old version as a new version.
#[utoipa::path(post, path = "/api/v1/policies/{name}/rollback", security(("session" = []), ("bearer" = [])),
    params(("name" = String, Path, description = "Policy name")),
    request_body = Rollback,
    responses(
        (status = 201, description = "The new version", body = VersionOut),
        (status = 400, description = "A body that cannot be read", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin, outside the scope, or no X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such policy or version", body = ErrorBody),
    ))]
async fn rollback(
    State(st): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<Rollback>,
) -> Result<Response, ApiError> {
    p.require_admin("change policies")?;
    let store = st.store.clone();
    let v = tokio::task::spawn_blocking(move || {
        let actor = Actor {
            name: &p.user.name,
            scope: &p.user.scope,
        };
        ops::rollback(&*store, actor, &name, req.to, now_s())
    })
    .await?
    .map_err(op_error)?;
    Ok(json_response(StatusCode::CREATED, VersionOut::of(&v)))
}

/// `POST /api/v1/policies/assign`: assigns a policy to an agency subtree (admins of it).
#[utoipa::path(post, path = "/api/v1/policies/assign", security(("session" = []), ("bearer" = [])),
    request_body = Assign,
    responses(
        (status = 200, description = "Assigned; running collectors push it within seconds", body = Assigned),
        (status = 400, description = "A body that cannot be read", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin, outside the caller's or the policy's scope, or no X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such agency or policy", body = ErrorBody),
    ))]
async fn assign(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<Assign>,
) -> Result<Response, ApiError> {
    p.require_admin("assign policies")?;
    let store = st.store.clone();
    let (agency, policy) = (req.agency.clone(), req.policy.clone());
    let revision = tokio::task::spawn_blocking(move || {
        let actor = Actor {
            name: &p.user.name,
            scope: &p.user.scope,
        };
        ops::assign(&*store, actor, &req.agency, req.policy.as_deref(), now_s())
    })
    .await?
    .map_err(op_error)?;
    Ok(json_response(
        StatusCode::OK,
        Assigned {
            agency,
            policy,
            revision,
        },
    ))
}

/// `GET /api/v1/policies/status[?agency=PATH]`: the policy in force for an agency and which
/// of its subtree's hosts run it.
#[utoipa::path(get, path = "/api/v1/policies/status", security(("session" = []), ("bearer" = [])),
    params(("agency" = Option<String>, Query, description = "Agency path (default: the caller's scope)")),
    responses(
        (status = 200, description = "Version in force, policies merged, hosts current / older / none", body = Object),
        (status = 400, description = "A query string that cannot be read, or no agency for a whole-organisation user", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such agency in the caller's scope", body = ErrorBody),
    ))]
async fn status(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AgencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let agency = match q.agency {
        Some(a) if p.sees(&a) => a,
        Some(_) => return Err(ApiError::not_found()),
        None if !p.scope().is_empty() => p.scope().to_owned(),
        None => return Err(ApiError::bad_request("give ?agency=PATH")),
    };
    let store = st.store.clone();
    let out = blocking(move || {
        if store.agency(&agency)?.is_none() {
            return Ok(None);
        }
        crate::policy::status::agency_status(&*store, &agency).map(Some)
    })
    .await?;
    out.map(|s| json_response(StatusCode::OK, s))
        .ok_or_else(ApiError::not_found)
}
