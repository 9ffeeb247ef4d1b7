//! What an attacker or a careless client can send, against the real service on both backends:
//! bounded password hashing, registration throttling, tokens of accounts that do not exist or
//! were demoted, Socket.IO input that is not what we asked for, amounts finer than the pair
//! allows, HTTP errors that are always problem+json, security headers and CORS, and
//! connections that never finish their request.

use std::time::Duration;

use crate::support::{assert_problem, Backend, SioClient, TestApi, SECRET};
use chrono::Utc;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use user_api_svc::auth::tokens::TokenKeys;
use user_api_svc::store::{Role, User};

/// A correctly signed access token for any account id, role and session.
fn forged_token(id: u64, role: Role, sid: &str) -> String {
    let keys = TokenKeys::new(SECRET, "rategate", "rategate-api", Duration::from_secs(300));
    keys.issue(
        &User {
            id,
            email: "ghost@x.io".into(),
            role,
            created_at: Utc::now(),
            disabled: false,
            two_factor_required: false,
        },
        sid,
        false,
    )
    .unwrap()
}

/// The session id an access token carries.
fn session_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

async fn quotable(api: &TestApi) -> crate::support::StatusPump {
    let pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    pump
}

async fn tokens_of_accounts_that_do_not_exist_are_refused(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = quotable(&api).await;
    let ghost = forged_token(987_654, Role::User, "no-such-session");
    let (code, body) = api.quote(&ghost, "BTC/USD", "buy", "0.01").await;
    assert_problem(code, &body, 401, "unauthorized");
    let ghost_admin = forged_token(987_655, Role::Admin, "no-such-session");
    let (code, body) = api
        .set_spread(
            &ghost_admin,
            "ETH_USD",
            json!({"kind": "bps", "buy": "1", "sell": "1"}),
        )
        .await;
    assert_eq!(code, 401, "{body}");
    let admin = api.admin_token().await;
    let (_, history) = api.get("/api/spreads/ETH_USD/history", Some(&admin)).await;
    assert_eq!(
        history["entries"].as_array().map(Vec::len),
        Some(0),
        "{history}"
    );
    api.finish().await;
}

async fn the_role_comes_from_the_account_not_the_token(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let token = api.user_token("trader@x.io").await;
    let (_, me) = api.get("/api/me", Some(&token)).await;
    let id = me["id"].as_u64().unwrap();
    // A token claiming admin for an ordinary account, in its live session, does not make it one.
    let claims_admin = forged_token(id, Role::Admin, &session_of(&token));
    let (code, _) = api.get("/api/admin/users", Some(&claims_admin)).await;
    assert_eq!(code, 403);
    // A demoted admin's still-valid token loses admin rights at once.
    let admin = api.admin_token().await;
    assert_eq!(api.get("/api/admin/users", Some(&admin)).await.0, 200);
    api.sql_exec(&format!(
        "UPDATE users SET role = 'user' WHERE email = '{}'",
        crate::support::ADMIN_EMAIL
    ))
    .await
    .unwrap();
    assert_eq!(api.get("/api/admin/users", Some(&admin)).await.0, 403);
    api.finish().await;
}

