//! `GET /api/rates` and `GET /api/rates/{pair}`: the same objects as `rates:live`; and
//! `GET /api/book/{pair}`: the consolidated book behind a pair's price, with its ladder.

use std::collections::BTreeMap;
use std::time::Instant;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::extract::{Query, State};
use common::Pair;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::KnownPair;
use crate::http::error::{ApiError, ApiJson, Problem};
use crate::http::fields::DecimalField;
use crate::money::quote::price_quote;
use crate::money::Side;
use crate::pricing::show_price;
use crate::rates::book::Rung;
use crate::rates::depth::max_quotable;
use crate::rates::LiveRate;
use crate::state::AppState;
use common::decimal::DecimalString;

/// Spread-adjusted rates over HTTP.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(all))
        .routes(routes!(one))
        .routes(routes!(book))
        .routes(routes!(price_at_size))
}

#[derive(Deserialize, IntoParams)]
pub struct PriceQuery {
    /// `buy` or `sell`.
    pub side: String,
    /// Amount of the base asset, a decimal string.
    #[param(value_type = String, example = "0.5")]
    pub amount: DecimalField,
}

/// What a firm quote for an amount would say now, without taking one.
/// As a quote's fields (`QuoteView`), so the two compare at a glance.
#[derive(Serialize, ToSchema)]
pub struct PriceAtSize {
    pub pair: String,
    pub side: Side,
    pub amount: DecimalString,
    /// Per unit of the base asset, spread included, rounded to the tick as a quote would be.
    pub price: DecimalString,
    /// `amount × price` in the quote asset, rounded as a quote's total.
    pub total: DecimalString,
    pub total_asset: String,
    /// The volume-weighted price of the book levels the amount takes; absent without a book.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vwap: Option<DecimalString>,
    /// The venues whose levels it takes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub venues: Vec<common::book::Venue>,
    /// The largest amount quotable on this side now (`null` without a book: no limit known).
    pub max_amount: Option<DecimalString>,
}

/// One level of the consolidated book.
#[derive(Serialize, ToSchema)]
pub struct BookLevel {
    pub price: DecimalString,
    pub qty: DecimalString,
    /// The venue whose level it is (`kraken`, `coinbase`, `bitstamp`).
    pub venue: common::book::Venue,
}

/// A pair's consolidated book: the best levels of each side over the venues contributing now,
/// best first, each with its venue; and the price at size.
#[derive(Serialize, ToSchema)]
pub struct BookView {
    pub pair: Pair,
    pub bids: Vec<BookLevel>,
    pub asks: Vec<BookLevel>,
    pub venues: Vec<common::book::Venue>,
    /// When the feed built this book.
    #[serde(with = "common::time::micros")]
    pub ts: chrono::DateTime<chrono::Utc>,
    /// As in `rates:live`.
    pub ladder: Vec<Rung>,
}

/// The consolidated order book behind a pair's price.
#[utoipa::path(get, path = "/api/book/{pair}", tag = "rates",
    params(KnownPair),
    responses((status = 200, body = BookView)))]
pub async fn book(
    State(state): State<AppState>,
    KnownPair(pair): KnownPair,
) -> Result<ApiJson<BookView>, ApiError> {
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
#[utoipa::path(get, path = "/api/rates", tag = "rates",
    responses((status = 200, body = Rates)))]
pub async fn all(State(state): State<AppState>) -> ApiJson<Rates> {
    ApiJson(Rates {
        rates: state.hub.book().snapshot(None, Instant::now()),
    })
}

/// The price at size now: what a firm quote for `amount` on `side` would say (the same book
/// walk, spread and rounding), and the largest amount quotable now. Nothing is reserved: the
/// quote itself (`POST /api/quotes`) is what holds a price.
#[utoipa::path(get, path = "/api/rates/{pair}/price", tag = "rates",
    params(KnownPair, PriceQuery),
    responses((status = 200, body = PriceAtSize),
              (status = 422, body = Problem, description = "validation_failed, unquotable, or insufficient_liquidity (with max_amount)")))]
pub async fn price_at_size(
    State(state): State<AppState>,
    KnownPair(pair): KnownPair,
    Query(query): Query<PriceQuery>,
) -> Result<ApiJson<PriceAtSize>, ApiError> {
    let (side, amount) = super::orders::side_and_amount(&query.side, &query.amount)?;
    let basis = super::orders::quote_basis(&state, &pair)?;
    let unit = state.precision.unit(pair.quote());
    let quoted = price_quote(&basis, side, amount, unit).map_err(super::orders::quote_error)?;
    let max_amount = basis
        .book
        .as_ref()
        .and_then(|book| max_quotable(&book.book, side, basis.limits).ok());
    let tick = basis.meta.price_tick;
    Ok(ApiJson(PriceAtSize {
        pair: pair.to_string(),
        side,
        amount: state.precision.show(pair.base(), quoted.amount),
        price: show_price(quoted.numbers.price, Some(tick)),
        total: state.precision.show(pair.quote(), quoted.numbers.total),
        total_asset: pair.quote().to_string(),
        vwap: quoted
            .depth
            .as_ref()
            .map(|d| DecimalString(d.vwap.normalize())),
        venues: quoted.depth.map(|d| d.venues).unwrap_or_default(),
        max_amount: max_amount.map(|m| DecimalString(m.normalize())),
    }))
}

/// One pair's spread-adjusted rate.
#[utoipa::path(get, path = "/api/rates/{pair}", tag = "rates",
    params(KnownPair),
    responses((status = 200, body = LiveRate)))]
pub async fn one(
    State(state): State<AppState>,
    KnownPair(pair): KnownPair,
) -> Result<ApiJson<LiveRate>, ApiError> {
    let book = state.hub.book();
    book.live(&pair, Instant::now())
        .map(ApiJson)
        .ok_or_else(|| ApiError::RateUnavailable(pair.to_string()))
}
