//! `/api/v1`: login, hosts, agencies, alerts and enrollment tokens. docs/api.md describes the
//! contract; authentication, CSRF and scope are the extractors of [`super::extract`].
//!
//! Every route takes a [`Principal`] first, so nothing reads the body or touches the store for
//! an unauthenticated request. The principal's scope filters every listing and hides objects
//! outside it (404, as if they did not exist); the role decides what it may change (403).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::extract::{
    ErrorBody, JsonBody, Principal, SESSION_COOKIE, blocking, busy, json_response, now_s,
};
use super::{ApiError, AppState};
use crate::auth;
use crate::scoring::AgencyScores;
use crate::store::{self, Alert, AlertState, StoreError, UserRole};
use crate::views::HostRow;

/// Largest request body accepted on any route, bytes: every request body of this API is a small
/// object. Applied to the whole router in [`super::app`], so no route can be left out.
pub(super) const MAX_BODY: usize = 16 * 1024;

/// The `/api/v1` routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/hosts", get(hosts))
        .route("/api/v1/agencies", get(agencies))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}/ack", post(alert_ack))
        .route("/api/v1/alerts/{id}/resolve", post(alert_resolve))
        .route("/api/v1/alerts/{id}/assign", post(alert_assign))
        .route("/api/v1/tokens", post(token_create))
}

/// Who is logged in.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionInfo {
    /// User name.
    name: String,
    /// `admin`, `analyst` or `viewer`.
    #[schema(value_type = String)]
    role: UserRole,
    /// Agency subtree; empty for the whole organisation.
    scope: String,
    /// CSRF token of the cookie session (null for API tokens).
    csrf: Option<String>,
}

/// `{"hosts": [...]}` (schema of `hosts --json`, docs/cli-json.md).
#[derive(Serialize, ToSchema)]
pub(super) struct HostList {
    #[schema(value_type = Vec<Object>)]
    hosts: Vec<HostRow>,
}

/// Agency scores computed now (docs/scoring.md).
#[derive(Serialize, ToSchema)]
pub(super) struct AgencyList {
    /// When these scores were computed, ms since the epoch.
    computed_at: i64,
    /// Rule packs behind the results.
    rule_pack_version: String,
    /// Scoring configuration version.
    scoring_version: String,
    #[schema(value_type = Vec<Object>)]
    agencies: Vec<AgencyScores>,
}

/// `{"alerts": [...]}`, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct AlertList {
    #[schema(value_type = Vec<Object>)]
    alerts: Vec<AlertRow>,
}

/// An alert with the host it is about.
#[derive(Serialize)]
struct AlertRow {
    #[serde(flatten)]
    alert: Alert,
    /// Host name of the agent.
    hostname: String,
    /// Agency path of the agent.
    agency: String,
}

/// One alert after a change.
#[derive(Serialize, ToSchema)]
pub(super) struct AlertBody {
    #[schema(value_type = Object)]
    alert: Alert,
}

/// A new enrollment token (its text is shown only here).
#[derive(Serialize, ToSchema)]
pub(super) struct TokenCreated {
    /// Public id (for listing and revoking).
    id: String,
    /// The token to give `vigil-agent enroll`.
    token: String,
    /// Agency the enrolled hosts join.
    agency: String,
    /// Expiry, Unix seconds.
    expires_at: i64,
    /// Hosts that may enroll with it.
    max_uses: u32,
    /// Shell command that installs and enrolls an agent with this token (run in the directory
    /// of the unpacked agent package); it passes the token on standard input, never in argv.
    install_command: String,
    /// PowerShell command (elevated, in the directory of `vigil-agent.msi`) that installs,
    /// enrolls and starts the Windows agent; it asks for the token.
    install_command_windows: String,
}

fn session_cookie_header(value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    ))
    .map_err(|e| ApiError::Internal(e.into()))
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    name: String,
    password: String,
}

