//! Quotes, orders and the ledger against the real MariaDB: exact prices, nothing moving on a
//! refusal, idempotency, and concurrency that can neither overdraw nor double-spend. After
//! every test the ledger invariants are checked in SQL.

use std::time::Duration;

use crate::support::{assert_problem, Backend, TestApi};
use serde_json::{json, Value};

/// Every ledger transaction sums to zero per asset; every balance equals its entries and is
/// never negative. Summed exactly in Rust, from the rows as text, on either store.
pub(crate) async fn assert_ledger_invariants(api: &TestApi) {
    use std::collections::BTreeMap;
    let dec = |s: &str| s.parse::<common::Decimal>().unwrap();
    let entries = api
        .sql_rows(
            "SELECT CAST(tx_id AS CHAR), account, asset, CAST(amount AS CHAR) FROM ledger_entries",
        )
        .await;
    let mut per_tx: BTreeMap<(String, String), common::Decimal> = BTreeMap::new();
    let mut per_account: BTreeMap<(String, String), common::Decimal> = BTreeMap::new();
    for row in &entries {
        *per_tx.entry((row[0].clone(), row[2].clone())).or_default() += dec(&row[3]);
        *per_account
            .entry((row[1].clone(), row[2].clone()))
            .or_default() += dec(&row[3]);
    }
    let unbalanced: Vec<_> = per_tx.iter().filter(|(_, sum)| !sum.is_zero()).collect();
    assert!(
        unbalanced.is_empty(),
        "unbalanced ledger transactions: {unbalanced:?}"
    );
    let balances = api
        .sql_rows("SELECT CAST(user_id AS CHAR), asset, CAST(available AS CHAR) FROM balances")
        .await;
    assert!(!balances.is_empty() || entries.is_empty());
    for row in &balances {
        let available = dec(&row[2]);
        assert!(
            available >= common::Decimal::ZERO,
            "negative balance {row:?}"
        );
        let from_ledger = per_account
            .get(&(format!("user:{}", row[0]), row[1].clone()))
            .copied()
            .unwrap_or_default();
        assert_eq!(
            available, from_ledger,
            "balance differs from its ledger entries: {row:?}"
        );
    }
}

