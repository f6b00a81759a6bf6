//! Administration routes of `/api/v1`: users, API tokens, enrollment tokens and the audit log
//! (docs/api.md). Authentication, CSRF and the helpers are those of [`super::api`].
//!
//! The rules: only admins manage users, enrollment tokens and read the audit log, and only inside
//! their scope; objects outside it answer 404 as if they did not exist. Everyone may list and
//! revoke their own API tokens. Every write is audited under the caller's name.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{Modify, OpenApi, ToSchema};

use super::extract::{ErrorBody, JsonBody, Principal, blocking, json_response, now_s};
use super::{ApiError, AppState};
use crate::auth;
use crate::store::{ApiTokenRecord, AuditEntry, StoreError, TokenRecord, User, UserRole};

/// Most audit entries returned by one request.
const MAX_AUDIT_PAGE: usize = 500;

/// Most audit rows read to fill one page (the rest of the log stays for the next request).
const MAX_AUDIT_SCAN: usize = 20_000;

/// The administration routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(users).post(user_create))
        .route("/api/v1/users/{name}/disable", post(user_disable))
        .route("/api/v1/api-tokens", get(api_tokens))
        .route("/api/v1/api-tokens/{id}", delete(api_token_revoke))
        .route("/api/v1/tokens", get(tokens))
        .route("/api/v1/tokens/{id}/revoke", post(token_revoke))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/settings", get(settings))
        .route("/api/v1/export/status", get(export_status))
}

/// The OpenAPI part of these routes, merged into the API document.
#[derive(OpenApi)]
#[openapi(
    paths(
        users,
        user_create,
        user_disable,
        api_tokens,
        api_token_revoke,
        tokens,
        token_revoke,
        audit,
        settings,
        export_status
    ),
    components(schemas(
        UserInfo,
        UserList,
        UserRequest,
        ApiTokenInfo,
        ApiTokenList,
        TokenInfo,
        TokenList,
        AuditPage,
        AuditEntryBody,
        Settings,
        ExportStatus,
        ExportOutputBody
    ))
)]
pub(crate) struct AdminDoc;

impl Modify for AdminDoc {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.merge(<Self as OpenApi>::openapi());
    }
}

/// The command an operator pastes on a new host: the install script of the agent package, which
/// installs the agent, enrolls it with `token` and starts it (packaging/README.md). The script
/// reads the token from standard input, fed by `printf`, which is built into every shell: the
/// token is in no process's command line (`/proc/*/cmdline`, readable by every local user) and
/// not in sudo's log.
pub(crate) fn install_command(token: &str) -> String {
    // Single-quoted for sh; a quote inside cannot end the argument.
    let quoted = token.replace('\'', r"'\''");
    format!("printf '%s\\n' '{quoted}' | sudo ./install-agent.sh")
}

/// The Windows command for the same: in an elevated PowerShell in the directory of
/// `vigil-agent.msi`, it asks for the token (so it reaches neither the command line nor the
/// PowerShell history), hands it to the installer in a temporary file of the user's own (which
/// `enroll --token-file` deletes), and installs, enrolls and starts the service
/// (docs/windows.md).
pub(crate) fn install_command_windows() -> &'static str {
    "$f = New-TemporaryFile; Read-Host 'Vigil token' | Set-Content -NoNewline -Encoding ascii $f; \
     Start-Process msiexec -Wait -ArgumentList '/i','vigil-agent.msi',\"TOKENFILE=`\"$f`\"\",'/qn'; \
     Remove-Item $f -ErrorAction Ignore"
}

/// True when the whole scope of `u` lies inside the caller's scope.
fn manages(p: &Principal, u: &User) -> bool {
    auth::in_scope(&u.scope, &p.user.scope)
}

/// A user as shown by the API (never the password hash).
#[derive(Serialize, ToSchema)]
struct UserInfo {
    name: String,
    /// `admin`, `analyst` or `viewer`.
    role: String,
    /// Agency subtree; empty for the whole organisation.
    scope: String,
    /// Unix seconds.
    created_at: i64,
    disabled: bool,
}

