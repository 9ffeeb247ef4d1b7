//! The trader's endpoints: `/api/quotes`, `/api/orders`, `/api/balances`; and the private
//! Socket.IO events a fill or a deposit sends (`order:filled`, `balance:updated`).

use std::sync::Arc;
use std::time::Instant;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use common::Pair;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{AuthUser, OrderTrader, QuoteTrader, Trader};
use crate::http::error::{ApiError, ApiJson, Problem};
use crate::http::fields::{DecimalField, FieldError};
use crate::money::desk::{FileError, PlaceError, Placed, Renderer};
use crate::money::quote::{price_quote, QuoteError};
use crate::money::{AssetPrecision, Side};
use crate::pricing::show_price;
use crate::rates::{QuoteBasis, RateHub, Unquotable};
use crate::state::AppState;
use crate::store::{Answer, Balance, NewQuote, Order, OrderOutcome, Trade};
use common::decimal::DecimalString;

/// The trader's endpoints.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_quote))
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(balances))
}

/// What a quote of `pair` is priced from now: its rate, spread, metadata and book (503 while
/// it is stale or has no rate, 422 while it cannot be priced).
pub(crate) fn quote_basis(state: &AppState, pair: &Pair) -> Result<QuoteBasis, ApiError> {
    let book = state.hub.book();
    if !book.is_known(pair) {
        return Err(ApiError::UnknownPair(pair.to_string()));
    }
    book.quote_basis(pair, Instant::now()).map_err(|u| match u {
        Unquotable::NoRate => ApiError::RatesStale(format!("no rate for {pair} yet")),
        Unquotable::NoMetadata => ApiError::RatesStale(format!(
            "{pair} is not quotable yet: its price tick and minimum amount have not arrived from the feed"
        )),
        Unquotable::Stale => ApiError::RatesStale(format!(
            "the rate for {pair} is stale or the feed is not online"
        )),
        Unquotable::Pricing(e) => ApiError::Unquotable(format!(
            "{pair} cannot be priced right now ({}): {e}",
            e.reason()
        )),
    })
}

/// A quote's side and amount; `None` for an amount with more digits than can be kept, which
/// [`price_quote`] refuses naming the pair's step.
pub(crate) fn side_and_amount(
    side: &str,
    amount: &DecimalField,
) -> Result<(Side, Option<common::Decimal>), ApiError> {
    let side = Side::parse(side)
        .ok_or_else(|| ApiError::Validation("side must be \"buy\" or \"sell\"".into()))?;
    let amount = match amount.parse("amount") {
        Ok(a) => Some(a),
        Err(FieldError::TooPrecise(_)) => None,
        Err(FieldError::Invalid(e)) => return Err(e),
    };
    Ok((side, amount))
}

/// Why an amount cannot be quoted, as the API says it.
pub(crate) fn quote_error(e: QuoteError) -> ApiError {
    match e {
        QuoteError::InsufficientLiquidity { max_amount } => {
            ApiError::InsufficientLiquidity(max_amount)
        }
        other => ApiError::Validation(other.to_string()),
    }
}

/// The signed-in user's id (401 for a token without one).
pub(crate) fn user_id(claims: &crate::auth::Claims) -> Result<u64, ApiError> {
    claims.user_id().ok_or(ApiError::Unauthorized)
}

#[derive(Deserialize, ToSchema)]
pub struct QuoteRequest {
    /// `BTC/USD`, `BTC_USD` or `btc-usd`.
    pub pair: String,
    /// `buy` or `sell`.
    pub side: String,
    /// In the base asset, as a decimal string.
    #[schema(value_type = DecimalString, example = "0.01")]
    pub amount: DecimalField,
}

#[derive(Serialize, ToSchema)]
pub struct SpreadApplied {
    pub kind: crate::pricing::SpreadKind,
    pub buy: DecimalString,
    pub sell: DecimalString,
}

