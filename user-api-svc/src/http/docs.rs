//! OpenAPI generated from the handlers' annotations (utoipa): each module's `router()` brings
//! its own paths, [`ApiDoc`] adds what is global (title, security, problem bodies, tags), and
//! [`router`] serves the merged document as `/openapi.json`, beside `/docs`, the web app's
//! page that shows it with Swagger UI (bundled from npm, served from our origin).

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

use crate::state::AppState;

/// `/openapi.json` (the document `doc`, serialized once here) and `/docs`.
pub fn router(doc: &utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = Bytes::from(serde_json::to_vec(doc).unwrap_or_default());
    Router::new()
        .route(
            "/openapi.json",
            get(
                move || async move { ([(CONTENT_TYPE, "application/json")], json).into_response() },
            ),
        )
        .route("/docs", get(page))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every error response as problem+json (see `common::openapi`): run on the merged document,
/// once every module's paths are in it.
pub struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        common::openapi::document_problems(openapi);
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "rategate user API", description = "Spread-adjusted crypto rates, accounts and spreads. \
        Decimals are JSON strings in plain notation: an optional -, an integer part without \
        leading zeros, and an optional . with at least one digit after it (\"0.5\", \"1200\", \
        \"97000.10\"; not \"01\", \".5\", \"5.\" or \"1e3\"). Errors are application/problem+json \
        with a stable `code`. \
        Live rates also stream over Socket.IO (path /socket.io/, event rates:live)."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "rates"), (name = "trading"), (name = "spreads", description = "admin only"),
         (name = "admin"))
)]
pub struct ApiDoc;

pub async fn page() -> Response {
    web::page("docs.html")
}
