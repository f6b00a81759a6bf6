//! `GET /metrics`: the Prometheus text exposition of [`crate::metrics`], for users of the whole
//! organisation only, and the layer that counts every response by status.
//!
//! The route asks for the same authentication as the API (an API token as a bearer, or a
//! session), even from loopback: the console may sit behind a reverse proxy on the same host,
//! where every client looks local. Prometheus sends the token with `authorization.credentials_file`.

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::extract::Principal;
use super::{ApiError, AppState};
use crate::metrics::{self, Event};

/// The `/metrics` route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics_text))
}

/// `GET /metrics`: every collector metric (docs/operations.md), for whole-organisation users.
#[utoipa::path(get, path = "/metrics", security(("session" = []), ("bearer" = [])), responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
    (status = 401, description = "Not authenticated", body = super::extract::ErrorBody),
    (status = 403, description = "The user's scope is one agency subtree, not the whole organisation", body = super::extract::ErrorBody)
))]
pub(super) async fn metrics_text(p: Principal) -> Result<Response, ApiError> {
    // The counters are the whole collector's; a user of one agency subtree sees only its part.
    if !p.scope().is_empty() {
        return Err(ApiError::forbidden(
            "metrics cover the whole organisation; only users without a scope may read them",
        ));
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics::global().encode(),
    )
        .into_response())
}

/// Counts every response by status code (the outermost layer, so refusals by other layers count).
pub(super) async fn count_status(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    metrics::record(Event::HttpResponse {
        status: resp.status().as_u16(),
    });
    resp
}

#[cfg(test)]
mod tests;