impl From<User> for UserInfo {
    fn from(u: User) -> Self {
        Self {
            role: u.role.as_str().to_owned(),
            name: u.name,
            scope: u.scope,
            created_at: u.created_at,
            disabled: u.disabled,
        }
    }
}

/// `{"users": [...]}`, by name.
#[derive(Serialize, ToSchema)]
struct UserList {
    users: Vec<UserInfo>,
}

/// `GET /api/v1/users`: the users whose scope lies inside the caller's (admins).
#[utoipa::path(get, path = "/api/v1/users", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "Users of the caller's scope", body = UserList),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn users(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    p.require_admin("list users")?;
    let store = st.store.clone();
    let all = blocking(move || store.users()).await?;
    let users = all
        .into_iter()
        .filter(|u| manages(&p, u))
        .map(UserInfo::from)
        .collect();
    Ok(json_response(StatusCode::OK, UserList { users }))
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserRequest {
    /// 1–64 of `a-z0-9._-`, starting with a letter or digit.
    name: String,
    /// `admin`, `analyst` or `viewer`.
    role: String,
    /// Agency path inside the caller's scope; empty (the whole organisation) only for admins of
    /// the whole organisation.
    #[serde(default)]
    scope: String,
    /// At least 12 characters.
    password: String,
}

/// `POST /api/v1/users`: creates a user inside the caller's scope (admins; audited `user.add`).
#[utoipa::path(post, path = "/api/v1/users", security(("session" = []), ("bearer" = [])),
    request_body = UserRequest, responses(
    (status = 201, description = "Created", body = UserInfo),
    (status = 400, description = "Bad name, role, scope or password", body = ErrorBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin, scope outside the caller's, or no X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such agency", body = ErrorBody),
    (status = 409, description = "The name is taken", body = ErrorBody),
))]
async fn user_create(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<UserRequest>,
) -> Result<Response, ApiError> {
    p.require_admin("create users")?;
    if !auth::valid_user_name(&req.name) {
        return Err(ApiError::bad_request(format!(
            "name: {}",
            auth::USER_NAME_RULE
        )));
    }
    let role = UserRole::parse(&req.role)
        .ok_or_else(|| ApiError::bad_request("role must be admin, analyst or viewer"))?;
    if !req.scope.is_empty() && !crate::assets::valid_agency_path(&req.scope) {
        return Err(ApiError::bad_request("scope: not an agency path"));
    }
    if !auth::in_scope(&req.scope, &p.user.scope) {
        return Err(ApiError::forbidden("the scope is outside your own"));
    }
    let (store, actor, now) = (st.store.clone(), p.user.name, now_s());
    let (name, scope) = (req.name.clone(), req.scope.clone());
    // The hash is computed on the hashing pool; storing happens on the store's threads.
    let user = st
        .hasher
        .run(move || auth::new_user(&name, role, &scope, &req.password, now))
        .await
        .map_err(|auth::Busy| super::extract::busy())?
        .map_err(|e| match e {
            StoreError::Invalid(m) => ApiError::bad_request(m),
            other => other.into(),
        })?;
    let created = blocking(move || {
        if !user.scope.is_empty() && store.agency(&user.scope)?.is_none() {
            return Err(StoreError::NotFound(format!("agency {:?}", user.scope)));
        }
        match store.user_add(&user, &actor, now) {
            Ok(()) => Ok(Ok(user)),
            Err(StoreError::Conflict(_)) => Ok(Err(())),
            Err(e) => Err(e),
        }
    })
    .await?;
    match created {
        Ok(user) => Ok(json_response(StatusCode::CREATED, UserInfo::from(user))),
        Err(()) => Err(ApiError::Client(
            StatusCode::CONFLICT,
            "a user of that name exists".into(),
        )),
    }
}

