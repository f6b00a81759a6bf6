//! The web console: static files compiled into the binary (no CDN: it must work offline in an
//! agency network), served with headers that keep the pages from being framed, sniffed or fed
//! foreign scripts. The pages fetch everything else from `/api/v1`.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

const INDEX: &str = include_str!("../../console/index.html");
const APP_JS: &str = include_str!("../../console/app.js");
const APP_CSS: &str = include_str!("../../console/app.css");
const FAVICON: &str = include_str!("../../console/favicon.svg");

/// Only our own scripts and styles; charts are inline SVG built by script, images may be data:.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/console/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidate on every load so an upgraded collector never serves a stale script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Adds the security headers every response carries (the API's JSON included).
pub(super) async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The console builds every text node with `textContent`: no script may assign HTML.
    #[test]
    fn console_never_parses_strings_as_html() {
        for bad in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!APP_JS.contains(bad), "app.js uses {bad}");
        }
        assert!(
            !INDEX.contains("<script>"),
            "no inline script (CSP forbids it)"
        );
        assert!(
            !INDEX.contains("style="),
            "no inline style (CSP forbids it)"
        );
    }

    /// Every key used with `t('…')` exists in both languages.
    #[test]
    fn console_texts_exist_in_both_languages() {
        let block = |lang: &str| -> std::collections::BTreeSet<String> {
            let open = format!("  {lang}: {{");
            let start = APP_JS.find(&open).expect("language block") + open.len();
            let end = start + APP_JS[start..].find("\n  },").expect("end of block");
            APP_JS[start..end]
                .split([',', '\n', '{'])
                .filter_map(|kv| kv.split_once(':'))
                .map(|(k, _)| k.trim().to_owned())
                .filter(|k| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .collect()
        };
        let (vi, en) = (block("vi"), block("en"));
        assert!(vi.len() > 100, "{} keys", vi.len());
        assert_eq!(
            vi.symmetric_difference(&en).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "keys missing in one language"
        );
        // Literal keys used in calls: t('key' ...
        for (at, _) in APP_JS.match_indices("t('") {
            let before = APP_JS[..at].chars().next_back().unwrap_or(' ');
            if before.is_ascii_alphanumeric() || before == '.' {
                continue; // `q.set('…')`, not a text lookup
            }
            let key: String = APP_JS[at + 3..]
                .chars()
                .take_while(|c| *c != '\'')
                .collect();
            if key.chars().all(|c| c.is_ascii_alphanumeric()) && !key.is_empty() {
                assert!(vi.contains(&key), "t('{key}') has no text");
            }
        }
    }
}