#[derive(Serialize, ToSchema)]
pub struct QuoteView {
    pub id: String,
    pub pair: String,
    pub side: Side,
    /// In the base asset, at its scale (`0.01000000` BTC).
    pub amount: DecimalString,
    /// Per unit of the base asset, in the quote asset, at the pair's tick.
    pub price: DecimalString,
    /// What you pay (buy) or receive (sell), in the quote asset, at its scale.
    pub total: DecimalString,
    /// The quote asset.
    pub total_asset: String,
    #[serde(with = "common::time::micros")]
    pub expires_at: DateTime<Utc>,
    /// The market prices the quote was priced from, before the spread, at the pair's tick:
    /// for an amount beyond the best level, the side taken is its depth price.
    pub raw_bid: DecimalString,
    pub raw_ask: DecimalString,
    pub spread: SpreadApplied,
    /// The exact volume-weighted price of the consolidated book's levels this amount takes
    /// (absent when the feed sends no books).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vwap: Option<DecimalString>,
    /// How many of the book's levels the amount takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levels_used: Option<usize>,
    /// The venues whose levels it takes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub venues: Vec<common::book::Venue>,
}

/// An order as the API shows it (`POST`/`GET /api/orders`, `order:filled`): every figure at its
/// scale, the same as in the quote it executed.
#[derive(Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderView {
    pub id: String,
    pub quote_id: String,
    pub pair: String,
    pub side: Side,
    /// In the base asset, at its scale.
    pub amount: DecimalString,
    /// The quote's price, at the pair's tick.
    pub price: DecimalString,
    /// In the quote asset, at its scale.
    pub total: DecimalString,
    /// Always `filled`: an order either executes in full at the quoted price or not at all.
    pub status: String,
    #[serde(with = "common::time::micros")]
    pub created_at: DateTime<Utc>,
}

/// The view of a stored order: amounts at their asset's scale, the price at the pair's tick
/// (as the quote showed it; as stored if the pair is no longer described by the feed).
pub(crate) fn order_view(state: &AppState, order: &Order) -> OrderView {
    show_order(&state.precision, &state.hub, order)
}

fn show_order(precision: &AssetPrecision, hub: &RateHub, order: &Order) -> OrderView {
    let trade = &order.trade;
    let pair = Pair::parse(&trade.pair).ok();
    let (base, quote) = pair.as_ref().map_or(("", ""), |p| (p.base(), p.quote()));
    let tick = pair
        .as_ref()
        .and_then(|p| hub.book().meta(p).map(|m| m.price_tick));
    OrderView {
        id: order.id.clone(),
        quote_id: order.quote_id.clone(),
        pair: trade.pair.clone(),
        side: trade.side,
        amount: precision.show(base, trade.amount),
        price: show_price(trade.price, tick),
        total: precision.show(quote, trade.total),
        status: order.status.clone(),
        created_at: order.created_at,
    }
}

/// How an order's outcome is answered, and stored with its key for replays: a fill as 201 and
/// the order's view, a refusal as its problem.
pub fn answer_renderer(precision: AssetPrecision, hub: Arc<RateHub>) -> Renderer {
    Arc::new(move |outcome: &OrderOutcome| {
        let refusal = match outcome {
            OrderOutcome::Filled { order, .. } => {
                let view = show_order(&precision, &hub, order);
                return Answer {
                    status: 201,
                    body: serde_json::to_string(&view).unwrap_or_default(),
                };
            }
            OrderOutcome::QuoteNotFound => ApiError::QuoteNotFound,
            OrderOutcome::QuoteUsed => ApiError::QuoteUsed,
            OrderOutcome::QuoteExpired => ApiError::QuoteExpired,
            OrderOutcome::InsufficientFunds { asset } => ApiError::InsufficientFunds(asset.clone()),
        };
        let (status, body) = refusal.problem();
        Answer {
            status: status.as_u16(),
            body,
        }
    })
}

/// A firm quote: executable at exactly this price until `expires_at`. Refused with
/// `insufficient_funds` when the balance cannot pay for it now.
#[utoipa::path(post, path = "/api/quotes", tag = "trading", security(("bearer" = [])), request_body = QuoteRequest,
    responses((status = 201, body = QuoteView),
              (status = 404, body = Problem, description = "unknown_pair"),
              (status = 422, body = Problem, description = "validation_failed, unquotable, insufficient_funds, or insufficient_liquidity (with max_amount)"),
              (status = 503, body = Problem, description = "rates_stale")))]