/// `POST /api/v1/login`: a session cookie and, in the body, the CSRF token.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest, responses(
    (status = 200, description = "Logged in; sets the vigil_session cookie", body = SessionInfo),
    (status = 400, description = "Not a JSON body of this shape", body = ErrorBody),
    (status = 401, description = "Wrong name or password, or a disabled user", body = ErrorBody),
    (status = 429, description = "Too many failed logins from this address or for this name; see Retry-After", body = ErrorBody),
    (status = 503, description = "Every password-hashing slot is busy; see Retry-After", body = ErrorBody),
))]
pub(super) async fn login(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = now_s();
    let store = st.store.clone();
    let started = st
        .hasher
        .run(move || -> store::Result<_> {
            let Some(user) = auth::authenticate(&*store, &req.name, &req.password)? else {
                return Ok(None);
            };
            let (secret, session) = auth::start_session(&*store, &user.name, now)?;
            store.audit(&user.name, "session.login", &json!({}), now)?;
            Ok(Some((user, secret, session)))
        })
        .await
        .map_err(|auth::Busy| busy())??;
    let Some((user, secret, session)) = started else {
        // Unknown user, disabled user and wrong password look the same from outside.
        tracing::info!("Login refused.");
        return Err(ApiError::Client(
            StatusCode::UNAUTHORIZED,
            "invalid name or password".into(),
        ));
    };
    let mut r = json_response(
        StatusCode::OK,
        SessionInfo {
            name: user.name,
            role: user.role,
            scope: user.scope,
            csrf: Some(session.csrf),
        },
    );
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie_header(&secret, auth::SESSION_TTL_S)?,
    );
    Ok(r)
}

/// `POST /api/v1/logout`: ends the cookie session (a no-op for API tokens).
#[utoipa::path(post, path = "/api/v1/logout", security(("session" = []), ("bearer" = [])), responses(
    (status = 204, description = "Logged out; clears the cookie"),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Missing or wrong X-CSRF-Token", body = ErrorBody),
))]
pub(super) async fn logout(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(s) = p.session {
        let (store, now, name) = (st.store.clone(), now_s(), p.user.name);
        blocking(move || {
            store.session_delete(&s.id_hash, now)?;
            store.audit(&name, "session.logout", &json!({}), now)
        })
        .await?;
        r.headers_mut()
            .insert(header::SET_COOKIE, session_cookie_header("", 0)?);
    }
    Ok(r)
}

/// `GET /api/v1/me`: who the caller is (and the CSRF token of a cookie session, so a reloaded
/// page can find it again; cross-origin pages cannot read this response).
#[utoipa::path(get, path = "/api/v1/me", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "The caller", body = SessionInfo),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
pub(super) async fn me(p: Principal) -> Response {
    json_response(
        StatusCode::OK,
        SessionInfo {
            name: p.user.name,
            role: p.user.role,
            scope: p.user.scope,
            csrf: p.session.map(|s| s.csrf),
        },
    )
}

/// `GET /api/v1/hosts`: the hosts of the caller's scope with their scores.
#[utoipa::path(get, path = "/api/v1/hosts", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "Live hosts of the caller's scope", body = HostList),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
pub(super) async fn hosts(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let scores = st.scores.get(st.store.clone(), st.scoring.clone()).await?;
    let store = st.store.clone();
    let rows = blocking(move || crate::views::host_rows(&*store, false, &scores)).await?;
    let rows: Vec<_> = rows.into_iter().filter(|h| p.sees(&h.agency)).collect();
    Ok(json_response(StatusCode::OK, HostList { hosts: rows }))
}

