//! HTTP surface: the JSON API `/api/v1` (docs/api.md) and the web console at `/` that uses it,
//! served over TLS ([`serve`]) unless configured as plain HTTP on loopback.
//!
//! `app(state)` builds the router so tests call it with `oneshot` and no socket. Errors reach
//! clients as `{"error": "..."}` with a status code; the detail of internal errors goes only to
//! the log.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::pki::Ca;
use crate::store::Store;

mod admin;
mod api;
pub mod config;
mod console;
mod extract;
pub mod listen;
mod metrics;
mod openapi;
mod pages;
mod policies;
pub mod ratelimit;
mod report;
mod vulns;
pub use report::ReportSlots;

/// Shared state of the HTTP app.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Organisation name.
    pub name: Arc<str>,
    /// Scoring configuration.
    pub scoring: Arc<vigil_rules::score::Scoring>,
    /// The latest scores (refreshed by the scheduler).
    pub scores: Arc<crate::scoring::ScoreCache>,
    /// What creating enrollment tokens needs; `None` refuses it.
    pub enroll: Option<Arc<EnrollSettings>>,
    /// Failed-login counters (`[http] login_max_failures`, `login_window`).
    pub login_limit: Arc<ratelimit::LoginLimiter>,
    /// Where passwords are hashed and checked: a few at a time, off the shared threads.
    pub hasher: Arc<crate::auth::HashPool>,
    /// Report settings (the PDF font).
    pub reports: Arc<crate::report::ReportsConfig>,
    /// Report generations in progress.
    pub report_slots: Arc<ReportSlots>,
}

/// What the API needs to create enrollment tokens.
#[derive(Debug)]
pub struct EnrollSettings {
    /// The collector CA (its fingerprint goes into tokens).
    pub ca: Ca,
    /// Collector addresses written into tokens (`quic.advertise`).
    pub advertise: Vec<String>,
}

/// The one error type of the API: a status with a message for the client, or an internal error
/// whose detail is logged and never sent.
#[derive(Debug)]
pub enum ApiError {
    /// A client error with the message it is told.
    Client(StatusCode, String),
    /// Anything else: 500 with a generic body.
    Internal(anyhow::Error),
}

impl ApiError {
    /// 401: no valid session or token (the same answer whatever was wrong).
    pub fn unauthenticated() -> Self {
        Self::Client(StatusCode::UNAUTHORIZED, "authentication required".into())
    }

    /// 403 with a reason.
    pub fn forbidden(why: &str) -> Self {
        Self::Client(StatusCode::FORBIDDEN, why.into())
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::Client(StatusCode::NOT_FOUND, "not found".into())
    }

    /// 400 with a reason.
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::Client(StatusCode::BAD_REQUEST, why.into())
    }
}

impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Client(status, message) => (status, message),
            Self::Internal(e) => {
                tracing::error!(error = %e, "API request failed.");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        let mut r = (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({ "error": message })),
        )
            .into_response();
        // Load shedding answers say when to come back (a caller may set a longer wait).
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

/// Builds the router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(console::routes())
        .merge(api::routes())
        .merge(openapi::routes())
        .merge(pages::routes())
        .merge(admin::routes())
        .merge(report::routes())
        .merge(metrics::routes())
        .merge(vulns::routes())
        .merge(policies::routes())
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::login_guard,
        ))
        .layer(axum::middleware::map_response(console::security_headers))
        .layer(axum::middleware::from_fn(metrics::count_status))
        .with_state(state)
}

/// Serves `app` on `tcp` until `shutdown` flips: over TLS with `tls`, else plain HTTP (which the
/// configuration allows on loopback only). Handlers see the client address as
/// `ConnectInfo<ratelimit::Peer>`.
pub async fn serve(
    tcp: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    match tls {
        Some(cfg) => {
            let listener = listen::TlsListener::new(tcp, cfg)?;
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<ratelimit::Peer>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
        None => {
            axum::serve(
                tcp,
                app.into_make_service_with_connect_info::<ratelimit::Peer>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
    }
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod policies_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vulns_tests;