pub async fn create_quote(
    State(state): State<AppState>,
    Trader(claims): QuoteTrader,
    ApiJson(body): ApiJson<QuoteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let uid = user_id(&claims)?;
    let pair = Pair::parse(&body.pair).map_err(|e| ApiError::InvalidPair(e.to_string()))?;
    let (side, amount) = side_and_amount(&body.side, &body.amount)?;
    let basis = quote_basis(&state, &pair)?;
    let quoted =
        price_quote(&basis, side, amount, state.precision.unit(pair.quote())).map_err(|e| {
            // Counted for quotes only, not for the price-at-size probes the screen makes.
            if matches!(e, QuoteError::InsufficientLiquidity { .. }) {
                metrics::counter!("rategate_quotes_insufficient_liquidity_total").increment(1);
            }
            quote_error(e)
        })?;
    let (amount, numbers) = (quoted.amount, quoted.numbers);
    let tick = basis.meta.price_tick;
    let quote = NewQuote {
        id: crate::store::new_row_id(),
        trade: Trade {
            user_id: uid,
            pair: pair.to_string(),
            side,
            amount,
            price: numbers.price,
            total: numbers.total,
        },
        raw_bid: quoted.raw_bid,
        raw_ask: quoted.raw_ask,
        spread: basis.spread,
        revenue: numbers.revenue,
        expires_at: Utc::now() + state.config.quote_ttl,
    };
    // A buy pays the total in the quote asset, a sell the amount in the base asset.
    let (pays_asset, pays) = match side {
        Side::Buy => (pair.quote(), numbers.total),
        Side::Sell => (pair.base(), amount),
    };
    let quote_id = quote.id.clone();
    let expires_at = quote.expires_at;
    match state.desk.file_quote(quote, pays_asset, pays).await {
        Ok(()) => {}
        Err(FileError::Unaffordable(asset)) => {
            metrics::counter!("rategate_quotes_unaffordable_total").increment(1);
            return Err(ApiError::InsufficientFunds(asset));
        }
        Err(FileError::Store(e)) => return Err(e.into()),
    }
    metrics::counter!("rategate_quotes_total", "side" => side.as_str()).increment(1);
    Ok((
        StatusCode::CREATED,
        ApiJson(QuoteView {
            id: quote_id,
            pair: pair.to_string(),
            side,
            amount: state.precision.show(pair.base(), amount),
            price: show_price(numbers.price, Some(tick)),
            total: state.precision.show(pair.quote(), numbers.total),
            total_asset: pair.quote().to_string(),
            expires_at,
            raw_bid: show_price(quoted.raw_bid, Some(tick)),
            raw_ask: show_price(quoted.raw_ask, Some(tick)),
            spread: SpreadApplied {
                kind: basis.spread.kind,
                buy: basis.spread.buy.into(),
                sell: basis.spread.sell.into(),
            },
            vwap: quoted
                .depth
                .as_ref()
                .map(|d| DecimalString(d.vwap.normalize())),
            levels_used: quoted.depth.as_ref().map(|d| d.levels_used),
            venues: quoted.depth.map(|d| d.venues).unwrap_or_default(),
        }),
    ))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct OrderRequest {
    pub quote_id: String,
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or(ApiError::IdempotencyKeyRequired)?;
    Ok(key.to_string())
}

fn stored_response(Answer { status, body }: Answer) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Execute a quote at exactly its price. `Idempotency-Key` is required: the same key and body
/// return the first response; the same key with another body is refused.
#[utoipa::path(post, path = "/api/orders", tag = "trading", security(("bearer" = [])), request_body = OrderRequest,
    params(("Idempotency-Key" = String, Header, description = "unique per intended order")),
    responses((status = 201, body = OrderView),
              (status = 400, body = Problem, description = "idempotency_key_required, or invalid_body"),
              (status = 404, body = Problem, description = "quote_not_found"),
              (status = 409, body = Problem, description = "quote_used, or request_in_progress (the same key's request is still executing)"),
              (status = 410, body = Problem, description = "quote_expired"),
              (status = 422, body = Problem, description = "insufficient_funds, idempotency_key_reused (the same key with another body), or validation_failed")))]
