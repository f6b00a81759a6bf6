//! HTTP surface: the JSON API `/api/v1` (docs/api.md) and, for now, a plain hosts page at `/`.
//!
//! `app(state)` builds the router so tests call it with `oneshot` and no socket. Errors reach
//! clients as `{"error": "..."}` with a status code; the detail of internal errors goes only to
//! the log.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::pki::Ca;
use crate::store::Store;
use crate::views;

mod api;
mod report;

/// Shared state of the HTTP app.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Organisation name.
    pub name: Arc<str>,
    /// Scoring configuration.
    pub scoring: Arc<vigil_rules::score::Scoring>,
    /// What creating enrollment tokens needs; `None` refuses it.
    pub enroll: Option<Arc<EnrollSettings>>,
    /// Report settings (the PDF font).
    pub reports: Arc<crate::config::ReportsConfig>,
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
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({ "error": message })),
        )
            .into_response()
    }
}

/// Builds the router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .merge(api::routes())
        .merge(report::routes())
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn ago(now: i64, t: i64) -> String {
    if t == 0 {
        return "chưa / never".into();
    }
    let d = (now - t).max(0);
    match d {
        0..60 => format!("{d} s"),
        60..3600 => format!("{} min", d / 60),
        3600..86400 => format!("{} h", d / 3600),
        _ => format!("{} d", d / 86400),
    }
}

async fn index(State(st): State<AppState>) -> Result<Response, ApiError> {
    let (store, scoring) = (st.store.clone(), st.scoring.clone());
    let hosts =
        tokio::task::spawn_blocking(move || views::hosts(&*store, false, &scoring)).await??;
    let now = crate::server::now_ms() / 1000;
    let mut rows = String::new();
    for h in &hosts {
        let inv = h.inventory.as_ref();
        let get = |k: &str| {
            inv.and_then(|v| v.get(k))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default()
        };
        let mem_gib = inv
            .and_then(|v| v["memory_bytes"].as_u64())
            .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            esc(&h.hostname),
            esc(&h.agency),
            esc(&get("os")),
            esc(&get("os_version")),
            esc(&get("kernel")),
            esc(&get("cpus")),
            esc(&mem_gib),
            esc(&ago(now, h.last_seen)),
            esc(&h.id),
        ));
    }
    let body = format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Vigil — {name}</title>
<meta http-equiv="refresh" content="10">
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #d0d7de;padding:.4rem .6rem;text-align:left}}th{{background:#f6f8fa}}code{{font-size:.8em}}</style>
</head><body><h1>Vigil — {name}</h1>
<p>Máy đã đăng ký / enrolled hosts: <b>{n}</b> · JSON: <a href="/api/v1/hosts">/api/v1/hosts</a></p>
<table><thead><tr><th>Máy / Host</th><th>Đơn vị / Agency</th><th>Hệ điều hành / OS</th><th>Kernel</th><th>CPU</th><th>RAM</th><th>Lần cuối / Last seen</th><th>Agent</th></tr></thead>
<tbody>
{rows}</tbody></table></body></html>"#,
        name = esc(&st.name),
        n = hosts.len(),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests;
