//! Vulnerable packages in the API (issue 23): one host's, one CVE's, and a scope's counts. The
//! rules of the other host routes apply: a host or agency outside the caller's scope answers 404,
//! and every listing holds only hosts of the scope.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{Modify, OpenApi, ToSchema};

use super::extract::{ErrorBody, Principal, blocking, json_response};
use super::{ApiError, AppState};
use crate::store::vuln::{StoredMatch, VulnFilter};
use crate::vuln::summary::{Summary, summarize};

/// Most CVEs a summary lists.
const SUMMARY_CVES: usize = 200;

/// The vulnerability routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/vulns", get(by_cve))
        .route("/api/v1/vulns/summary", get(summary))
        .route("/api/v1/hosts/{id}/vulns", get(host_vulns))
}

/// The OpenAPI part of these routes, merged into the API document.
#[derive(OpenApi)]
#[openapi(
    paths(by_cve, summary, host_vulns),
    components(schemas(VulnList, VulnSummary))
)]
pub(crate) struct VulnDoc;

impl Modify for VulnDoc {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.merge(<Self as OpenApi>::openapi());
    }
}

/// Vulnerable packages: host, agency, advisory, CVE ids, package, installed and fixed version,
/// severity, CVSS, since (Unix seconds).
#[derive(Serialize, ToSchema)]
struct VulnList {
    #[schema(value_type = Vec<Object>)]
    vulns: Vec<StoredMatch>,
}

/// A scope's counts: hosts affected, hosts per CVE (worst first), the oldest unpatched critical.
#[derive(Serialize, ToSchema)]
struct VulnSummary {
    /// The agency whose subtree is counted (the caller's scope when not given).
    agency: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    summary: Summary,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CveQuery {
    cve: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeQuery {
    agency: Option<String>,
}

/// `GET /api/v1/vulns?cve=ID`: hosts of the caller's scope affected by a CVE or advisory id.
#[utoipa::path(get, path = "/api/v1/vulns", security(("session" = []), ("bearer" = [])),
    params(("cve" = String, Query, description = "A CVE id or an advisory id")),
    responses(
        (status = 200, description = "Affected packages on hosts of the caller's scope", body = VulnList),
        (status = 400, description = "No cve given", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ))]
async fn by_cve(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<CveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.cve.is_empty() || q.cve.len() > 128 {
        return Err(ApiError::bad_request("cve must be 1 to 128 characters"));
    }
    let store = st.store.clone();
    let rows = blocking(move || store.vulns().vuln_matches(&VulnFilter::Advisory(q.cve))).await?;
    let vulns = rows.into_iter().filter(|m| p.sees(&m.agency)).collect();
    Ok(json_response(StatusCode::OK, VulnList { vulns }))
}

/// `GET /api/v1/hosts/{id}/vulns`: one host's vulnerable packages (404 outside the scope).
#[utoipa::path(get, path = "/api/v1/hosts/{id}/vulns", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The host's vulnerable packages", body = VulnList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such host in the caller's scope", body = ErrorBody),
    ))]
async fn host_vulns(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let (agent, rows) = blocking(move || {
        let agent = store.agent(&id)?;
        Ok((agent, store.vulns().vuln_matches(&VulnFilter::Host(id))?))
    })
    .await?;
    match agent {
        Some(a) if !a.revoked && p.sees(&a.agency) => {
            Ok(json_response(StatusCode::OK, VulnList { vulns: rows }))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `GET /api/v1/vulns/summary[?agency=PATH]`: counts over an agency's subtree (default: the
/// caller's scope).
#[utoipa::path(get, path = "/api/v1/vulns/summary", security(("session" = []), ("bearer" = [])),
    params(("agency" = Option<String>, Query, description = "Agency path (default: the caller's scope)")),
    responses(
        (status = 200, description = "Counts of the subtree", body = VulnSummary),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such agency in the caller's scope", body = ErrorBody),
    ))]
async fn summary(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<ScopeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let agency = match q.agency {
        Some(a) if p.sees(&a) => a,
        Some(_) => return Err(ApiError::not_found()),
        None => p.scope().to_owned(),
    };
    let store = st.store.clone();
    let rows = blocking(move || store.vulns().vuln_matches(&VulnFilter::All)).await?;
    let rows: Vec<StoredMatch> = rows
        .into_iter()
        .filter(|m| p.sees(&m.agency) && crate::auth::in_scope(&m.agency, &agency))
        .collect();
    let summary = summarize(&rows, SUMMARY_CVES);
    Ok(json_response(
        StatusCode::OK,
        VulnSummary { agency, summary },
    ))
}
