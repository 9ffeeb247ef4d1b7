//! Spreads over REST against the real MariaDB and Redis: validation, pricing on the API, the
//! append-only audit trail.

use crate::support::{Backend, TestApi};
use serde_json::json;

async fn rates_work_before_any_admin_action_with_zero_spread(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    support_eventually(&api, "/api/rates/BTC_USD", |b| {
        b["stale"] == false && b["withSpread"]["buy"] == "97000.2"
    })
    .await;
    let (_, body) = api.get("/api/rates/BTC-USD", None).await;
    assert_eq!(
        body["withSpread"],
        json!({"buy": "97000.2", "sell": "97000.1"})
    );
    assert_eq!(
        body["currentSpread"],
        json!({"buy": "0.0", "sell": "0.0"}),
        "at the 0.1 tick"
    );
    let (code, all) = api.get("/api/rates", None).await;
    assert_eq!(code, 200);
    assert_eq!(all["rates"]["BTC_USD"]["original"]["buy"], "97000.2");
    let (code, body) = api.get("/api/rates/DOGE_USD", None).await;
    assert_eq!((code, body["code"].as_str()), (404, Some("unknown_pair")));
    let (code, body) = api.get("/api/rates/ETH_USD", None).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (503, Some("rate_unavailable"))
    );
    api.finish().await;
}