/// `POST /api/v1/users/{name}/disable`: disables a user of the caller's scope, ending their
/// sessions and API tokens (admins; audited `user.disable`).
#[utoipa::path(post, path = "/api/v1/users/{name}/disable", security(("session" = []), ("bearer" = [])),
    params(("name" = String, Path, description = "User name")), responses(
    (status = 200, description = "The disabled user", body = UserInfo),
    (status = 400, description = "The caller's own account", body = ErrorBody),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin, or no X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such user in the caller's scope", body = ErrorBody),
))]
async fn user_disable(
    State(st): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    p.require_admin("disable users")?;
    if name == p.user.name {
        return Err(ApiError::bad_request(
            "you cannot disable your own account; ask another admin",
        ));
    }
    let (store, now) = (st.store.clone(), now_s());
    let user = blocking(move || {
        let found = store.user(&name)?.filter(|u| manages(&p, u));
        let Some(mut u) = found else {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        };
        if !u.disabled {
            store.user_disable(&u.name, &p.user.name, now)?;
            u.disabled = true;
        }
        Ok(u)
    })
    .await?;
    Ok(json_response(StatusCode::OK, UserInfo::from(user)))
}

/// An API token as listed (never its secret or hash).
#[derive(Serialize, ToSchema)]
struct ApiTokenInfo {
    /// Public id.
    id: String,
    /// User the token acts as.
    user: String,
    /// Unix seconds.
    created_at: i64,
    revoked: bool,
}

impl From<ApiTokenRecord> for ApiTokenInfo {
    fn from(t: ApiTokenRecord) -> Self {
        Self {
            id: t.id,
            user: t.user,
            created_at: t.created_at,
            revoked: t.revoked,
        }
    }
}

/// `{"api_tokens": [...]}`, oldest first.
#[derive(Serialize, ToSchema)]
struct ApiTokenList {
    api_tokens: Vec<ApiTokenInfo>,
}

/// The API tokens the caller may see: an admin's, those of every user of their scope; anyone
/// else's, their own.
fn visible_api_tokens(
    store: &dyn crate::store::Store,
    p: &Principal,
) -> crate::store::Result<Vec<ApiTokenRecord>> {
    let tokens = store.api_tokens()?;
    if !p.user.role.may_administer() {
        return Ok(tokens
            .into_iter()
            .filter(|t| t.user == p.user.name)
            .collect());
    }
    let managed: std::collections::HashSet<String> = store
        .users()?
        .into_iter()
        .filter(|u| manages(p, u))
        .map(|u| u.name)
        .collect();
    Ok(tokens
        .into_iter()
        .filter(|t| managed.contains(&t.user))
        .collect())
}

/// `GET /api/v1/api-tokens`: admins see the tokens of the users of their scope, others their own.
#[utoipa::path(get, path = "/api/v1/api-tokens", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "API tokens the caller may see, revoked ones included", body = ApiTokenList),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
async fn api_tokens(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let list = blocking(move || visible_api_tokens(&*store, &p)).await?;
    Ok(json_response(
        StatusCode::OK,
        ApiTokenList {
            api_tokens: list.into_iter().map(ApiTokenInfo::from).collect(),
        },
    ))
}

/// `DELETE /api/v1/api-tokens/{id}`: revokes an API token the caller may see; it stops
/// authenticating at once (audited `api_token.revoke`).
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "API token id")), responses(
    (status = 200, description = "The revoked token (revoking twice is not an error)", body = ApiTokenInfo),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "No X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such token visible to the caller", body = ErrorBody),
))]
async fn api_token_revoke(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (store, now) = (st.store.clone(), now_s());
    let token = blocking(move || {
        let found = visible_api_tokens(&*store, &p)?
            .into_iter()
            .find(|t| t.id == id);
        let Some(mut t) = found else {
            return Err(StoreError::NotFound(format!("API token {id:?}")));
        };
        if !t.revoked {
            store.api_token_revoke(&t.id, &p.user.name, now)?;
            t.revoked = true;
        }
        Ok(t)
    })
    .await?;
    Ok(json_response(StatusCode::OK, ApiTokenInfo::from(token)))
}

/// An enrollment token as listed (never its secret or hash).
#[derive(Serialize, ToSchema)]
struct TokenInfo {
    /// Public id.
    id: String,
    /// Agency the enrolled hosts join.
    agency: String,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    expires_at: i64,
    /// Hosts that may enroll with it.
    max_uses: u32,
    /// Hosts that did.
    uses: u32,
    revoked: bool,
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            agency: t.agency,
            created_at: t.created_at,
            expires_at: t.expires_at,
            max_uses: t.max_uses,
            uses: t.uses,
            revoked: t.revoked,
        }
    }
}