/// `GET /api/v1/agencies`: every agency of the caller's scope with its scores.
#[utoipa::path(get, path = "/api/v1/agencies", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "Agencies of the caller's scope with the latest scores", body = AgencyList),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
pub(super) async fn agencies(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Response, ApiError> {
    let scores = st.scores.get(st.store.clone(), st.scoring.clone()).await?;
    let rows: Vec<_> = scores
        .agencies
        .iter()
        .filter(|a| p.sees(&a.id))
        .cloned()
        .collect();
    Ok(json_response(
        StatusCode::OK,
        AgencyList {
            computed_at: scores.computed_at,
            rule_pack_version: scores.rule_pack_version.clone(),
            scoring_version: scores.scoring_version.clone(),
            agencies: rows,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsQuery {
    state: Option<String>,
}

/// `GET /api/v1/alerts[?state=open]`: alerts on hosts of the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", security(("session" = []), ("bearer" = [])),
    params(("state" = Option<String>, Query,
            description = "open, acknowledged, resolved or false_positive")),
    responses(
        (status = 200, description = "Alerts of the caller's scope", body = AlertList),
        (status = 400, description = "Unknown state", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ))]
pub(super) async fn alerts(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(AlertState::parse(s).ok_or_else(|| {
            ApiError::bad_request("state must be open, acknowledged, resolved or false_positive")
        })?),
    };
    let store = st.store.clone();
    let (all, agents) = blocking(move || Ok((store.alerts(state)?, store.agents_brief()?))).await?;
    let agents: HashMap<String, (String, String)> = agents
        .into_iter()
        .map(|a| (a.id, (a.hostname, a.agency)))
        .collect();
    let rows: Vec<_> = all
        .into_iter()
        .filter_map(|alert| {
            // An alert of the collector itself (an export output's drops) concerns no host:
            // users of the whole organisation see it, as they may act on it.
            let (hostname, agency) = agents
                .get(&alert.agent_id)
                .cloned()
                .or_else(|| alert.agent_id.is_empty().then(Default::default))?;
            sees_alert(&p, &agency, &alert).then_some(AlertRow {
                alert,
                hostname,
                agency,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, AlertList { alerts: rows }))
}

/// True when the principal sees an alert: its host's agency, or the second agency it concerns
/// (an enrollment from there presented this host's machine id), is in scope.
fn sees_alert(p: &Principal, agency: &str, alert: &Alert) -> bool {
    p.sees(agency) || alert.other_agency.as_deref().is_some_and(|o| p.sees(o))
}

/// What an analyst does to an alert.
enum AlertAction {
    Ack,
    Resolve(String),
    Assign(Option<String>),
}

/// Why the alert is resolved (audited).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolveRequest {
    reason: String,
}

/// Who takes the alert (null: nobody).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignRequest {
    assignee: Option<String>,
}

/// `POST /api/v1/alerts/{id}/ack`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", security(("session" = []), ("bearer" = [])), params(("id" = i64, Path, description = "Alert id")), responses(
    (status = 200, description = "The changed alert", body = AlertBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "A viewer, or a missing X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such alert in the caller's scope", body = ErrorBody),
))]
pub(super) async fn alert_ack(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    act_on_alert(st, p, &id, AlertAction::Ack).await
}

/// `POST /api/v1/alerts/{id}/resolve` with `{"reason": "..."}`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", security(("session" = []), ("bearer" = [])), params(("id" = i64, Path, description = "Alert id")),
    request_body = ResolveRequest, responses(
    (status = 200, description = "The changed alert", body = AlertBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "A viewer, or a missing X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such alert in the caller's scope", body = ErrorBody),
    (status = 400, description = "Blank reason", body = ErrorBody),
))]
pub(super) async fn alert_resolve(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ResolveRequest>,
) -> Result<Response, ApiError> {
    act_on_alert(st, p, &id, AlertAction::Resolve(req.reason)).await
}

/// `POST /api/v1/alerts/{id}/assign` with `{"assignee": "name"}` or `{"assignee": null}`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/assign", security(("session" = []), ("bearer" = [])), params(("id" = i64, Path, description = "Alert id")),
    request_body = AssignRequest, responses(
    (status = 200, description = "The changed alert", body = AlertBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "A viewer, or a missing X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such alert in the caller's scope", body = ErrorBody),
    (status = 400, description = "Not a user name", body = ErrorBody),
))]
pub(super) async fn alert_assign(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AssignRequest>,
) -> Result<Response, ApiError> {
    if let Some(a) = &req.assignee
        && !auth::valid_user_name(a)
    {
        return Err(ApiError::bad_request("assignee must be a user name"));
    }
    act_on_alert(st, p, &id, AlertAction::Assign(req.assignee)).await
}

