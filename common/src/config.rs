//! Reading configuration from the environment.
//!
//! Each service has one config struct built with these helpers; any invalid value becomes a
//! [`ConfigError`] naming the variable, which `main` prints as one line before exiting with
//! code 2 (ARCHITECTURE.md §9). Values are never echoed for secret variables.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &str, reason: impl Display) -> Self {
        ConfigError {
            var: var.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The variable's value, or `None` when unset or empty.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The items of a comma-separated setting, trimmed; empty ones (`a,,b`, a trailing comma) are
/// skipped.
pub fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// `name` as one of `choices` by its name, in any case; unset, the first choice.
pub fn one_of<T: Copy>(name: &str, choices: &[(&str, T)]) -> Result<T, ConfigError> {
    let names = || {
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    };
    let wanted = var(name).map(|v| v.to_ascii_lowercase());
    let found = match wanted.as_deref() {
        None => choices.first(),
        Some(value) => choices.iter().find(|(n, _)| *n == value),
    };
    found.map(|(_, choice)| *choice).ok_or_else(|| {
        let value = wanted.unwrap_or_default();
        ConfigError::new(name, format!("{value:?} is not one of {}", names()))
    })
}

/// Parses `name` if set, otherwise returns `default`.
pub fn parse_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e| ConfigError::new(name, format!("{v:?}: {e}"))),
    }
}

/// A duration in milliseconds (`name` ends in `_MS` by convention), at least `min_ms`.
pub fn millis_or(name: &str, default_ms: u64, min_ms: u64) -> Result<Duration, ConfigError> {
    let ms: u64 = parse_or(name, default_ms)?;
    if ms < min_ms {
        return Err(ConfigError::new(
            name,
            format!("{ms} ms is below the minimum of {min_ms} ms"),
        ));
    }
    Ok(Duration::from_millis(ms))
}

/// `REDIS_CLUSTER_NODES`, checked (each `host:port`, and a `prefix` without braces); `None`
/// when unset, so `REDIS_URL` applies.
pub fn redis_cluster_nodes(prefix: &str) -> Result<Option<String>, ConfigError> {
    let Some(nodes) = var("REDIS_CLUSTER_NODES") else {
        return Ok(None);
    };
    let target = crate::bus::redis::RedisTarget::pick("", Some(&nodes))
        .map_err(|e| ConfigError::new("REDIS_CLUSTER_NODES", e))?;
    target
        .keys(prefix)
        .map_err(|e| ConfigError::new("REDIS_PREFIX", e))?;
    Ok(Some(nodes))
}

/// Prints the error as one line and exits with code 2.
pub fn exit_on_error<T>(result: Result<T, ConfigError>) -> T {
    result.unwrap_or_else(|e| exit(2, e))
}

/// The value, or `program: error` on standard error and exit with `code` (2 for bad
/// configuration, 1 for a failure to start).
pub fn or_exit<T, E: Display>(program: &str, code: i32, result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| exit(code, format_args!("{program}: {e:#}")))
}

fn exit(code: i32, message: impl Display) -> ! {
    eprintln!("{message}");
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_or_names_the_variable() {
        // Variables unique to this test, so parallel tests do not interfere.
        std::env::set_var("RG_TEST_CFG_A", "12x");
        let err = parse_or::<u32>("RG_TEST_CFG_A", 1).unwrap_err();
        assert!(err.to_string().contains("RG_TEST_CFG_A"));
        std::env::set_var("RG_TEST_CFG_B", " 42 ");
        assert_eq!(parse_or::<u32>("RG_TEST_CFG_B", 1).unwrap(), 42);
        assert_eq!(parse_or::<u32>("RG_TEST_CFG_UNSET", 7).unwrap(), 7);
        std::env::set_var("RG_TEST_CFG_C", "10");
        assert!(millis_or("RG_TEST_CFG_C", 500, 100).is_err());
    }
}