/// `{"tokens": [...]}`, oldest first.
#[derive(Serialize, ToSchema)]
struct TokenList {
    tokens: Vec<TokenInfo>,
}

/// `GET /api/v1/tokens`: enrollment tokens for agencies of the caller's scope (admins).
#[utoipa::path(get, path = "/api/v1/tokens", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "Enrollment tokens of the caller's scope, without secrets", body = TokenList),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn tokens(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    p.require_admin("list enrollment tokens")?;
    let store = st.store.clone();
    let all = blocking(move || store.tokens()).await?;
    let tokens = all
        .into_iter()
        .filter(|t| p.sees(&t.agency))
        .map(TokenInfo::from)
        .collect();
    Ok(json_response(StatusCode::OK, TokenList { tokens }))
}

/// `POST /api/v1/tokens/{id}/revoke`: no host can enroll with the token any more (admins;
/// audited `token.revoke`).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "Enrollment token id")), responses(
    (status = 200, description = "The revoked token (revoking twice is not an error)", body = TokenInfo),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin, or no X-CSRF-Token", body = ErrorBody),
    (status = 404, description = "No such token in the caller's scope", body = ErrorBody),
))]
async fn token_revoke(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    p.require_admin("revoke enrollment tokens")?;
    let (store, now) = (st.store.clone(), now_s());
    let token = blocking(move || {
        let found = store
            .tokens()?
            .into_iter()
            .find(|t| t.id == id && p.sees(&t.agency));
        let Some(mut t) = found else {
            return Err(StoreError::NotFound(format!("token {id:?}")));
        };
        if !t.revoked {
            store.token_revoke(&t.id)?;
            store.audit(
                &p.user.name,
                "token.revoke",
                &json!({"id": t.id, "agency": t.agency}),
                now,
            )?;
            t.revoked = true;
        }
        Ok(t)
    })
    .await?;
    Ok(json_response(StatusCode::OK, TokenInfo::from(token)))
}

/// One audit entry.
#[derive(Serialize, ToSchema)]
struct AuditEntryBody {
    /// Increasing id; pass the last one as `before` for the next page.
    id: i64,
    /// Unix seconds.
    at: i64,
    /// A user name, `cli` or `enrollment`.
    actor: String,
    /// Such as `user.add` or `token.create`.
    action: String,
    /// Details of the action.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
struct AuditPage {
    entries: Vec<AuditEntryBody>,
    /// Pass as `before` for the next (older) page; null when the log is exhausted.
    next_before: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

/// The agency an audit entry is about: its `agency`, else its `scope` (user entries); `None` for
/// entries about the whole collector, which only admins of the whole organisation see.
fn audit_agency(e: &AuditEntry) -> Option<&str> {
    ["agency", "scope"]
        .iter()
        .find_map(|k| e.detail.get(k).and_then(serde_json::Value::as_str))
}

fn audit_visible(e: &AuditEntry, scope: &str) -> bool {
    match audit_agency(e) {
        Some(agency) => auth::in_scope(agency, scope),
        None => scope.is_empty(),
    }
}

/// `GET /api/v1/audit[?limit=100&before=ID]`: the audit log of the caller's scope, newest first
/// (admins).
#[utoipa::path(get, path = "/api/v1/audit", security(("session" = []), ("bearer" = [])),
    params(
        ("limit" = Option<usize>, Query, description = "Entries per page, 1-500 (default 100)"),
        ("before" = Option<i64>, Query, description = "Only entries with an id below this (next_before of the previous page)"),
    ),
    responses(
        (status = 200, description = "Entries naming an agency of the caller's scope; entries naming none only for admins of the whole organisation", body = AuditPage),
        (status = 400, description = "Bad limit or before", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn audit(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    p.require_admin("read the audit log")?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_AUDIT_PAGE}"
        )));
    }
    let (store, scope) = (st.store.clone(), p.user.scope);
    let page = blocking(move || {
        let mut entries = Vec::new();
        let mut cursor = q.before;
        let mut scanned = 0;
        let batch = (limit * 4).max(200);
        loop {
            let rows = store.audit_page(cursor, batch)?;
            let exhausted = rows.len() < batch;
            for e in rows {
                scanned += 1;
                cursor = Some(e.id);
                if audit_visible(&e, &scope) {
                    entries.push(AuditEntryBody::from(e));
                    if entries.len() == limit {
                        return Ok(AuditPage {
                            entries,
                            next_before: cursor,
                        });
                    }
                }
            }
            if exhausted {
                return Ok(AuditPage {
                    entries,
                    next_before: None,
                });
            }
            if scanned >= MAX_AUDIT_SCAN {
                // A short page; the client continues from where the scan stopped.
                return Ok(AuditPage {
                    entries,
                    next_before: cursor,
                });
            }
        }
    })
    .await?;
    Ok(json_response(StatusCode::OK, page))
}

