//! `GET /api/rates` and `GET /api/rates/{pair}`: the same objects as `rates:live`; and
//! `GET /api/book/{pair}`: the consolidated book behind a pair's price, with its ladder.

use std::collections::BTreeMap;
use std::time::Instant;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::extract::{Path, State};
use common::Pair;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, ApiJson, Problem};
use crate::rates::book::Rung;
use crate::rates::LiveRate;
use crate::state::AppState;
use common::decimal::DecimalString;

/// Spread-adjusted rates over HTTP.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(all))
        .routes(routes!(one))
        .routes(routes!(book))
}

/// One level of the consolidated book.
#[derive(Serialize, ToSchema)]
pub struct BookLevel {
    pub price: DecimalString,
    pub qty: DecimalString,
    /// The venue whose level it is (`kraken`, `coinbase`, `bitstamp`).
    #[schema(value_type = String, example = "kraken")]
    pub venue: common::book::Venue,
}

/// A pair's consolidated book: the best levels of each side over the venues contributing now,
/// best first, each with its venue; and the price at size.
#[derive(Serialize, ToSchema)]
pub struct BookView {
    #[schema(value_type = String, example = "BTC/USD")]
    pub pair: Pair,
    pub bids: Vec<BookLevel>,
    pub asks: Vec<BookLevel>,
    #[schema(value_type = Vec<String>, example = json!(["kraken", "coinbase"]))]
    pub venues: Vec<common::book::Venue>,
    /// When the feed built this book.
    #[serde(with = "common::time::micros")]
    #[schema(value_type = String)]
    pub ts: chrono::DateTime<chrono::Utc>,
    /// As in `rates:live`.
    pub ladder: Vec<Rung>,
}

/// The consolidated order book behind a pair's price.
#[utoipa::path(get, path = "/api/book/{pair}", tag = "rates",
    params(("pair" = String, Path, description = "BTC_USD, BTC-USD or URL-encoded BTC/USD")),
    responses((status = 200, body = BookView), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 503, body = Problem)))]
pub async fn book(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<ApiJson<BookView>, ApiError> {
    let pair = super::extract::known_pair(&state, &raw)?;
    let rates = state.hub.book();
    let msg = rates
        .consolidated(&pair)
        .ok_or_else(|| ApiError::RateUnavailable(format!("{pair}: no book from the feed yet")))?;
    let tick = rates.meta(&pair).map(|m| m.price_tick);
    let levels = |levels: &[common::book::Level]| {
        levels
            .iter()
            .map(|l| BookLevel {
                price: crate::pricing::show_price(l.price, tick),
                qty: DecimalString(l.qty.normalize()),
                venue: l.venue,
            })
            .collect()
    };
    Ok(ApiJson(BookView {
        pair: pair.clone(),
        bids: levels(&msg.book.bids),
        asks: levels(&msg.book.asks),
        venues: msg.venues.clone(),
        ts: msg.ts,
        ladder: rates.ladder(&pair).unwrap_or_default(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Rates {
    /// Keyed `BTC_USD`.
    pub rates: BTreeMap<String, LiveRate>,
}

/// Every pair's spread-adjusted rate.
#[utoipa::path(get, path = "/api/rates", tag = "rates", responses((status = 200, body = Rates)))]
pub async fn all(State(state): State<AppState>) -> ApiJson<Rates> {
    ApiJson(Rates {
        rates: state.hub.book().snapshot(None, Instant::now()),
    })
}

/// One pair's spread-adjusted rate.
#[utoipa::path(get, path = "/api/rates/{pair}", tag = "rates",
    params(("pair" = String, Path, description = "BTC_USD, BTC-USD or URL-encoded BTC/USD")),
    responses((status = 200, body = LiveRate), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 503, body = Problem)))]
pub async fn one(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<ApiJson<LiveRate>, ApiError> {
    let pair = super::extract::known_pair(&state, &raw)?;
    let book = state.hub.book();
    book.live(&pair, Instant::now())
        .map(ApiJson)
        .ok_or_else(|| ApiError::RateUnavailable(pair.to_string()))
}
