//! The OpenAPI document of `/api/v1`, gathered from the annotations of every handler module
//! (api, pages, report, admin) and served at `GET /api/v1/openapi.json`.

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;
use super::admin::AdminDoc;
use super::api::{
    AgencyList, AlertBody, AlertList, AssignRequest, HostList, LoginRequest, ResolveRequest,
    SessionInfo, TokenCreated, TokenRequest,
};
use super::extract::{ErrorBody, SESSION_COOKIE, json_response};
use super::policies::PolicyDoc;
use super::vulns::VulnDoc;

/// The route serving the document.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil collector API",
        description = "Hosts, agency scores, alerts and enrollment tokens of one Vigil collector \
                       (docs/api.md). Cookie-authenticated requests other than GET need the \
                       X-CSRF-Token header."
    ),
    paths(
        super::api::login,
        super::api::logout,
        super::api::me,
        super::api::hosts,
        super::api::agencies,
        super::api::alerts,
        super::api::alert_ack,
        super::api::alert_resolve,
        super::api::alert_assign,
        super::api::token_create,
        super::pages::overview,
        super::pages::agency,
        super::pages::host,
        super::report::get_report,
        super::metrics::metrics_text
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
    modifiers(&SecuritySchemes, &AdminDoc, &VulnDoc, &PolicyDoc)
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
