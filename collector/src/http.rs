//! Minimal HTTP surface: a hosts page and `/api/v1/hosts` (the full console is its own work).
//!
//! `app(state)` builds the router so tests call it with `oneshot` and no socket. Errors reach
//! clients as a generic body; the detail goes to the log.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::store::Store;
use crate::views;

/// Shared state of the HTTP app.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Organisation name.
    pub name: Arc<str>,
    /// Scoring configuration.
    pub scoring: Arc<vigil_rules::score::Scoring>,
}

/// The one error type of the API.
#[derive(Debug)]
pub struct ApiError(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "API request failed.");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}

/// Builds the router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/hosts", get(api_hosts))
        .with_state(state)
}

async fn api_hosts(State(st): State<AppState>) -> Result<Response, ApiError> {
    let (store, scoring) = (st.store.clone(), st.scoring.clone());
    let v =
        tokio::task::spawn_blocking(move || views::hosts_json(&*store, false, &scoring)).await??;
    Ok(axum::Json(v).into_response())
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
mod tests {
    use super::*;
    use crate::store::{Agency, NewAgent, SqliteStore};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    fn state() -> AppState {
        let s = SqliteStore::open_in_memory().expect("store");
        s.agency_add(&Agency {
            id: "p".into(),
            name: "P".into(),
            level: 1,
        })
        .expect("agency");
        s.agent_enroll(
            &NewAgent {
                id: "a1".into(),
                agency: "p".into(),
                machine_id: "m".into(),
                hostname: "<script>pc</script>".into(),
                os: "Debian".into(),
                cert_serial: "s".into(),
                cert_not_after: 0,
                agent_version: "0.1.0".into(),
                token_id: "t".into(),
            },
            0,
        )
        .expect("enroll");
        AppState {
            store: Arc::new(s),
            name: "Test".into(),
            scoring: Arc::default(),
        }
    }

    #[tokio::test]
    async fn hosts_api_and_page() {
        let app = app(state());
        let r = app
            .clone()
            .oneshot(
                Request::get("/api/v1/hosts")
                    .body(Body::empty())
                    .expect("req"),
            )
            .await
            .expect("resp");
        assert_eq!(r.status(), StatusCode::OK);
        let b = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(v["hosts"][0]["id"], "a1");
        let r = app
            .oneshot(Request::get("/").body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        let b = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .expect("body");
        let html = String::from_utf8_lossy(&b);
        assert!(html.contains("&lt;script&gt;pc"), "host names are escaped");
        assert!(!html.contains("<script>pc"));
    }
}
