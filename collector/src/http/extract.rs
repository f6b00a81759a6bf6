//! What every `/api/v1` handler shares: the authenticated [`Principal`] (session cookie or
//! bearer API token, CSRF on state-changing cookie requests, agency scope), the JSON body
//! extractor, the error body and the helpers that run store work off the async threads.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::{ApiError, AppState};
use crate::auth;
use crate::store::{self, SessionRecord, StoreError, User};

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "vigil_session";

/// Header carrying the session's CSRF token on state-changing requests.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Every error body.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
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
    crate::clock::now_ms() / 1000
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

/// 503 with `Retry-After: 1`: every password-hashing slot is busy.
pub(crate) fn busy() -> ApiError {
    ApiError::Client(
        StatusCode::SERVICE_UNAVAILABLE,
        "the collector is busy checking passwords; retry in a moment".into(),
    )
}