async fn act_on_alert(
    st: AppState,
    p: Principal,
    id: &str,
    action: AlertAction,
) -> Result<Response, ApiError> {
    if !p.user.role.may_act_on_alerts() {
        return Err(ApiError::forbidden("viewers cannot change alerts"));
    }
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    // A resolved alert no longer weighs on its host's score: the next page must not show the
    // cached score from before.
    let rescore = matches!(action, AlertAction::Resolve(_));
    let cache = st.scores.clone();
    let (store, now, actor, scope) = (st.store.clone(), now_s(), p.user.name, p.user.scope);
    let alert = blocking(move || {
        // Alerts outside the caller's scope are answered like missing ones.
        let visible = |alert: &store::Alert| -> store::Result<bool> {
            let agency = store.agent(&alert.agent_id)?.map(|a| a.agency);
            Ok(
                auth::in_scope(agency.as_deref().unwrap_or_default(), &scope)
                    || alert
                        .other_agency
                        .as_deref()
                        .is_some_and(|o| auth::in_scope(o, &scope)),
            )
        };
        let find = || -> store::Result<Option<store::Alert>> {
            Ok(store.alerts(None)?.into_iter().find(|a| a.id == id))
        };
        match find()? {
            Some(a) if visible(&a)? => {}
            _ => return Err(StoreError::NotFound(format!("alert #{id}"))),
        }
        let done = match &action {
            AlertAction::Ack => {
                store.alert_set_state(id, AlertState::Acknowledged, &actor, None, now)?
            }
            AlertAction::Resolve(reason) => {
                store.alert_set_state(id, AlertState::Resolved, &actor, Some(reason), now)?
            }
            AlertAction::Assign(who) => store.alert_assign(id, who.as_deref(), &actor, now)?,
        };
        if !done {
            return Err(StoreError::NotFound(format!("alert #{id}")));
        }
        find()?.ok_or_else(|| StoreError::NotFound(format!("alert #{id}")))
    })
    .await?;
    if rescore {
        cache.invalidate();
    }
    Ok(json_response(StatusCode::OK, AlertBody { alert }))
}

/// An enrollment token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenRequest {
    /// Agency path the enrolled hosts join.
    agency: String,
    /// Lifetime such as `24h` (default 24 h).
    ttl: Option<String>,
    /// Hosts that may enroll with it (default 1).
    uses: Option<u32>,
}

/// `POST /api/v1/tokens`: an enrollment token for an agency of the caller's scope (admins).
#[utoipa::path(post, path = "/api/v1/tokens", security(("session" = []), ("bearer" = [])), request_body = TokenRequest, responses(
    (status = 201, description = "Created; the token text is shown only here", body = TokenCreated),
    (status = 400, description = "Bad ttl or uses", body = ErrorBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin, agency outside the scope, or no X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such agency", body = ErrorBody),
))]
pub(super) async fn token_create(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Response, ApiError> {
    p.require_admin("create enrollment tokens")?;
    if !p.sees(&req.agency) {
        return Err(ApiError::forbidden("the agency is outside your scope"));
    }
    let ttl = vigil_proto::units::parse_duration(req.ttl.as_deref().unwrap_or("24h"))
        .map_err(|e| ApiError::bad_request(format!("ttl: {e}")))?;
    let uses = req.uses.unwrap_or(1);
    let enroll = st
        .enroll
        .clone()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("token creation without a loaded CA")))?;
    let (store, now, actor, agency) = (st.store.clone(), now_s(), p.user.name, req.agency);
    let created = tokio::task::spawn_blocking(move || {
        let made = crate::enroll::create_token(
            &*store,
            &enroll.ca,
            &agency,
            ttl,
            uses,
            enroll.advertise.clone(),
            now,
        );
        if let Ok((_, rec)) = &made {
            store.audit(
                &actor,
                "token.create",
                &json!({"id": rec.id, "agency": agency, "uses": uses, "expires_at": rec.expires_at}),
                now,
            )?;
        }
        Ok::<_, StoreError>(made)
    })
    .await??;
    match created {
        Ok((text, rec)) => Ok(json_response(
            StatusCode::CREATED,
            TokenCreated {
                id: rec.id,
                install_command: super::admin::install_command(&text),
                install_command_windows: super::admin::install_command_windows().to_owned(),
                token: text,
                agency: rec.agency,
                expires_at: rec.expires_at,
                max_uses: rec.max_uses,
            },
        )),
        Err(crate::enroll::TokenCreateError::NoAgency(_)) => Err(ApiError::not_found()),
        Err(crate::enroll::TokenCreateError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(e) => Err(e.into()),
    }
}