pub async fn create_order(
    State(state): State<AppState>,
    Trader(claims): OrderTrader,
    headers: HeaderMap,
    ApiJson(body): ApiJson<OrderRequest>,
) -> Result<Response, ApiError> {
    let uid = user_id(&claims)?;
    let key = idempotency_key(&headers)?;
    match state.desk.place(uid, &key, &body.quote_id).await {
        Ok(Placed::Done { outcome, answer }) => {
            if let OrderOutcome::Filled { order, balances } = &outcome {
                metrics::counter!("rategate_orders_total", "side" => order.trade.side.as_str())
                    .increment(1);
                // The event carries the same view the response does.
                let shown = serde_json::from_str(&answer.body).unwrap_or_default();
                notify_fill(&state, uid, shown, balances);
            }
            Ok(stored_response(answer))
        }
        Ok(Placed::Replay(answer)) => Ok(stored_response(answer)),
        Err(PlaceError::InFlight) => Err(ApiError::RequestInProgress),
        Err(PlaceError::KeyReused) => Err(ApiError::IdempotencyKeyReused),
        Err(PlaceError::Store(e)) => Err(e.into()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct BalanceView {
    pub asset: String,
    pub available: DecimalString,
}

#[derive(Serialize, ToSchema)]
pub struct Balances {
    pub balances: Vec<BalanceView>,
}

pub(super) fn balance_views(state: &AppState, balances: &[Balance]) -> Vec<BalanceView> {
    balances
        .iter()
        .map(|b| BalanceView {
            asset: b.asset.clone(),
            available: state.precision.show(&b.asset, b.available),
        })
        .collect()
}

/// Tells every open tab of the user, on any node: `order:filled`, then `balance:updated`.
fn notify_fill(state: &AppState, uid: u64, order: serde_json::Value, balances: &[Balance]) {
    let events = vec![
        ("order:filled", order),
        ("balance:updated", to_value(&balances_body(state, balances))),
    ];
    crate::socket::send_private(state, uid, events);
}

/// `balance:updated` to every open tab of the user, on any node.
pub(super) fn notify_balances(state: &AppState, uid: u64, balances: &[Balance]) {
    let body = to_value(&balances_body(state, balances));
    crate::socket::send_private(state, uid, vec![("balance:updated", body)]);
}

fn balances_body(state: &AppState, balances: &[Balance]) -> Balances {
    Balances {
        balances: balance_views(state, balances),
    }
}

/// Our own plain structs with string keys: serialization cannot fail.
fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Your balances.
#[utoipa::path(get, path = "/api/balances", tag = "trading", security(("bearer" = [])),
    responses((status = 200, body = Balances)))]
pub async fn balances(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<ApiJson<Balances>, ApiError> {
    let b = state.store.balances(user_id(&claims)?).await?;
    Ok(ApiJson(Balances {
        balances: balance_views(&state, &b),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct OrdersQuery {
    /// Page size (default 50, at most 200).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Your orders, newest first, paginated with a cursor.
#[utoipa::path(get, path = "/api/orders", tag = "trading", security(("bearer" = [])), params(OrdersQuery),
    responses((status = 200, body = OrderPage)))]
pub async fn list_orders(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Query(q): Query<OrdersQuery>,
) -> Result<ApiJson<OrderPage>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => {
            let bad = || ApiError::Validation("cursor is not one this API gave out".into());
            let (micros, id) = c.split_once('_').ok_or_else(bad)?;
            let at = micros
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(bad)?;
            Some((at, id.to_string()))
        }
    };
    let orders = state.store.orders(user_id(&claims)?, limit, before).await?;
    let next_cursor = (orders.len() == limit as usize)
        .then(|| {
            orders
                .last()
                .map(|o| format!("{}_{}", o.created_at.timestamp_micros(), o.id))
        })
        .flatten();
    Ok(ApiJson(OrderPage {
        orders: orders.iter().map(|o| order_view(&state, o)).collect(),
        next_cursor,
    }))
}

/// One of your orders.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "trading", security(("bearer" = [])),
    responses((status = 200, body = OrderView)))]
pub async fn get_order(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<ApiJson<OrderView>, ApiError> {
    state
        .store
        .order(user_id(&claims)?, &id)
        .await?
        .map(|o| ApiJson(order_view(&state, &o)))
        .ok_or_else(|| ApiError::NotFound("no such order".into()))
}
