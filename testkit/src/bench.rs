//! What the benchmarks share: the twenty pairs they tick, and a process's CPU time.

/// Twenty real Kraken pairs, the load of the fan-out and order benchmarks.
pub const PAIRS: &[&str] = &[
    "BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOGE/USD", "LTC/USD", "USDT/USD",
    "ALGO/USD", "DOT/USD", "LINK/USD", "AVAX/USD", "ATOM/USD", "XLM/USD", "UNI/USD", "BCH/USD",
    "ETC/USD", "FIL/USD", "AAVE/USD", "NEAR/USD",
];

/// CPU seconds (user + system) a process has used so far (`pid` or `self`).
pub fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// A benchmark's setting from the environment (`FAILOVER_TRIALS=20`), or `default` when it is
/// unset or not a number.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `over N trials: min … ms, median … ms, max … ms` of `gaps` (sorted here), for the failover
/// benchmarks' last lines.
pub fn min_median_max(gaps: &mut [std::time::Duration]) -> String {
    gaps.sort();
    let ms = |i: usize| gaps.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    let n = gaps.len();
    format!(
        "over {n} trials: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        ms(0),
        ms(n / 2),
        ms(n.saturating_sub(1))
    )
}
