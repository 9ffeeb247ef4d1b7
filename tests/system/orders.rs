//! The order path under a crash: user-api-svc killed with SIGKILL while traders' orders are
//! being executed in group-commit batches, against the real MariaDB. Afterwards no order is
//! partial, every ledger transaction sums to zero, balances equal the ledger, and each
//! `Idempotency-Key` retried returns its original answer or executes once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::Decimal;
use serde_json::{json, Value};
use sqlx::Row;
use testkit::cluster::{Cluster, ADMIN};

/// One order attempt: its key, its quote, and the answer if one came back before the crash.
struct Attempt {
    token: String,
    key: String,
    quote_id: String,
    answer: Option<(u16, Value)>,
}

/// Quotes and orders as fast as one trader can until the node dies.
async fn trade_until_killed(cluster: &Cluster, token: String, trader: usize) -> Vec<Attempt> {
    let base = cluster.apis[0].base.clone();
    let http = reqwest::Client::new();
    let mut attempts = Vec::new();
    for n in 0.. {
        // The node dies under this loop: a quote request cut by it ends the loop too.
        let quote = http
            .post(format!("{base}/api/quotes"))
            .bearer_auth(&token)
            .json(&json!({"pair": "BTC/USD", "side": "buy", "amount": "0.001"}))
            .send()
            .await;
        let Ok(quote) = quote else { break };
        if quote.status() != 201 {
            break;
        }
        let Ok(quote) = quote.json::<Value>().await else {
            break;
        };
        let key = format!("crash-{trader}-{n}");
        let quote_id = quote["id"].as_str().unwrap_or_default().to_string();
        let sent = http
            .post(format!("{base}/api/orders"))
            .bearer_auth(&token)
            .header("Idempotency-Key", &key)
            .json(&json!({"quote_id": quote_id}))
            .send()
            .await;
        let answer = match sent {
            Ok(r) => {
                let code = r.status().as_u16();
                r.json::<Value>().await.ok().map(|body| (code, body))
            }
            Err(_) => None,
        };
        let died = answer.is_none();
        attempts.push(Attempt {
            token: token.clone(),
            key,
            quote_id,
            answer,
        });
        if died {
            break;
        }
    }
    attempts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_killed_mid_batch_leaves_no_partial_order_and_retries_execute_once() {
    let redis = testkit::services::redis_url();
    let mut cluster = Cluster::start(&redis, 1, 1).await;
    let traders = 24;
    let admin = cluster.login(0, ADMIN.0, ADMIN.1).await;
    let mut tokens = Vec::new();
    for i in 0..traders {
        let email = format!("crash{i}@rategate.test");
        let token = cluster.web[0]
            .funded_user(&admin, &email, "USD", "100000.00")
            .await;
        tokens.push(token);
    }
    // Rates reach the node before the load starts.
    cluster.trade(0, &tokens[0], "warm-up").await;

    let runs = futures_util::future::join_all(
        tokens
            .iter()
            .enumerate()
            .map(|(i, token)| trade_until_killed(&cluster, token.clone(), i)),
    );
    let killer = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        testkit::process::signal(cluster.apis[0].pid(), "KILL");
    };
    let (runs, ()) = tokio::join!(runs, killer);
    let mut attempts: Vec<Attempt> = runs.into_iter().flatten().collect();
    // The keys cut by the crash are retried first, while their quotes are still valid.
    attempts.sort_by_key(|a| a.answer.is_some());
    let cut = attempts.iter().filter(|a| a.answer.is_none()).count();
    let answered = attempts.len() - cut;
    assert!(
        answered >= traders,
        "orders ran before the kill: {answered}"
    );
    assert!(cut > 0, "the kill cut requests in flight");
    eprintln!("{answered} orders answered before the kill, {cut} cut by it");

    cluster.respawn_api(0).await;
    // Every key again, with its quote: an answered key replays its answer byte for byte; a
    // key cut by the crash either executed (and replays) or executes now, once.
    let mut filled_quotes: HashMap<String, String> = HashMap::new();
    for a in &attempts {
        let (code, body) = cluster.web[0].order(&a.token, &a.key, &a.quote_id).await;
        if let Some(first) = &a.answer {
            assert_eq!(&(code, body.clone()), first, "key {} replays", a.key);
        }
        assert_eq!(code, 201, "key {}: {body}", a.key);
        let order_id = body["id"].as_str().expect("order id").to_string();
        if let Some(other) = filled_quotes.insert(a.quote_id.clone(), order_id.clone()) {
            panic!("quote {} filled twice: {other} and {order_id}", a.quote_id);
        }
    }

    let url = format!("{}/{}", testkit::services::mysql_base(), cluster.db);
    let pool = sqlx::MySqlPool::connect(&url).await.expect("MariaDB");
    let text = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(sql)
                .fetch_all(&pool)
                .await
                .expect("query")
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<Option<String>, _>(i).unwrap_or_default())
                        .collect::<Vec<String>>()
                })
                .collect::<Vec<_>>()
        }
    };
    let dec = |s: &str| s.parse::<Decimal>().expect("decimal");
    // No partial order: every order has its ledger transaction of four lines and its quote
    // consumed; no consumed quote lacks its order.
    let orders = text(
        "SELECT o.id, CAST(COUNT(e.id) AS CHAR), CAST(q.consumed_at IS NOT NULL AS CHAR)
         FROM orders o JOIN quotes q ON q.id = o.quote_id
         LEFT JOIN ledger_entries e ON e.tx_id = o.ledger_tx_id GROUP BY o.id, q.consumed_at",
    )
    .await;
    for row in &orders {
        assert_eq!((row[1].as_str(), row[2].as_str()), ("4", "1"), "{row:?}");
    }
    let orphans = text(
        "SELECT q.id FROM quotes q LEFT JOIN orders o ON o.quote_id = q.id
         WHERE q.consumed_at IS NOT NULL AND o.id IS NULL",
    )
    .await;
    assert!(
        orphans.is_empty(),
        "consumed quotes without an order: {orphans:?}"
    );
    let trades =
        text("SELECT CAST(COUNT(*) AS CHAR) FROM ledger_transactions WHERE kind = 'trade'").await;
    assert_eq!(
        trades[0][0],
        orders.len().to_string(),
        "one ledger transaction per order"
    );
    // The warm-up order and every attempt's order, and nothing else.
    assert_eq!(orders.len(), attempts.len() + 1);

    let entries = text(
        "SELECT CAST(tx_id AS CHAR), account, asset, CAST(amount AS CHAR) FROM ledger_entries",
    )
    .await;
    let mut per_tx: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    let mut per_account: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for row in &entries {
        *per_tx.entry((row[0].clone(), row[2].clone())).or_default() += dec(&row[3]);
        *per_account
            .entry((row[1].clone(), row[2].clone()))
            .or_default() += dec(&row[3]);
    }
    assert!(
        per_tx.values().all(Decimal::is_zero),
        "every ledger transaction sums to zero"
    );
    let balances =
        text("SELECT CAST(user_id AS CHAR), asset, CAST(available AS CHAR) FROM balances").await;
    for row in &balances {
        let ledger = per_account
            .get(&(format!("user:{}", row[0]), row[1].clone()))
            .copied()
            .unwrap_or_default();
        assert_eq!(dec(&row[2]), ledger, "balance equals its ledger: {row:?}");
        assert!(dec(&row[2]) >= Decimal::ZERO);
    }
    pool.close().await;
    cluster.stop().await;
}
