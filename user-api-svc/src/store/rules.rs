//! The rules both stores enforce, written once so the backends cannot drift apart: a ledger
//! transaction must sum to zero per asset (an error in every build, never a `debug_assert!`),
//! how transient conflicts are retried, and how stored enum text decodes (an unknown value is
//! an error, never a default).

use std::future::Future;
use std::time::Duration;

use common::Decimal;

use crate::money::Side;

/// Attempts of a transaction that hit a transient conflict (deadlock, lock wait) in all.
pub const ATTEMPTS: u32 = 5;

/// `Err` naming the first asset whose entries do not sum to zero (or overflow). Both stores
/// call it before writing a single ledger line, so an unbalanced transaction never commits.
pub fn check_balanced(reference: &str, entries: &[(String, &str, Decimal)]) -> Result<(), String> {
    let mut sums: Vec<(&str, Decimal)> = Vec::new();
    for (_, asset, amount) in entries {
        let slot = match sums.iter_mut().find(|(a, _)| a == asset) {
            Some(slot) => slot,
            None => {
                sums.push((asset, Decimal::ZERO));
                sums.last_mut().ok_or("empty sums")?
            }
        };
        slot.1 = slot
            .1
            .checked_add(*amount)
            .ok_or_else(|| format!("ledger transaction {reference} overflows in {asset}"))?;
    }
    match sums.iter().find(|(_, sum)| !sum.is_zero()) {
        Some((asset, sum)) => Err(format!(
            "unbalanced ledger transaction {reference}: {asset} sums to {sum}"
        )),
        None => Ok(()),
    }
}

/// A stored side (`buy` / `sell`); anything else is corrupt data, reported as such.
pub fn decode_side(text: &str) -> Result<Side, String> {
    Side::parse(text).ok_or_else(|| format!("unknown side {text:?} in the database"))
}

/// Runs `attempt` until it succeeds, fails for good, or [`ATTEMPTS`] are spent; a transient
/// failure (`retryable`) waits a little longer each time and is counted per operation.
pub async fn retrying<T, E, F, Fut>(
    op: &'static str,
    retryable: fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt().await {
            Err(e) if retryable(&e) && n < ATTEMPTS => {
                metrics::counter!("rategate_store_retries_total", "op" => op).increment(1);
                tokio::time::sleep(Duration::from_millis(2 * u64::from(n))).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::d;

    #[test]
    fn only_balanced_transactions_pass() {
        let trade = [
            ("user:1".to_string(), "USD", d("-100.5")),
            ("house".to_string(), "USD", d("100.5")),
            ("house".to_string(), "BTC", d("-0.001")),
            ("user:1".to_string(), "BTC", d("0.001")),
        ];
        assert!(check_balanced("t", &trade).is_ok());
        let mut skewed = trade.clone();
        skewed[3].2 = d("0.0011");
        let err = check_balanced("t", &skewed).unwrap_err();
        assert!(err.contains("BTC"), "{err}");
        let overflow = [
            ("a".to_string(), "X", Decimal::MAX),
            ("b".to_string(), "X", Decimal::MAX),
        ];
        assert!(check_balanced("o", &overflow).is_err());
    }

    #[test]
    fn unknown_sides_are_errors() {
        assert_eq!(decode_side("buy"), Ok(Side::Buy));
        assert_eq!(decode_side("sell"), Ok(Side::Sell));
        assert!(decode_side("BUY").is_err() && decode_side("").is_err());
    }

    #[tokio::test]
    async fn transient_failures_are_retried_then_given_up() {
        /// What `retrying` returns when every attempt fails with `error`, and how many it made.
        async fn always(error: &'static str) -> (Result<(), &'static str>, u32) {
            let mut calls = 0;
            let r = retrying(
                "t",
                |e: &&str| *e == "deadlock",
                || {
                    calls += 1;
                    async move { Err(error) }
                },
            )
            .await;
            (r, calls)
        }
        assert_eq!(always("deadlock").await, (Err("deadlock"), ATTEMPTS));
        assert_eq!(
            always("other").await,
            (Err("other"), 1),
            "a real error is not retried"
        );
    }
}