async fn password_hashing_is_bounded_and_the_overflow_told_to_retry(backend: Backend) {
    let api = TestApi::start_on(backend, |c| {
        c.hash_concurrency = 1;
        c.hash_max_wait = Duration::from_millis(1);
    })
    .await;
    api.register("taken@x.io").await;
    let requests = (0..12).map(|_| {
        api.http
            .post(format!("{}/api/auth/register", api.base))
            .json(&json!({"email": "taken@x.io", "password": "correct horse battery staple"}))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut busy = 0;
    for r in responses {
        let r = r.unwrap();
        match r.status().as_u16() {
            409 => {}
            503 => {
                busy += 1;
                assert!(r.headers().contains_key("retry-after"));
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["code"], "busy");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        busy > 0,
        "12 hashes at once through one slot: some must be turned away"
    );
    api.finish().await;
}

async fn registration_is_throttled_per_ip(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.throttle.register_per_ip = 2).await;
    api.register("one@x.io").await;
    api.register("two@x.io").await;
    let (code, body) = api
        .post(
            "/api/auth/register",
            None,
            json!({"email": "three@x.io", "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    api.finish().await;
}

async fn an_amount_finer_than_decimals_can_hold_is_refused_naming_the_step(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = quotable(&api).await;
    let token = api.user_token("precise@x.io").await;
    let (code, body) = api
        .quote(
            &token,
            "BTC/USD",
            "buy",
            "0.00010000000000000000000000000001",
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("0.00000001"),
        "names the step: {body}"
    );
    api.finish().await;
}

async fn a_pair_without_metadata_is_not_quotable_until_it_arrives(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = api.status_pump(&["BTC/USD"]);
    api.feed.rate("BTC/USD", "97058.41", "97058.49").await;
    let token = api.user_token("early@x.io").await;
    testkit::eventually("the rate arrives", || async {
        !api.get("/api/rates/BTC_USD", None).await.1["original"].is_null()
    })
    .await;
    let (_, rate) = api.get("/api/rates/BTC_USD", None).await;
    assert!(rate["withSpread"].is_null(), "no invented tick: {rate}");
    assert_eq!(rate["stale"], true);
    let quote = json!({"pair": "BTC/USD", "side": "buy", "amount": "0.01"});
    let (code, body) = api.post("/api/quotes", Some(&token), quote.clone()).await;
    assert_problem(code, &body, 503, "rates_stale");
    // Metadata arriving on the bus is applied at once, not at the next poll.
    api.feed.meta("BTC/USD", "0.1").await;
    testkit::eventually("priced with the pair's tick", || async {
        api.get("/api/rates/BTC_USD", None).await.1["withSpread"]["buy"] == "97058.5"
    })
    .await;
    let admin = api.admin_token().await;
    api.deposit(&admin, "early@x.io", "USD", "2000.00").await;
    let (code, body) = api.post("/api/quotes", Some(&token), quote).await;
    assert_eq!(code, 201, "{body}");
    api.finish().await;
}

async fn socket_input_that_is_not_a_pair_list_gets_an_error_and_changes_nothing(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = quotable(&api).await;
    let mut s = api.socket(None).await.unwrap();
    for bad in [
        json!(42),
        json!(null),
        json!({}),
        json!([["BTC/USD"]]),
        json!([]),
        json!(vec!["BTC/USD"; 65]),
    ] {
        let ack = s.emit_with_ack("rates:subscribe", bad.clone()).await;
        assert!(ack["error"].is_string(), "{bad} -> {ack}");
        let ack = s.emit_with_ack("rates:unsubscribe", bad.clone()).await;
        assert!(ack["error"].is_string(), "{bad} -> {ack}");
    }
    // Still subscribed to everything: the next tick arrives.
    api.feed.rate("BTC/USD", "97001.1", "97001.2").await;
    s.rate("BTC_USD", |r| r["original"]["sell"] == "97001.1")
        .await;
    s.close().await;
    api.finish().await;
}

async fn a_socket_message_over_the_limit_closes_the_socket_unanswered(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let mut s = api.socket(None).await.unwrap();
    let huge = "x".repeat(user_api_svc::MAX_SOCKET_PAYLOAD + 1);
    s.emit_no_wait("rates:subscribe", json!(huge)).await;
    let gone = s
        .next(|v| v["type"] == "disconnect" || v["type"] == "ack")
        .await;
    assert_eq!(gone["type"], "disconnect", "{gone}");
    // The server is fine for everyone else.
    let other = api.socket(None).await.unwrap();
    other.close().await;
    api.finish().await;
}

async fn a_handshake_token_that_is_not_a_string_is_refused(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    for auth in [
        json!({"token": 42}),
        json!({"token": {"a": 1}}),
        json!({"token": ["x"]}),
    ] {
        let refused = SioClient::connect_with_auth(&api.base, &auth).await;
        assert!(refused.is_err(), "{auth} must be refused");
    }
    // No auth, or no token, is public.
    for auth in [json!({}), json!({"token": null})] {
        let s = SioClient::connect_with_auth(&api.base, &auth)
            .await
            .unwrap();
        s.close().await;
    }
    // A token of an account that does not exist is refused too.
    let ghost = forged_token(987_654, Role::User, "no-such-session");
    assert!(api.socket(Some(&ghost)).await.is_err());
    api.finish().await;
}

on_both_backends!(
    tokens_of_accounts_that_do_not_exist_are_refused,
    the_role_comes_from_the_account_not_the_token,
    password_hashing_is_bounded_and_the_overflow_told_to_retry,
    registration_is_throttled_per_ip,
    an_amount_finer_than_decimals_can_hold_is_refused_naming_the_step,
    a_pair_without_metadata_is_not_quotable_until_it_arrives,
    socket_input_that_is_not_a_pair_list_gets_an_error_and_changes_nothing,
    a_socket_message_over_the_limit_closes_the_socket_unanswered,
    a_handshake_token_that_is_not_a_string_is_refused,
);

// ---- HTTP conformance and the listener (one backend: the layers do not touch storage) ----

#[tokio::test]
async fn every_error_is_problem_json() {
    let api = TestApi::start(|_| {}).await;
    let token = api.user_token("errors@x.io").await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/orders?limit=-1"),
        (reqwest::Method::DELETE, "/api/rates"),
        (reqwest::Method::GET, "/api/orders/%zz"),
        (reqwest::Method::GET, "/no/such/thing"),
    ] {
        let r = api
            .http
            .request(method.clone(), format!("{}{path}", api.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(status >= 400, "{method} {path}: {status}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], status, "{method} {path}: {body}");
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{body}"
        );
    }
    api.finish().await;
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_connection_close() {
    let api = TestApi::start(|_| {}).await;
    let big = json!({"email": "x@x.io", "password": "p".repeat(4 << 20)});
    let r = api
        .http
        .post(format!("{}/api/auth/login", api.base))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(r.headers()["connection"], "close");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    api.finish().await;
}

#[tokio::test]
async fn openapi_documents_problem_responses() {
    let api = TestApi::start(|_| {}).await;
    let (_, doc) = api.get("/openapi.json", None).await;
    let quotes = &doc["paths"]["/api/quotes"]["post"]["responses"];
    for status in ["400", "401", "403", "404", "422", "429", "503"] {
        assert!(
            quotes[status]["content"]["application/problem+json"].is_object(),
            "/api/quotes {status}: {quotes}"
        );
    }
    let orders = &doc["paths"]["/api/orders"]["post"]["responses"];
    assert!(orders["409"]["content"]["application/problem+json"].is_object());
    // Every error of every operation says what it means: the codes special to the operation,
    // or the general meaning of the status.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let description = response["description"].as_str().unwrap_or_default();
                    assert!(
                        !description.is_empty(),
                        "{method} {path} {status}: no description"
                    );
                }
            }
        }
    }
    assert!(doc["components"]["schemas"]["Problem"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("code")));
    api.finish().await;
}

#[tokio::test]
async fn security_headers_and_cors_off_by_default() {
    let api = TestApi::start(|_| {}).await;
    let r = api
        .http
        .get(format!("{}/", api.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(!h.contains_key("access-control-allow-origin"));
    assert_eq!(h["x-request-id"].len(), 36, "a new UUID per request");
    let traced = api
        .http
        .get(format!("{}/health", api.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        traced.headers()["x-request-id"],
        "trace-me-42",
        "the client's id echoed"
    );
    let (code, login) = api
        .post(
            "/api/auth/login",
            None,
            json!({"email": crate::support::ADMIN_EMAIL, "password": crate::support::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(code, 200, "{login}");
    let r = api
        .http
        .post(format!("{}/api/auth/login", api.base))
        .json(&json!({"email": crate::support::ADMIN_EMAIL, "password": crate::support::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    api.finish().await;
}

#[tokio::test]
async fn cors_answers_only_the_allowed_origins() {
    let api = TestApi::start(|c| {
        c.http_policy.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        api.http
            .request(reqwest::Method::OPTIONS, format!("{}/api/rates", api.base))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    api.finish().await;
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let api = TestApi::start(|c| c.metrics_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let at = api.app().metrics_addr().expect("a metrics listener");
    let r = reqwest::get(format!("http://{at}/metrics")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("rategate_"));
    assert_eq!(
        api.get("/metrics", None).await.0,
        404,
        "not on the API's address"
    );
    api.finish().await;
}

/// Reads until the server closes the connection; the time it took.
async fn closed_within(mut tcp: tokio::net::TcpStream, limit: Duration) -> Duration {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after {limit:?}");
    started.elapsed()
}

#[tokio::test]
async fn slow_or_silent_connections_are_closed() {
    let api = TestApi::start(|c| {
        c.serve.header_read_timeout = Duration::from_millis(500);
        c.serve.body_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = api.app().addr();
    // Nothing at all: closed by the header timeout, not the (75 s) idle timeout.
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let took = closed_within(silent, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Headers a few bytes at a time, never finished (slowloris).
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"X-A: b\r\n").await.is_err() {
                return;
            }
        }
        panic!("the trickle was never cut off");
    });
    tokio::time::timeout(Duration::from_secs(5), trickle)
        .await
        .expect("closed mid-headers")
        .unwrap();
    // A body that never arrives: the request fails with a problem, and the connection closes.
    let mut body = tokio::net::TcpStream::connect(addr).await.unwrap();
    body.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"em",
    )
    .await
    .unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), body.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("application/problem+json"), "{reply}");
    // The server still answers.
    assert_eq!(api.get("/health", None).await.0, 200);
    api.finish().await;
}

/// One HTTP/1.1 response read off a raw socket: its head (lower-cased) and body.
async fn read_response(tcp: &mut tokio::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut byte))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.unwrap();
    (head, String::from_utf8_lossy(&body).into_owned())
}

/// The web app's pattern: a 401 on a request with a body, answered before the body was sent,
/// then the body, then the next request on the same keep-alive connection (a refresh). Each
/// round must be answered on the one connection; a body declared over the drain limit gets
/// `Connection: close` with its answer instead.
#[tokio::test]
async fn an_early_401_keeps_the_keep_alive_connection() {
    let api = TestApi::start(|_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(api.app().addr())
        .await
        .unwrap();
    let body = br#"{"pair":"BTC/USD","side":"buy","amount":"0.01"}"#;
    for round in 0..20 {
        let head = format!(
            "POST /api/quotes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let (reply, problem) = read_response(&mut tcp).await;
        assert!(reply.starts_with("http/1.1 401"), "round {round}: {reply}");
        assert!(
            !reply.contains("connection: close"),
            "round {round}: {reply}"
        );
        assert!(problem.contains("unauthorized"), "{problem}");
        tcp.write_all(body).await.unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (reply, _) = read_response(&mut tcp).await;
        assert!(reply.starts_with("http/1.1 200"), "round {round}: {reply}");
    }
    // Declared far over the drain limit: told that the connection closes.
    let mut big = tokio::net::TcpStream::connect(api.app().addr())
        .await
        .unwrap();
    big.write_all(
        b"POST /api/quotes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\
          Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
    )
    .await
    .unwrap();
    let (reply, _) = read_response(&mut big).await;
    assert!(reply.starts_with("http/1.1 401"), "{reply}");
    assert!(reply.contains("connection: close"), "{reply}");
    api.finish().await;
}

/// A header hyper itself refuses (a control character) is answered with problem+json too.
#[tokio::test]
async fn a_request_hyper_cannot_parse_gets_problem_json() {
    let api = TestApi::start(|_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(api.app().addr())
        .await
        .unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("connection: close"), "{head}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["code"].as_str()),
        (Some(400), Some("bad_request"))
    );
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("control character"));
    api.finish().await;
}

/// Engine.IO sessions are capped per address on both transports, whatever the connections:
/// over the cap a handshake is refused with 429 problem+json and `Retry-After`, and a session
/// that ends gives its place back.
#[tokio::test]
async fn socket_sessions_are_capped_per_address_on_both_transports() {
    use user_api_svc::socket_sessions::SessionLimits;
    let api = TestApi::start(|c| {
        c.socket_sessions = SessionLimits {
            total: 100,
            per_ip: 3,
        }
    })
    .await;
    let handshake = format!("{}/socket.io/?EIO=4&transport=polling", api.base);
    // Two long-polling sessions over one keep-alive connection, and a WebSocket one.
    for _ in 0..2 {
        let r = api.http.get(&handshake).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.text().await.unwrap().starts_with("0{\"sid\""));
    }
    let websocket = SioClient::connect(&api.base, None).await.unwrap();
    // The fourth is refused, on either transport.
    let r = api.http.get(&handshake).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests", "{body}");
    assert!(SioClient::connect(&api.base, None).await.is_err());
    assert_eq!(api.app().state().sessions.open(), 3);
    websocket.close().await;
    testkit::eventually("the closed session's place is given back", || async {
        api.app().state().sessions.open() == 2
    })
    .await;
    assert!(SioClient::connect(&api.base, None).await.is_ok());
    api.finish().await;
}

/// Over the cap for all addresses together, a handshake gets 503 `busy`.
#[tokio::test]
async fn socket_sessions_are_capped_in_all() {
    use user_api_svc::socket_sessions::SessionLimits;
    let api = TestApi::start(|c| {
        c.socket_sessions = SessionLimits {
            total: 1,
            per_ip: 10,
        }
    })
    .await;
    let handshake = format!("{}/socket.io/?EIO=4&transport=polling", api.base);
    assert_eq!(
        api.http
            .get(&handshake)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let r = api.http.get(&handshake).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "busy", "{body}");
    api.finish().await;
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused() {
    let api = TestApi::start(|c| c.serve.max_connections_per_ip = 2).await;
    let addr = api.app().addr();
    let _a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let took = closed_within(third, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(2));
    drop((_a, _b));
    testkit::eventually("slots given back", || async {
        api.http
            .get(format!("{}/health", api.base))
            .send()
            .await
            .is_ok()
    })
    .await;
    api.finish().await;
}
