//! The real Redis and MariaDB of this machine (or `REDIS_URL` / `TEST_DATABASE_URL`).

use std::time::Duration;

use fred::prelude::*;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Server URL without a database, e.g. `mysql://root@127.0.0.1:3306`.
pub fn mysql_base() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A connected client; panics with a clear message when Redis is not reachable.
pub async fn redis() -> Client {
    let url = redis_url();
    let client = Builder::from_config(Config::from_url(&url).expect("REDIS_URL"))
        .build()
        .expect("redis client");
    tokio::time::timeout(Duration::from_secs(5), client.init())
        .await
        .unwrap_or_else(|_| {
            panic!("Redis at {url} did not answer within 5 s: start it (scripts/services.sh)")
        })
        .unwrap_or_else(|e| {
            panic!("Redis at {url} is not reachable ({e}): start it (scripts/services.sh)")
        });
    client
}

/// A fresh database name for one test.
pub fn unique_db_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    format!("rg_test_{clean}")
}

/// Drops the database `name`, if it exists.
pub async fn drop_database(name: &str) {
    let pool = sqlx::MySqlPool::connect(&mysql_base())
        .await
        .unwrap_or_else(|e| panic!("MariaDB at {} is not reachable ({e})", mysql_base()));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{name}`"
    )))
    .execute(&pool)
    .await
    .expect("drop test database");
}

/// Deletes the bus keys under `prefix`.
pub async fn delete_bus_keys(redis: &Client, prefix: &str) {
    let keys: Vec<String> = ["rates:last", "status", "pairs"]
        .iter()
        .map(|k| format!("{prefix}{k}"))
        .collect();
    let _: i64 = redis.del(keys).await.expect("delete test keys");
}
