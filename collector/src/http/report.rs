//! `GET /api/v1/reports`: a posture report of an agency subtree in the caller's scope (any
//! role), as an attachment (docs/reports.md).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::extract::Principal;
use super::{ApiError, AppState};
use crate::report::{Format, Lang, Period, Report, ReportError};

/// Reports generated at once; more answer 429. Each one reads check states, alerts and audit
/// entries of its scope, so any viewer could otherwise keep the collector busy.
const AT_ONCE: usize = 2;

/// The report generations in progress (at most [`AT_ONCE`]).
#[derive(Debug)]
pub struct ReportSlots(tokio::sync::Semaphore);

impl Default for ReportSlots {
    fn default() -> Self {
        Self(tokio::sync::Semaphore::new(AT_ONCE))
    }
}

impl ReportSlots {
    /// A slot, or `None` when every one is taken.
    pub fn try_take(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.0.try_acquire().ok()
    }
}

/// The report route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/reports", get(get_report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    agency: Option<String>,
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    format: Option<String>,
    lang: Option<String>,
}

/// `GET /api/v1/reports`: the report file.
#[utoipa::path(get, path = "/api/v1/reports", security(("session" = []), ("bearer" = [])),
    params(
        ("agency" = Option<String>, Query,
         description = "Agency path (default: the caller's scope, or the whole province)"),
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (Vietnam time)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD (default: today; needs from)"),
        ("period" = Option<String>, Query,
         description = "A month, YYYY-MM, instead of from/to (default: the last full month)"),
        ("format" = Option<String>, Query, description = "html (default), pdf or csv"),
        ("lang" = Option<String>, Query, description = "vi (default) or en"),
    ),
    responses(
        (status = 200, description = "The report, as an attachment (text/html, application/pdf or text/csv)"),
        (status = 400, description = "Bad dates, format or language", body = Object),
        (status = 401, description = "Not authenticated", body = Object),
        (status = 404, description = "No such agency in the caller's scope", body = Object),
        (status = 429, description = "Other reports are being generated; see Retry-After", body = Object),
    ))]
pub(crate) async fn get_report(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = crate::clock::now_ms();
    let period = Period::parse(q.from.as_deref(), q.to.as_deref(), q.period.as_deref(), now)
        .map_err(ApiError::bad_request)?;
    let format = Format::parse(q.format.as_deref().unwrap_or("html"))
        .ok_or_else(|| ApiError::bad_request("format must be html, pdf or csv"))?;
    let lang = Lang::parse(q.lang.as_deref().unwrap_or("vi"))
        .ok_or_else(|| ApiError::bad_request("lang must be vi or en"))?;
    let scope = match q.agency {
        Some(a) if !p.sees(&a) => return Err(ApiError::not_found()),
        Some(a) => Some(a),
        None if p.scope().is_empty() => None,
        None => Some(p.scope().to_owned()),
    };
    let slots = st.report_slots.clone();
    let Some(_slot) = slots.try_take() else {
        return Err(ApiError::Client(
            StatusCode::TOO_MANY_REQUESTS,
            "other reports are being generated; retry in a moment".into(),
        ));
    };
    // Scores come from the console's cache: a report never recomputes every host.
    let scores = st.scores.get(st.store.clone(), st.scoring.clone()).await?;
    let (store, reports, org) = (st.store.clone(), st.reports.clone(), st.name.clone());
    let out = tokio::task::spawn_blocking(move || {
        let r = Report::from_scores(&*store, &scores, &org, scope.as_deref(), period, now)?;
        let bytes = r.render(format, lang, &reports.font)?;
        Ok::<_, ReportError>((r.file_name(format), bytes))
    })
    .await?;
    let (name, bytes) = match out {
        Ok(v) => v,
        Err(ReportError::UnknownAgency(_)) => return Err(ApiError::not_found()),
        Err(ReportError::Invalid(m)) => return Err(ApiError::bad_request(m)),
        Err(e) => return Err(ApiError::Internal(e.into())),
    };
    // The name is made of ASCII letters, digits, '-', '_' and '.' only.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.mime()),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}
