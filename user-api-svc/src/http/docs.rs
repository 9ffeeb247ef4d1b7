//! OpenAPI generated from the handlers' annotations (utoipa), and `/docs`: a small
//! self-contained page that renders it (no CDN, no build-time download).

use axum::response::Html;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, candles, ledger, orders, pairs, rates, spreads, watchlist};
use crate::state::AppState;
use axum::routing::get;
use axum::Router;

/// `/openapi.json` and `/docs`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
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

/// Every error response as problem+json (see `common::openapi`).
struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        common::openapi::document_problems(openapi);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "rategate user API", description = "Spread-adjusted crypto rates, accounts and spreads. \
        Decimals are JSON strings in plain notation: an optional -, an integer part without \
        leading zeros, and an optional . with at least one digit after it (\"0.5\", \"1200\", \
        \"97000.10\"; not \"01\", \".5\", \"5.\" or \"1e3\"). Errors are application/problem+json \
        with a stable `code`. \
        Live rates also stream over Socket.IO (path /socket.io/, event rates:live)."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me, auth::change_password,
        auth::enrol_two_factor, auth::confirm_two_factor, auth::disable_two_factor,
        watchlist::list, watchlist::add, watchlist::remove,
        rates::all, rates::one, rates::book, candles::candles,
        spreads::list, spreads::put, spreads::delete, spreads::history,
        orders::create_quote, orders::create_order, orders::list_orders, orders::get_order, orders::balances, ledger::ledger,
        admin::deposit, admin::revenue, admin::users, admin::disable_user, admin::enable_user,
        pairs::list, pairs::set,
    ),
    modifiers(&BearerAuth, &Problems),
    tags((name = "auth"), (name = "rates"), (name = "trading"), (name = "spreads", description = "admin only"),
         (name = "admin"))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub async fn page() -> Html<&'static str> {
    Html(include_str!("../../../web/docs.html"))
}