async fn trading_ready(api: &TestApi) -> crate::support::StatusPump {
    let pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.meta("ETH/USD", "0.01").await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    for _ in 0..100 {
        let (_, r) = api.get("/api/rates/BTC_USD", None).await;
        if r["stale"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pump
}

/// A BTC/USD quote that must be given.
async fn quote(api: &TestApi, token: &str, side: &str, amount: &str) -> Value {
    let (code, q) = api.quote(token, "BTC/USD", side, amount).await;
    assert_eq!(code, 201, "{q}");
    q
}

pub(crate) async fn balance(api: &TestApi, token: &str, asset: &str) -> String {
    let (_, b) = api.get("/api/balances", Some(token)).await;
    b["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["asset"] == asset)
        .map(|x| x["available"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "0".into())
}

async fn a_trader_buys_and_sells_at_exactly_the_quoted_price(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    api.set_bps_spread(&admin, "BTC_USD", "25").await;
    let trader = api.user_token("trader@x.io").await;
    let mut socket = api.socket(Some(&trader)).await.unwrap();
    api.deposit(&admin, "trader@x.io", "USD", "1000.00").await;
    assert_eq!(balance(&api, &trader, "USD").await, "1000.00");

    // 97000.2 × 1.0025 = 97242.7005 → 97242.8; 0.001 × 97242.8 = 97.2428 → the user pays 97.25
    let q = quote(&api, &trader, "buy", "0.001").await;
    assert_eq!(
        (q["price"].as_str(), q["total"].as_str()),
        (Some("97242.8"), Some("97.25"))
    );
    assert_eq!(q["raw_ask"], "97000.2");
    let (code, filled) = api.order(&trader, "k-1", q["id"].as_str().unwrap()).await;
    assert_eq!(code, 201, "{filled}");
    assert_eq!(filled["price"], "97242.8");
    assert_eq!(filled["total"], "97.25");
    assert_eq!(filled["status"], "filled");
    // One scale per figure: the amount at BTC's 8 places, the same in quote and order.
    assert_eq!(
        (q["amount"].as_str(), filled["amount"].as_str()),
        (Some("0.00100000"), Some("0.00100000"))
    );
    assert_eq!(balance(&api, &trader, "USD").await, "902.75");
    assert_eq!(balance(&api, &trader, "BTC").await, "0.00100000");
    let event = socket.next(|v| v["event"] == "order:filled").await;
    assert_eq!(
        event["data"], filled,
        "the event shows the order as the API does"
    );
    socket
        .next(|v| {
            v["event"] == "balance:updated"
                && v["data"]["balances"]
                    .as_array()
                    .is_some_and(|b| b.len() == 2)
        })
        .await;

    // The price moves; the quote does not.
    api.feed.rate("BTC/USD", "99000.0", "99000.1").await;
    // 97000.1... no: sell at the new bid 99000.0 × 0.9975 = 98752.5 (down to tick)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = quote(&api, &trader, "sell", "0.0005").await;
    assert_eq!(s["price"], "98752.5");
    // 0.0005 × 98752.5 = 49.37625 → the user receives 49.37
    assert_eq!(s["total"], "49.37");
    let (code, _) = api.order(&trader, "k-2", s["id"].as_str().unwrap()).await;
    assert_eq!(code, 201);
    assert_eq!(balance(&api, &trader, "USD").await, "952.12");
    assert_eq!(balance(&api, &trader, "BTC").await, "0.00050000");

    let (_, orders) = api.get("/api/orders", Some(&trader)).await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 2);
    let (code, one) = api
        .get(
            &format!("/api/orders/{}", filled["id"].as_str().unwrap()),
            Some(&trader),
        )
        .await;
    assert_eq!((code, one["total"].as_str()), (200, Some("97.25")));

    // Revenue: buy 97.25 − 0.001 × 97000.2 = 0.2498; sell 0.0005 × 99000.0 − 49.37 = 0.13
    let (_, rev) = api.get("/api/admin/revenue", Some(&admin)).await;
    assert_eq!(rev["revenue"][0]["pair"], "BTC/USD");
    assert_eq!(rev["revenue"][0]["asset"], "USD");
    assert_eq!(rev["revenue"][0]["amount"], "0.3798");
    assert_eq!(rev["revenue"][0]["orders"], 2);
    let (_, users) = api.get("/api/admin/users", Some(&admin)).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    assert_eq!(api.get("/api/admin/revenue", Some(&trader)).await.0, 403);

    // The trader's own ledger: every leg newest first, with the running balance, exact.
    let (code, ledger) = api.get("/api/ledger", Some(&trader)).await;
    assert_eq!(code, 200, "{ledger}");
    let lines: Vec<Value> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!([e["kind"], e["asset"], e["amount"], e["balance"]]))
        .collect();
    assert_eq!(
        lines,
        [
            json!(["trade", "USD", "49.37", "952.12"]),
            json!(["trade", "BTC", "-0.00050000", "0.00050000"]),
            json!(["trade", "BTC", "0.00100000", "0.00100000"]),
            json!(["trade", "USD", "-97.25", "902.75"]),
            json!(["deposit", "USD", "1000.00", "1000.00"]),
        ]
    );
    assert_eq!(
        ledger["entries"][0]["reference"],
        ledger["entries"][1]["reference"]
    );
    // Paged: two at a time, following next_before.
    let (_, first) = api.get("/api/ledger?limit=2", Some(&trader)).await;
    let next = first["next_before"].as_u64().expect("more pages");
    let (_, second) = api
        .get(&format!("/api/ledger?limit=2&before={next}"), Some(&trader))
        .await;
    assert_eq!(second["entries"][0]["amount"], "0.00100000");
    let (_, last) = api
        .get(
            &format!("/api/ledger?limit=2&before={}", second["next_before"]),
            Some(&trader),
        )
        .await;
    assert_eq!(last["entries"].as_array().unwrap().len(), 1);
    assert!(last["next_before"].is_null());
    assert_eq!(api.get("/api/ledger", None).await.0, 401);

    // A deposit written with fewer places than USD has still reads at USD's scale, in the
    // deposit's answer and in the ledger's running balance.
    let (code, dep) = api
        .post(
            "/api/admin/deposits",
            Some(&admin),
            json!({"email": "trader@x.io", "asset": "USD", "amount": "7.5"}),
        )
        .await;
    assert_eq!(code, 201, "{dep}");
    assert_eq!(
        (dep["amount"].as_str(), dep["balance"].as_str()),
        (Some("7.50"), Some("959.62"))
    );
    let (_, ledger) = api.get("/api/ledger?limit=1", Some(&trader)).await;
    let top = &ledger["entries"][0];
    assert_eq!(
        json!([top["amount"], top["balance"]]),
        json!(["7.50", "959.62"])
    );
    socket.close().await;
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

async fn refused_orders_move_nothing_and_replay_the_same_answer(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.quote_ttl = Duration::from_millis(1500)).await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let alice = api.user_token("alice@x.io").await;
    let mallory = api.user_token("mallory@x.io").await;
    api.deposit(&admin, "alice@x.io", "USD", "150.00").await;

    // Someone else's quote: 404, as if it did not exist.
    let q = quote(&api, &alice, "buy", "0.001").await;
    // A second quote while the funds still cover it: refused at order time below.
    let q2 = quote(&api, &alice, "buy", "0.001").await;
    let qid = q["id"].as_str().unwrap();
    let (code, body) = api.order(&mallory, "m-1", qid).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("quote_not_found"))
    );

    // Used once, then refused.
    assert_eq!(api.order(&alice, "a-1", qid).await.0, 201);
    let (code, body) = api.order(&alice, "a-2", qid).await;
    assert_eq!((code, body["code"].as_str()), (409, Some("quote_used")));
    let after_first = balance(&api, &alice, "USD").await;

    // A quote the balance no longer covers is refused at once, with the order's problem.
    let (code, body) = api.quote(&alice, "BTC/USD", "buy", "0.001").await;
    assert_problem(code, &body, 422, "insufficient_funds");
    let (code, body) = api.quote(&alice, "BTC/USD", "sell", "0.0011").await;
    assert_problem(code, &body, 422, "insufficient_funds");

    // Insufficient funds at order time (the quote came while funds sufficed): refused,
    // nothing moved, and the same key answers the same again.
    let (code, body) = api.order(&alice, "a-3", q2["id"].as_str().unwrap()).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("insufficient_funds"))
    );
    assert_eq!(
        api.order(&alice, "a-3", q2["id"].as_str().unwrap()).await,
        (code, body)
    );
    assert_eq!(balance(&api, &alice, "USD").await, after_first);

    // Expired.
    let q3 = quote(&api, &alice, "sell", "0.0001").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (code, body) = api.order(&alice, "a-4", q3["id"].as_str().unwrap()).await;
    assert_eq!((code, body["code"].as_str()), (410, Some("quote_expired")));
    assert_eq!(balance(&api, &alice, "BTC").await, "0.00100000");

    // Idempotency: same key + same body = the first response; another body = 422.
    let (code, first) = api.order(&alice, "a-1", qid).await;
    assert_eq!(code, 201, "a replay returns the original 201: {first}");
    let (code, body) = api.order(&alice, "a-1", q2["id"].as_str().unwrap()).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let r = api
        .http
        .post(format!("{}/api/orders", api.base))
        .bearer_auth(&alice)
        .json(&json!({"quote_id": qid}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the key is required");

    let (_, orders) = api.get("/api/orders", Some(&alice)).await;
    assert_eq!(
        orders["orders"].as_array().unwrap().len(),
        1,
        "exactly one order moved money"
    );
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

async fn quotes_are_refused_on_stale_rates_and_bad_amounts(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let trader = api.user_token("q@x.io").await;
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    // No status heard: stale.
    let (code, body) = api.quote(&trader, "BTC/USD", "buy", "0.01").await;
    assert_problem(code, &body, 503, "rates_stale");
    let _pump = trading_ready(&api).await;
    let q = |pair: &str, side: &str, amount: Value| json!({"pair": pair, "side": side, "amount": amount});
    let invalid = (422, "validation_failed");
    for (req, (code, problem)) in [
        (q("BTC/USD", "buy", json!("0.000000001")), invalid),
        (q("BTC/USD", "buy", json!("0")), invalid),
        (q("BTC/USD", "buy", json!(0.01)), invalid),
        (q("BTC/USD", "hold", json!("0.01")), invalid),
        (q("DOGE/USD", "buy", json!("1")), (404, "unknown_pair")),
    ] {
        let (c, b) = api.post("/api/quotes", Some(&trader), req.clone()).await;
        assert_eq!((c, b["code"].as_str()), (code, Some(problem)), "{req}: {b}");
    }
    assert_eq!(
        api.post(
            "/api/quotes",
            None,
            json!({"pair": "BTC/USD", "side": "buy", "amount": "0.01"})
        )
        .await
        .0,
        401
    );
    api.finish().await;
}

async fn two_hundred_concurrent_orders_never_overdraw_one_balance(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.db_max_connections = 32).await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let trader = api.user_token("whale@x.io").await;
    // Each 0.001 BTC costs 97.01 USD (97000.2 × 0.001 = 97.0002 → 97.01); fund 50 of them.
    api.deposit(&admin, "whale@x.io", "USD", "4850.50").await;
    let mut quotes = Vec::new();
    for _ in 0..200 {
        quotes.push(
            quote(&api, &trader, "buy", "0.001").await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut tasks = Vec::new();
    for (i, qid) in quotes.into_iter().enumerate() {
        let (web, token) = (api.api.clone(), trader.clone());
        tasks.push(tokio::spawn(async move {
            web.order(&token, &format!("c-{i}"), &qid).await.0
        }));
    }
    let mut codes = std::collections::HashMap::new();
    for t in tasks {
        *codes.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        codes.get(&201),
        Some(&50),
        "exactly the funded 50 fill: {codes:?}"
    );
    assert_eq!(
        codes.get(&422),
        Some(&150),
        "the rest are refused for funds: {codes:?}"
    );
    assert_eq!(balance(&api, &trader, "USD").await, "0.00");
    assert_eq!(balance(&api, &trader, "BTC").await, "0.05000000");
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

async fn one_idempotency_key_fired_fifty_times_makes_one_order(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.db_max_connections = 32).await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let trader = api.funded_user(&admin, "dup@x.io", "USD", "1000.00").await;
    let qid = quote(&api, &trader, "buy", "0.001").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (web, token, qid) = (api.api.clone(), trader.clone(), qid.clone());
        tasks.push(tokio::spawn(async move {
            web.order(&token, "same-key", &qid).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        match code {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(body["code"], "request_in_progress"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the same order");
    let (_, orders) = api.get("/api/orders", Some(&trader)).await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    assert_eq!(balance(&api, &trader, "USD").await, "902.99");
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

#[tokio::test]
async fn mariadb_vanishing_mid_order_answers_503_and_leaves_no_partial_state() {
    let target: std::net::SocketAddr = "127.0.0.1:3306".parse().unwrap();
    let proxy = testkit::TcpProxy::start(target).await;
    let via = proxy.addr().to_string();
    let api =
        TestApi::start(|c| c.database_url = c.database_url.replace("127.0.0.1:3306", &via)).await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let trader = api
        .funded_user(&admin, "unlucky@x.io", "USD", "1000.00")
        .await;
    let qid = quote(&api, &trader, "buy", "0.001").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The database disappears in the middle of the order's transaction: after the balances
    // and ledger lines were sent, just as the order row is about to be written.
    proxy.cut_on(b"INSERT INTO orders");
    let (code, body) = api.order(&trader, "k-1", &qid).await;
    assert_problem(code, &body, 503, "unavailable");
    assert!(
        body.to_string().len() < 400 && !body.to_string().contains("sql"),
        "nothing internal leaks: {body}"
    );

    proxy.restore();
    testkit::eventually("the pool reconnects", || async {
        api.get("/api/balances", Some(&trader)).await.0 == 200
    })
    .await;
    assert_eq!(
        balance(&api, &trader, "USD").await,
        "1000.00",
        "the debit was rolled back"
    );
    assert_eq!(balance(&api, &trader, "BTC").await, "0", "no credit either");
    let (_, orders) = api.get("/api/orders", Some(&trader)).await;
    assert!(orders["orders"].as_array().unwrap().is_empty());
    // The key's answer is written in the order's own transaction, so nothing of the failed
    // request remains: the same key, retried, executes the quote once...
    let (code, first) = api.order(&trader, "k-1", &qid).await;
    assert_eq!(code, 201, "{first}");
    // ...and from then on replays that order.
    let (code, again) = api.order(&trader, "k-1", &qid).await;
    assert_eq!((code, &again), (201, &first));
    assert_eq!(
        api.order(&trader, "k-2", &qid).await.0,
        409,
        "the quote fills once"
    );
    assert_eq!(balance(&api, &trader, "USD").await, "902.99");
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

async fn orders_page_newest_first_and_old_quotes_are_purged(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let trader = api
        .funded_user(&admin, "pager@x.io", "USD", "1000.00")
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let q = quote(&api, &trader, "buy", "0.0001").await;
        let (_, o) = api
            .order(&trader, &format!("p-{i}"), q["id"].as_str().unwrap())
            .await;
        ids.push(o["id"].as_str().unwrap().to_string());
    }
    let (_, page1) = api.get("/api/orders?limit=2", Some(&trader)).await;
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = api
        .get(
            &format!("/api/orders?limit=2&cursor={cursor}"),
            Some(&trader),
        )
        .await;
    let (_, page3) = api
        .get(
            &format!(
                "/api/orders?limit=2&cursor={}",
                page2["next_cursor"].as_str().unwrap()
            ),
            Some(&trader),
        )
        .await;
    let seen: Vec<String> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| {
            p["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string())
        })
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    assert!(page3["next_cursor"].is_null());
    assert_eq!(
        api.get("/api/orders?cursor=garbage", Some(&trader)).await.0,
        422
    );

    // An unused quote expired long ago is purged; executed ones are kept with their orders.
    quote(&api, &trader, "buy", "0.0001").await;
    let store = api.app().state().store.clone();
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let (quotes, keys) = store.purge_money(later, later).await.unwrap();
    assert_eq!((quotes, keys), (1, 5));
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

/// The code refuses overdrafts; the database refuses them too, even from a hand-written SQL
/// statement, on either store.
async fn the_database_itself_refuses_a_negative_balance(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let admin = api.admin_token().await;
    api.register("vault@x.io").await;
    api.deposit(&admin, "vault@x.io", "USD", "10.00").await;
    let refused = api
        .sql_exec("UPDATE balances SET available = '-0.01'")
        .await
        .unwrap_err();
    assert!(
        refused.to_lowercase().contains("constraint"),
        "expected a CHECK constraint violation, got: {refused}"
    );
    // A non-negative write goes through (the constraint is not refusing everything).
    assert_eq!(
        api.sql_exec("UPDATE balances SET available = '10'").await,
        Ok(1)
    );
    let rows = api
        .sql_rows("SELECT CAST(available AS CHAR) FROM balances")
        .await;
    assert_eq!(
        rows[0][0].parse::<common::Decimal>().unwrap(),
        common::Decimal::TEN
    );
    api.finish().await;
}

/// Deposits take only assets of the carried pairs, at most the asset's cap, and never to the
/// depositing admin's own account; a refused deposit moves nothing.
async fn deposits_are_limited_to_carried_assets_their_caps_and_other_accounts(backend: Backend) {
    let api = TestApi::start_on(backend, |c| {
        c.deposit_caps = user_api_svc::config::parse_caps("BTC=1000").unwrap();
        c.deposit_cap_default = "5000".parse().unwrap();
    })
    .await;
    let admin = api.admin_token().await;
    api.register("fund@x.io").await;
    let deposit = |email: &str, asset: &str, amount: &str| json!({"email": email, "asset": asset, "amount": amount});
    for (body, status, code) in [
        (deposit("fund@x.io", "XYZ", "1"), 422, "validation_failed"),
        (
            deposit("fund@x.io", "BTC", "1000000000000"),
            422,
            "validation_failed",
        ),
        (
            deposit("fund@x.io", "BTC", "1000.00000001"),
            422,
            "validation_failed",
        ),
        (
            deposit("fund@x.io", "USD", "5000.01"),
            422,
            "validation_failed",
        ),
        (
            deposit(crate::support::ADMIN_EMAIL, "USD", "10.00"),
            403,
            "self_deposit",
        ),
    ] {
        let (got, problem) = api
            .post("/api/admin/deposits", Some(&admin), body.clone())
            .await;
        assert_problem(got, &problem, status, code);
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}: {problem}"
        );
    }
    let rows = api
        .sql_rows("SELECT CAST(COUNT(*) AS CHAR) FROM ledger_entries")
        .await;
    assert_eq!(rows[0][0], "0", "a refused deposit writes nothing");
    api.deposit(&admin, "fund@x.io", "BTC", "1000").await;
    api.deposit(&admin, "fund@x.io", "USD", "5000.00").await;
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

/// One trader's quotes and orders have a budget of their own: past it, 429 with `Retry-After`
/// and nothing written; another trader is untouched. A refused order's idempotency record and
/// an unused expired quote are purged within minutes, a filled order's record is kept.
async fn each_account_has_a_quote_and_an_order_budget(backend: Backend) {
    use user_api_svc::money::budget::Budget;
    let tight = Budget {
        per_second: 1,
        burst: 3,
    };
    let api = TestApi::start_on(backend, |c| {
        c.quote_budget = tight;
        c.order_budget = tight;
    })
    .await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let (greedy, other) = (
        api.user_token("greedy@x.io").await,
        api.user_token("calm@x.io").await,
    );
    api.deposit(&admin, "greedy@x.io", "USD", "1000.00").await;
    api.deposit(&admin, "calm@x.io", "USD", "1000.00").await;
    let mut quotes = Vec::new();
    for _ in 0..3 {
        quotes.push(quote(&api, &greedy, "buy", "0.0001").await);
    }
    let r = api
        .http
        .post(format!("{}/api/quotes", api.base))
        .bearer_auth(&greedy)
        .json(&json!({"pair": "BTC/USD", "side": "buy", "amount": "0.0001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests", "{body}");
    let stored = api
        .sql_rows("SELECT CAST(COUNT(*) AS CHAR) FROM quotes")
        .await;
    assert_eq!(stored[0][0], "3", "the refused quote wrote nothing");
    quote(&api, &other, "buy", "0.0001").await;
    // Orders: one fills, one is refused (a quote that is not the caller's), one replays.
    let (code, filled) = api
        .order(&greedy, "k1", quotes[0]["id"].as_str().unwrap())
        .await;
    assert_eq!(code, 201, "{filled}");
    let (code, _) = api.order(&greedy, "k2", "no-such-quote").await;
    assert_eq!(code, 404);
    let (code, _) = api
        .order(&greedy, "k3", quotes[1]["id"].as_str().unwrap())
        .await;
    assert_eq!(code, 201);
    let (code, body) = api
        .order(&greedy, "k4", quotes[2]["id"].as_str().unwrap())
        .await;
    assert_problem(code, &body, 429, "too_many_requests");
    // Minutes later (QUOTE_PURGE_AFTER_S), the refused order's record and the unused quotes
    // go; the filled orders' records stay for their 24 h.
    let store = api.app().state().store.clone();
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    let (quotes_gone, keys_gone) = store
        .purge_money(soon, chrono::Utc::now() - chrono::Duration::hours(24))
        .await
        .unwrap();
    assert_eq!((quotes_gone, keys_gone), (2, 1));
    tokio::time::sleep(Duration::from_millis(1100)).await; // one order back in the budget
    let (code, replay) = api
        .order(&greedy, "k1", quotes[0]["id"].as_str().unwrap())
        .await;
    assert_eq!((code, &replay["id"]), (201, &filled["id"]), "still replays");
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

/// With `ADMIN_SELF_DEPOSIT=true` an admin may fund their own account.
async fn self_deposit_is_allowed_when_configured(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.admin_self_deposit = true).await;
    let admin = api.admin_token().await;
    api.deposit(&admin, crate::support::ADMIN_EMAIL, "USD", "10.00")
        .await;
    api.finish().await;
}

/// Orders that arrive together are one batch, one transaction: each gets its own answer, and
/// a refusal (expired quote, funds short, quote used, someone else's quote) undoes nothing of
/// the others. One batch is visible as one `created_at` on every record it wrote.
async fn one_batch_answers_each_order_on_its_own(backend: Backend) {
    let api = TestApi::start_on(backend, |c| {
        c.quote_ttl = Duration::from_millis(3000);
        // A long gathering window and one worker: everything fired below is one batch (each
        // quote below waits out the window too).
        c.group_commit.wait = Duration::from_millis(400);
        c.group_commit.workers = 1;
    })
    .await;
    let _pump = trading_ready(&api).await;
    let admin = api.admin_token().await;
    let alice = api.user_token("alice@batch.io").await;
    let bob = api.user_token("bob@batch.io").await;
    api.deposit(&admin, "alice@batch.io", "USD", "1000.00")
        .await;
    api.deposit(&admin, "bob@batch.io", "USD", "150.00").await;
    api.deposit(&admin, "alice@batch.io", "BTC", "0.001").await;
    let stale = quote(&api, &alice, "buy", "0.001").await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let qa = quote(&api, &alice, "buy", "0.001").await;
    let qa2 = quote(&api, &alice, "sell", "0.001").await;
    // Bob can pay for either of his quotes, not for both.
    let qb1 = quote(&api, &bob, "buy", "0.001").await;
    let qb2 = quote(&api, &bob, "buy", "0.001").await;
    let id = |q: &Value| q["id"].as_str().unwrap().to_string();
    let fired = [
        (alice.clone(), "a-buy", id(&qa)),
        (alice.clone(), "a-stale", id(&stale)),
        (bob.clone(), "b-1", id(&qb1)),
        (bob.clone(), "b-2", id(&qb2)),
        (bob.clone(), "b-theirs", id(&qa2)),
        (alice.clone(), "a-again", id(&qa)),
        // Alice sells the BTC her buy in this same batch gives her.
        (alice.clone(), "a-sell", id(&qa2)),
    ];
    let mut tasks = Vec::new();
    for (i, (token, key, qid)) in fired.iter().cloned().enumerate() {
        let web = api.api.clone();
        tasks.push(tokio::spawn(async move {
            // In this order, inside the gathering window.
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            web.order(&token, key, &qid).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let codes: Vec<(u16, String)> = answers
        .iter()
        .map(|(c, b)| (*c, b["code"].as_str().unwrap_or("filled").to_string()))
        .collect();
    let want = [
        (201, "filled"),
        (410, "quote_expired"),
        (201, "filled"),
        (422, "insufficient_funds"),
        (404, "quote_not_found"),
        (409, "quote_used"),
        (201, "filled"),
    ];
    let want: Vec<(u16, String)> = want.iter().map(|(c, s)| (*c, s.to_string())).collect();
    assert_eq!(codes, want);
    let batches = api
        .sql_rows("SELECT DISTINCT CAST(created_at AS CHAR) FROM idempotency_keys")
        .await;
    assert_eq!(batches.len(), 1, "one batch, one transaction: {batches:?}");
    // Each answer replays as it was.
    for ((token, key, qid), first) in fired.iter().zip(&answers) {
        assert_eq!(&api.order(token, key, qid).await, first, "{key}");
    }
    assert_eq!(balance(&api, &bob, "BTC").await, "0.00100000");
    assert_eq!(balance(&api, &alice, "BTC").await, "0.00100000");
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

on_both_backends!(
    one_batch_answers_each_order_on_its_own,
    deposits_are_limited_to_carried_assets_their_caps_and_other_accounts,
    each_account_has_a_quote_and_an_order_budget,
    self_deposit_is_allowed_when_configured,
    the_database_itself_refuses_a_negative_balance,
    a_trader_buys_and_sells_at_exactly_the_quoted_price,
    refused_orders_move_nothing_and_replay_the_same_answer,
    quotes_are_refused_on_stale_rates_and_bad_amounts,
    two_hundred_concurrent_orders_never_overdraw_one_balance,
    one_idempotency_key_fired_fifty_times_makes_one_order,
    orders_page_newest_first_and_old_quotes_are_purged,
);