async fn support_eventually(api: &TestApi, path: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, body) = api.get(path, None).await;
        if pred(&body) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out on {path}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn admin_sets_lists_deletes_and_audits_spreads(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.meta("ETH/USD", "0.01").await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    api.feed.rate("ETH/USD", "3000.00", "3000.10").await;
    let admin = api.admin_token().await;

    let (code, body) = api
        .set_spread(
            &admin,
            "BTC_USD",
            json!({"kind": "bps", "buy": "25", "sell": "25", "reason": "launch"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    // 97000.2 × 1.0025 = 97242.7005 → up to 97242.8; 97000.1 × 0.9975 = 96757.59975 → down to 96757.5
    support_eventually(&api, "/api/rates/BTC_USD", |b| {
        b["withSpread"]["buy"] == "97242.8"
    })
    .await;
    let (_, btc) = api.get("/api/rates/BTC_USD", None).await;
    assert_eq!(btc["withSpread"]["sell"], "96757.5");
    assert_eq!(
        btc["currentSpread"],
        json!({"buy": "242.6", "sell": "242.6"})
    );

    let (code, _) = api
        .set_spread(
            &admin,
            "default",
            json!({"kind": "absolute", "buy": "1.5", "sell": "0.5"}),
        )
        .await;
    assert_eq!(code, 200);
    let (_, eth) = api.get("/api/rates/ETH_USD", None).await;
    assert_eq!(
        eth["withSpread"],
        json!({"buy": "3001.60", "sell": "2999.50"})
    );
    assert_eq!(
        eth["currentSpread"],
        json!({"buy": "1.50", "sell": "0.50"}),
        "at the 0.01 tick"
    );

    let (code, list) = api.get("/api/spreads", Some(&admin)).await;
    assert_eq!(code, 200);
    assert_eq!(list["default"]["kind"], "absolute");
    assert_eq!(list["pairs"]["BTC/USD"]["buy"], "25");

    let r = api
        .http
        .delete(format!(
            "{}/api/spreads/BTC%2FUSD?reason=rollback",
            api.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    support_eventually(&api, "/api/rates/BTC_USD", |b| {
        b["withSpread"]["buy"] == "97001.7"
    })
    .await;
    let r = api
        .http
        .delete(format!("{}/api/spreads/BTC_USD", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let (code, history) = api.get("/api/spreads/BTC_USD/history", Some(&admin)).await;
    assert_eq!(code, 200);
    let entries = history["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "delete");
    assert_eq!(entries[0]["reason"], "rollback");
    assert_eq!(entries[0]["old"]["buy"], "25");
    assert!(entries[0]["new"].is_null());
    assert_eq!(entries[1]["action"], "set");
    assert_eq!(entries[1]["reason"], "launch");
    assert!(entries[1]["old"].is_null());
    assert_eq!(entries[1]["actor"]["email"], crate::support::ADMIN_EMAIL);
    api.finish().await;
}

async fn spread_input_is_validated_and_only_admins_may_touch_it(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let admin = api.admin_token().await;
    let user = api.user_token("u@x.io").await;
    for (path, body, code, problem) in [
        (
            "/api/spreads/BTC_USD",
            json!({"kind": "bps", "buy": -1, "sell": "1"}),
            422,
            "validation_failed",
        ),
        (
            "/api/spreads/BTC_USD",
            json!({"kind": "bps", "buy": "-1", "sell": "1"}),
            422,
            "validation_failed",
        ),
        (
            "/api/spreads/BTC_USD",
            json!({"kind": "bps", "buy": "10001", "sell": "1"}),
            422,
            "validation_failed",
        ),
        (
            "/api/spreads/BTC_USD",
            json!({"kind": "percent", "buy": "1", "sell": "1"}),
            422,
            "validation_failed",
        ),
        (
            "/api/spreads/BTC_USD",
            json!({"kind": "bps", "buy": "1"}),
            400,
            "invalid_body",
        ),
        (
            "/api/spreads/NOPE_USD",
            json!({"kind": "bps", "buy": "1", "sell": "1"}),
            404,
            "unknown_pair",
        ),
        (
            "/api/spreads/not-a-pair-x",
            json!({"kind": "bps", "buy": "1", "sell": "1"}),
            400,
            "invalid_pair",
        ),
    ] {
        let (c, b) = api.put(path, Some(&admin), body.clone()).await;
        assert_eq!(
            (c, b["code"].as_str()),
            (code, Some(problem)),
            "{path} {body}: {b}"
        );
    }
    let ok = json!({"kind": "bps", "buy": "1", "sell": "1"});
    assert_eq!(
        api.put("/api/spreads/BTC_USD", Some(&user), ok.clone())
            .await
            .0,
        403
    );
    assert_eq!(
        api.put("/api/spreads/BTC_USD", None, ok.clone()).await.0,
        401
    );
    assert_eq!(api.get("/api/spreads", Some(&user)).await.0, 403);
    assert_eq!(
        api.get("/api/spreads/BTC_USD/history", Some(&user)).await.0,
        403
    );
    let r = api
        .http
        .delete(format!("{}/api/spreads/BTC_USD", api.base))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    api.finish().await;
}

async fn the_audit_trail_cannot_be_rewritten_even_with_sql(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let admin = api.admin_token().await;
    api.set_spread(
        &admin,
        "ETH_USD",
        json!({"kind": "absolute", "buy": "1", "sell": "1"}),
    )
    .await;
    let update = api
        .sql_exec("UPDATE spread_audit SET reason = 'nothing happened'")
        .await;
    assert!(update.unwrap_err().contains("append-only"));
    let delete = api.sql_exec("DELETE FROM spread_audit").await;
    assert!(delete.unwrap_err().contains("append-only"));
    let rows = api
        .sql_rows("SELECT CAST(COUNT(*) AS CHAR) FROM spread_audit")
        .await;
    assert_eq!(rows[0][0], "1");
    api.finish().await;
}

/// A spread that leaves no positive sell price is refused when it is set; one set before the
/// rate was known (or that the market moved under) is shown as unpriced, never as stale, and a
/// quote says `unquotable`, not `rates_stale`.
async fn a_spread_that_makes_a_pair_unquotable_is_refused_or_shown_as_unpriced(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("ETH/USD", "0.01").await;
    let admin = api.admin_token().await;
    // No ETH rate yet: nothing to judge the spread by, so it is stored.
    let wide = json!({"kind": "absolute", "buy": "0", "sell": "1000000000"});
    let (code, body) = api.set_spread(&admin, "ETH_USD", wide.clone()).await;
    assert_eq!(code, 200, "{body}");
    api.feed.rate("ETH/USD", "3000.00", "3000.10").await;
    support_eventually(&api, "/api/rates/ETH_USD", |b| {
        b["unpricedReason"] == "spread_too_wide"
    })
    .await;
    let (_, eth) = api.get("/api/rates/ETH_USD", None).await;
    assert_eq!(eth["stale"], false, "{eth}");
    assert!(eth["withSpread"].is_null(), "{eth}");
    let trader = api.user_token("wide@x.io").await;
    let (code, body) = api.quote(&trader, "ETH/USD", "sell", "0.01").await;
    crate::support::assert_problem(code, &body, 422, "unquotable");
    // With a rate to judge by, the same spread is refused for the pair...
    let (code, body) = api.set_spread(&admin, "ETH_USD", wide.clone()).await;
    crate::support::assert_problem(code, &body, 422, "unquotable_spread");
    assert!(
        body["detail"].as_str().unwrap().contains("ETH/USD"),
        "{body}"
    );
    // ...and as the default, once ETH/USD has no spread of its own for it to yield to.
    let (code, _) = api.delete("/api/spreads/ETH_USD", Some(&admin)).await;
    assert_eq!(code, 204);
    let (code, body) = api.set_spread(&admin, "default", wide.clone()).await;
    crate::support::assert_problem(code, &body, 422, "unquotable_spread");
    assert!(
        body["detail"].as_str().unwrap().contains("ETH/USD"),
        "{body}"
    );
    // A spread that leaves a positive price is accepted and prices again.
    let (code, body) = api
        .set_spread(
            &admin,
            "default",
            json!({"kind": "absolute", "buy": "1", "sell": "1"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    support_eventually(&api, "/api/rates/ETH_USD", |b| {
        b["withSpread"]["sell"] == "2999.00" && b["unpricedReason"].is_null()
    })
    .await;
    api.finish().await;
}

/// The admin's preview is priced by the server exactly as the rate and a quote would be: the
/// bps spread on the live ask and bid, rounded to the pair's tick (buy up, sell down), the same
/// numbers the board shows once the spread is set; nothing is saved; too wide a spread is
/// answered as unquotable, not refused; only admins may ask, only for a pair with a rate.
async fn the_spread_preview_is_priced_by_the_server_as_quotes_are(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("ETH/USD", "0.01").await;
    let admin = api.admin_token().await;
    let preview = |body: serde_json::Value| {
        let (api, admin) = (&api, admin.clone());
        async move { api.post("/api/spreads/preview", Some(&admin), body).await }
    };
    let bps = json!({"pair": "ETH/USD", "kind": "bps", "buy": "33", "sell": "33"});
    let (code, body) = preview(bps.clone()).await;
    crate::support::assert_problem(code, &body, 503, "rate_unavailable");
    api.feed.rate("ETH/USD", "3000.00", "3000.10").await;
    support_eventually(&api, "/api/rates/ETH_USD", |b| b["stale"] == false).await;
    let (code, body) = preview(bps.clone()).await;
    assert_eq!(code, 200, "{body}");
    // 3000.10 × 1.0033 = 3010.0003 → up to 3010.01; 3000.00 × 0.9967 = 2990.10 exactly.
    assert_eq!(
        body,
        json!({"pair": "ETH/USD", "ask": "3000.10", "bid": "3000.00", "tick": "0.01",
               "buy": "3010.01", "sell": "2990.10", "unquotable": null})
    );
    let (_, spreads) = api.get("/api/spreads", Some(&admin)).await;
    assert!(
        spreads["pairs"].as_object().unwrap().is_empty(),
        "{spreads}"
    );
    // Set, the board shows what the preview said.
    api.set_bps_spread(&admin, "ETH_USD", "33").await;
    support_eventually(&api, "/api/rates/ETH_USD", |b| {
        b["withSpread"]["buy"] == "3010.01" && b["withSpread"]["sell"] == "2990.10"
    })
    .await;
    let wide = json!({"pair": "ETH_USD", "kind": "absolute", "buy": "0", "sell": "5000"});
    let (code, body) = preview(wide).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["unquotable"], "spread_too_wide", "{body}");
    assert!(body["sell"].is_null(), "{body}");
    let (code, body) =
        preview(json!({"pair": "ETH/USD", "kind": "bps", "buy": "-1", "sell": "0"})).await;
    crate::support::assert_problem(code, &body, 422, "validation_failed");
    let (code, body) =
        preview(json!({"pair": "default", "kind": "bps", "buy": "1", "sell": "1"})).await;
    crate::support::assert_problem(code, &body, 400, "invalid_pair");
    let (code, body) =
        preview(json!({"pair": "XXX/USD", "kind": "bps", "buy": "1", "sell": "1"})).await;
    crate::support::assert_problem(code, &body, 404, "unknown_pair");
    let trader = api.user_token("peek@x.io").await;
    let (code, body) = api.post("/api/spreads/preview", Some(&trader), bps).await;
    crate::support::assert_problem(code, &body, 403, "forbidden");
    api.finish().await;
}

on_both_backends!(
    the_spread_preview_is_priced_by_the_server_as_quotes_are,
    a_spread_that_makes_a_pair_unquotable_is_refused_or_shown_as_unpriced,
    rates_work_before_any_admin_action_with_zero_spread,
    admin_sets_lists_deletes_and_audits_spreads,
    spread_input_is_validated_and_only_admins_may_touch_it,
    the_audit_trail_cannot_be_rewritten_even_with_sql,
);
