//! `GET /api/candles?pair=BTC_USD&interval=1m|5m|1h&from=&to=`: closed candles, oldest first.

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use common::decimal::DecimalString;
use common::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::candles::{Candle, Interval};
use crate::http::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Most candles one request returns.
pub const MAX_CANDLES: u32 = 1000;
/// Candles returned when `from` is not given.
const DEFAULT_CANDLES: i32 = 120;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(candles))
}

#[derive(Deserialize, IntoParams)]
pub struct CandlesQuery {
    /// `BTC_USD`, `BTC-USD` or `BTC/USD`.
    pub pair: String,
    /// `1m`, `5m` or `1h` (default `1m`).
    pub interval: Option<String>,
    /// RFC 3339; candles starting at or after it (default: 120 candles before `to`).
    pub from: Option<String>,
    /// RFC 3339; candles starting before it (default: now).
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CandleView {
    /// When the candle starts (its length is the response's `interval`).
    pub start: DateTime<Utc>,
    pub open: DecimalString,
    pub high: DecimalString,
    pub low: DecimalString,
    pub close: DecimalString,
    /// Ticks the candle was built from.
    pub ticks: u64,
}

#[derive(Serialize, ToSchema)]
pub struct CandlePage {
    /// `BTC/USD`.
    pub pair: String,
    #[schema(value_type = String, example = "1m")]
    pub interval: Interval,
    /// Of the mid, `(bid + ask) / 2` of the raw best prices; a period without ticks has no
    /// candle (a gap, not a flat candle); the minute still open is not included.
    pub candles: Vec<CandleView>,
}

impl CandleView {
    /// At the pair's tick, like every price (a mid may carry one digit more: half a tick).
    fn at_tick(c: Candle, tick: Option<Decimal>) -> CandleView {
        let show = |x| crate::pricing::show_price(x, tick);
        CandleView {
            start: c.start,
            open: show(c.open),
            high: show(c.high),
            low: show(c.low),
            close: show(c.close),
            ticks: c.ticks,
        }
    }
}

fn time(name: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::Validation(format!(
                    "{name} must be an RFC 3339 time such as 2026-11-27T10:00:00Z"
                ))
            })
    })
    .transpose()
}

/// Price history of one pair: OHLC of the mid per minute, 5 minutes or hour.
#[utoipa::path(get, path = "/api/candles", tag = "rates", params(CandlesQuery),
    responses((status = 200, body = CandlePage)))]
pub async fn candles(
    State(state): State<AppState>,
    Query(q): Query<CandlesQuery>,
) -> Result<ApiJson<CandlePage>, ApiError> {
    let pair = super::extract::known_pair(&state, &q.pair)?;
    let interval = match q.interval.as_deref() {
        None => Interval::M1,
        Some(s) => Interval::parse(s)
            .ok_or_else(|| ApiError::Validation("interval must be 1m, 5m or 1h".into()))?,
    };
    let to = time("to", q.to.as_deref())?.unwrap_or_else(Utc::now);
    let from = match time("from", q.from.as_deref())? {
        Some(from) => from,
        None => to - interval.delta() * DEFAULT_CANDLES,
    };
    if from >= to {
        return Err(ApiError::Validation("from must be before to".into()));
    }
    if (to - from) > interval.delta() * MAX_CANDLES as i32 {
        return Err(ApiError::Validation(format!(
            "at most {MAX_CANDLES} candles per request: narrow from..to or take a longer interval"
        )));
    }
    let candles = state
        .store
        .candles(pair.as_str(), interval, from, to, MAX_CANDLES)
        .await?;
    let tick = state.hub.book().meta(&pair).map(|m| m.price_tick);
    Ok(ApiJson(CandlePage {
        pair: pair.to_string(),
        interval,
        candles: candles
            .into_iter()
            .map(|c| CandleView::at_tick(c, tick))
            .collect(),
    }))
}
