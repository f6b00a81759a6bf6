//! `/api/v1`: authentication (session cookie or bearer API token), CSRF, RBAC and agency scope,
//! then the routes. docs/api.md describes the contract.
//!
//! Every route takes a [`Principal`] first, so nothing reads the body or touches the store for
//! an unauthenticated request. The principal's scope filters every listing and hides objects
//! outside it (404, as if they did not exist); the role decides what it may change (403).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::admin::AdminDoc;
use super::vulns::VulnDoc;
use super::{ApiError, AppState};
use crate::auth;
use crate::scoring::AgencyScores;
use crate::store::{self, Alert, AlertState, SessionRecord, StoreError, User, UserRole};
use crate::views::HostRow;

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "vigil_session";

/// Header carrying the session's CSRF token on state-changing requests.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

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
        .route("/api/v1/openapi.json", get(openapi_json))
}

/// The OpenAPI document, generated from the handlers' annotations below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil collector API",
        description = "Hosts, agency scores, alerts and enrollment tokens of one Vigil collector \
                       (docs/api.md). Cookie-authenticated requests other than GET need the \
                       X-CSRF-Token header."
    ),
    paths(
        login,
        logout,
        me,
        hosts,
        agencies,
        alerts,
        alert_ack,
        alert_resolve,
        alert_assign,
        token_create,
        super::pages::overview,
        super::pages::agency,
        super::pages::host,
        super::report::get_report
    ),
    components(schemas(
        LoginRequest,
        SessionInfo,
        ErrorBody,
        HostList,
        AgencyList,
        AlertList,
        AlertBody,
        ResolveRequest,
        AssignRequest,
        TokenRequest,
        TokenCreated,
        super::pages::Overview,
        super::pages::AgencyRow,
        super::pages::AgencyPage,
        super::pages::HostPage
    )),
    modifiers(&SecuritySchemes, &AdminDoc, &VulnDoc)
)]
pub(crate) struct ApiDoc;

/// Declares the two ways to authenticate.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = doc.components.as_mut() {
            c.add_security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
            );
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// `GET /api/v1/openapi.json` (public: it describes the API, not its data).
async fn openapi_json() -> Response {
    json_response(StatusCode::OK, ApiDoc::openapi())
}

/// Every error body.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
}

/// Who is logged in.
#[derive(Serialize, ToSchema)]
struct SessionInfo {
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
struct HostList {
    #[schema(value_type = Vec<Object>)]
    hosts: Vec<HostRow>,
}

/// Agency scores computed now (docs/scoring.md).
#[derive(Serialize, ToSchema)]
struct AgencyList {
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
struct AlertList {
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
struct AlertBody {
    #[schema(value_type = Object)]
    alert: Alert,
}

/// A new enrollment token (its text is shown only here).
#[derive(Serialize, ToSchema)]
struct TokenCreated {
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

/// The authenticated user of a request.
pub(crate) struct Principal {
    pub(crate) user: User,
    /// The session when authenticated by cookie (`None` for an API token).
    pub(crate) session: Option<SessionRecord>,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let now = now_s();
        // An Authorization header decides alone: a request carrying a bad token is refused even
        // if it also has a cookie.
        if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
            let token = h
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .ok_or_else(ApiError::unauthenticated)?;
            let hash = auth::secret_hash(token);
            let store = st.store.clone();
            let user = blocking(move || match store.api_token(&hash)? {
                Some(t) if !t.revoked => store.user(&t.user),
                _ => Ok(None),
            })
            .await?;
            let user = user
                .filter(|u| !u.disabled)
                .ok_or_else(ApiError::unauthenticated)?;
            return Ok(Self {
                user,
                session: None,
            });
        }
        let secret = session_cookie(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        if secret.len() > 256 {
            return Err(ApiError::unauthenticated());
        }
        let hash = auth::secret_hash(secret);
        let store = st.store.clone();
        let found = blocking(move || {
            let Some(s) = store.session(&hash, now)? else {
                return Ok(None);
            };
            Ok(store.user(&s.user)?.map(|u| (u, s)))
        })
        .await?;
        let (user, session) = found
            .filter(|(u, _)| !u.disabled)
            .ok_or_else(ApiError::unauthenticated)?;
        // A cookie is sent by the browser whoever made the page; only our own pages know the
        // CSRF token, so every state-changing request by cookie must echo it.
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !auth::secrets_equal(sent, &session.csrf) {
                return Err(ApiError::forbidden("missing or wrong X-CSRF-Token header"));
            }
        }
        Ok(Self {
            user,
            session: Some(session),
        })
    }
}

impl Principal {
    /// True when `agency` is inside the principal's scope.
    pub(crate) fn sees(&self, agency: &str) -> bool {
        auth::in_scope(agency, &self.user.scope)
    }

    /// 403 "only admins {what}" unless the principal is an admin.
    pub(crate) fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.user.role.may_administer() {
            Ok(())
        } else {
            Err(ApiError::forbidden(&format!("only admins {what}")))
        }
    }

    /// The principal's agency subtree; empty for the whole organisation.
    pub(crate) fn scope(&self) -> &str {
        &self.user.scope
    }
}

/// The value of the session cookie, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// A JSON body whose rejections are API errors (JSON, with the right status).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            // A body over the limit is 413; every other malformed body (wrong content type, bad
            // JSON, unknown or missing field) is the one documented 400, with the reason.
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::Client(e.status(), e.body_text()))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

pub(crate) fn now_s() -> i64 {
    crate::server::now_ms() / 1000
}

/// Runs blocking store work off the async threads and maps store errors to API errors.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> store::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await? {
        Ok(v) => Ok(v),
        Err(StoreError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found()),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn json_response(status: StatusCode, v: impl Serialize) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response()
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
struct LoginRequest {
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
async fn login(
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

/// 503 with `Retry-After: 1`: every password-hashing slot is busy.
pub(crate) fn busy() -> ApiError {
    ApiError::Client(
        StatusCode::SERVICE_UNAVAILABLE,
        "the collector is busy checking passwords; retry in a moment".into(),
    )
}

/// `POST /api/v1/logout`: ends the cookie session (a no-op for API tokens).
#[utoipa::path(post, path = "/api/v1/logout", security(("session" = []), ("bearer" = [])), responses(
    (status = 204, description = "Logged out; clears the cookie"),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Missing or wrong X-CSRF-Token", body = ErrorBody),
))]
async fn logout(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
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
async fn me(p: Principal) -> Response {
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
async fn hosts(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
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
async fn agencies(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
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
struct AlertsQuery {
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
async fn alerts(
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
            let (hostname, agency) = agents.get(&alert.agent_id)?;
            sees_alert(&p, agency, &alert).then(|| AlertRow {
                alert,
                hostname: hostname.clone(),
                agency: agency.clone(),
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
struct ResolveRequest {
    reason: String,
}

/// Who takes the alert (null: nobody).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    assignee: Option<String>,
}

/// `POST /api/v1/alerts/{id}/ack`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", security(("session" = []), ("bearer" = [])), params(("id" = i64, Path, description = "Alert id")), responses(
    (status = 200, description = "The changed alert", body = AlertBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "A viewer, or a missing X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such alert in the caller's scope", body = ErrorBody),
))]
async fn alert_ack(
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
async fn alert_resolve(
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
async fn alert_assign(
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
struct TokenRequest {
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
async fn token_create(
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