#[cfg(test)]
pub(super) mod tests;

/// The settings in force (read-only: they live in collector.toml, docs/collector-config.md).
#[derive(Serialize, ToSchema)]
struct Settings {
    /// Organisation name.
    organisation: String,
    /// The scoring constants (`[scoring]`, docs/scoring.md), ranking thresholds and alert SLAs
    /// included.
    #[schema(value_type = Object)]
    scoring: vigil_rules::score::ScoringConfig,
    /// Scheduled reports: directory, `monthly`/`weekly`/`off`, language.
    #[schema(value_type = Object)]
    reports: serde_json::Value,
}

/// `GET /api/v1/settings`: the configuration the collector runs with (admins).
#[utoipa::path(get, path = "/api/v1/settings", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "The settings in force", body = Settings),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn settings(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    p.require_admin("read the settings")?;
    let r = &st.reports;
    let schedule = match r.schedule {
        crate::report::ReportSchedule::Monthly => "monthly",
        crate::report::ReportSchedule::Weekly => "weekly",
        crate::report::ReportSchedule::Off => "off",
    };
    Ok(json_response(
        StatusCode::OK,
        Settings {
            organisation: st.name.to_string(),
            scoring: st.scoring.config().clone(),
            reports: json!({"dir": r.dir, "schedule": schedule, "lang": r.lang.code()}),
        },
    ))
}

/// One SIEM output (issue 19, docs/export.md).
#[derive(Serialize, ToSchema)]
pub(crate) struct ExportOutputBody {
    /// Output name (from collector.toml).
    name: String,
    /// Last delivered position in the export log: writing transaction (0 on SQLite) and row.
    cursor_tx: i64,
    cursor_id: i64,
    /// True while a collector process holds the output's lease (it is being run).
    running: bool,
    /// Events delivered so far.
    sent: u64,
    /// Events logged after the cursor, not yet delivered.
    backlog: u64,
    /// Events dropped by the backlog bound so far.
    dropped: u64,
    /// The last failed send's error, if one failed.
    last_error: Option<String>,
    /// When it failed, Unix seconds.
    last_error_at: Option<i64>,
}

/// `GET /api/v1/export/status`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ExportStatus {
    /// Every registered output, by name.
    outputs: Vec<ExportOutputBody>,
}

/// `GET /api/v1/export/status`: each SIEM output's cursor, backlog, drops and last error, as the
/// store has them (every collector sharing the database) (admins).
#[utoipa::path(get, path = "/api/v1/export/status", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "The export outputs", body = ExportStatus),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn export_status(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    p.require_admin("read the export status")?;
    let store = st.store.clone();
    let all = blocking(move || store.exports().export_outputs()).await?;
    let now = now_s();
    let outputs = all
        .into_iter()
        .map(|o| {
            let failed = o.last_error_at > 0;
            ExportOutputBody {
                running: o.lease_until > now,
                cursor_tx: o.cursor.tx,
                cursor_id: o.cursor.id,
                sent: o.sent,
                backlog: o.backlog,
                dropped: o.dropped,
                last_error: failed.then_some(o.last_error),
                last_error_at: failed.then_some(o.last_error_at),
                name: o.name,
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, ExportStatus { outputs }))
}
