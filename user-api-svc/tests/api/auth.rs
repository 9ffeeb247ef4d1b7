//! Accounts and authentication against the real MariaDB: the original system let anyone
//! register as admin; these tests make sure nothing like that is possible.

use crate::support::{assert_problem, Backend, TestApi, ADMIN_EMAIL, ADMIN_PASSWORD, SECRET};
use base64::Engine;
use serde_json::{json, Value};

use testkit::http::PASSWORD as PW;

async fn registering_never_grants_admin_whatever_the_body_says(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let (code, body) = api
        .post(
            "/api/auth/register",
            None,
            json!({"email": "Mallory@Example.com", "password": PW, "role": "admin"}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["role"], "user");
    assert_eq!(body["email"], "mallory@example.com");
    let (_, tokens) = api.login("mallory@example.com", PW).await;
    let token = tokens["access_token"].as_str().unwrap();
    let (code, me) = api.get("/api/me", Some(token)).await;
    assert_eq!((code, me["role"].as_str()), (200, Some("user")));
    let (code, body) = api
        .put(
            "/api/spreads/BTC_USD",
            Some(token),
            json!({"kind": "bps", "buy": "1", "sell": "1"}),
        )
        .await;
    assert_eq!((code, body["code"].as_str()), (403, Some("forbidden")));
    api.finish().await;
}

async fn registration_validates_email_password_and_uniqueness(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    for (email, password, code, problem) in [
        ("not-an-email", PW, 422, "validation_failed"),
        ("a@b.io", "short", 422, "weak_password"),
        ("a@b.io", "password1234", 422, "weak_password"),
        ("a@b.io", "a@b.io-a@b.io-a@b.io", 422, "weak_password"),
    ] {
        let (c, body) = api
            .post(
                "/api/auth/register",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(
            (c, body["code"].as_str()),
            (code, Some(problem)),
            "{email} {password}: {body}"
        );
    }
    api.register("dup@x.io").await;
    let (c, body) = api
        .post(
            "/api/auth/register",
            None,
            json!({"email": "DUP@x.io", "password": PW}),
        )
        .await;
    assert_eq!((c, body["code"].as_str()), (409, Some("email_taken")));
    // malformed bodies are our problem+json too
    let r = api
        .http
        .post(format!("{}/api/auth/register", api.base))
        .body("{nope")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    api.finish().await;
}

async fn login_failures_never_reveal_whether_the_account_exists(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    api.register("real@x.io").await;
    let (c1, wrong_pw) = api.login("real@x.io", "not the password at all").await;
    let (c2, no_user) = api.login("ghost@x.io", "not the password at all").await;
    assert_eq!((c1, c2), (401, 401));
    assert_eq!(
        wrong_pw, no_user,
        "identical answers for a wrong password and a missing account"
    );
    let (c, ok) = api.login("REAL@x.io", PW).await;
    assert_eq!(c, 200);
    assert_eq!(ok["token_type"], "Bearer");
    assert!(ok["expires_in"].as_u64().unwrap() <= 3600);
    api.finish().await;
}

async fn failed_logins_are_throttled_per_account(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.throttle.login_per_account_and_ip = 3).await;
    api.register("victim@x.io").await;
    for _ in 0..3 {
        assert_eq!(api.login("victim@x.io", "guess guess guess").await.0, 401);
    }
    let r = api
        .http
        .post(format!("{}/api/auth/login", api.base))
        .json(&json!({"email": "victim@x.io", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        429,
        "even the right password waits once throttled"
    );
    assert!(r.headers().contains_key("retry-after"));
    // the same happens for an account that does not exist (no enumeration via 429 either)
    for _ in 0..3 {
        api.login("nobody@x.io", "guess guess guess").await;
    }
    assert_eq!(api.login("nobody@x.io", "guess guess guess").await.0, 429);
    api.finish().await;
}

async fn failed_logins_are_throttled_per_ip(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.throttle.login_per_ip = 4).await;
    for i in 0..4 {
        assert_eq!(
            api.login(&format!("u{i}@x.io"), "guess guess guess")
                .await
                .0,
            401
        );
    }
    assert_eq!(api.login("fresh@x.io", "guess guess guess").await.0, 429);
    api.finish().await;
}

fn forge(claims: Value, alg_header: Value, secret: Option<&[u8]>) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let head = format!("{}.{}", b64(&alg_header), b64(&claims));
    match secret {
        None => format!("{head}."),
        Some(s) => {
            use jsonwebtoken::{encode, EncodingKey, Header};
            encode(&Header::default(), &claims, &EncodingKey::from_secret(s)).unwrap()
        }
    }
}

async fn tampered_expired_foreign_and_unsigned_tokens_are_refused(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let token = api.user_token("t@x.io").await;
    assert_eq!(api.get("/api/me", Some(&token)).await.0, 200);
    let now = chrono::Utc::now().timestamp();
    let admin_claims = |exp: i64, aud: &str| {
        json!({"sub":"1","email":"root-admin@rategate.test","role":"admin","iss":"rategate","aud":aud,
               "iat":now,"nbf":now,"exp":exp,"jti":"x"})
    };
    let hs = json!({"alg":"HS256","typ":"JWT"});
    let cases = [
        ("no token", None),
        ("garbage", Some("abc.def.ghi".to_string())),
        (
            "alg none",
            Some(forge(
                admin_claims(now + 300, "rategate-api"),
                json!({"alg":"none","typ":"JWT"}),
                None,
            )),
        ),
        (
            "other secret",
            Some(forge(
                admin_claims(now + 300, "rategate-api"),
                hs.clone(),
                Some(b"not-the-secret-not-the-secret-00"),
            )),
        ),
        (
            "expired",
            Some(forge(
                admin_claims(now - 120, "rategate-api"),
                hs.clone(),
                Some(SECRET.as_bytes()),
            )),
        ),
        (
            "wrong audience",
            Some(forge(
                admin_claims(now + 300, "elsewhere"),
                hs.clone(),
                Some(SECRET.as_bytes()),
            )),
        ),
    ];
    for (name, t) in cases {
        let (code, body) = api.get("/api/spreads", t.as_deref()).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (401, Some("unauthorized")),
            "{name}"
        );
    }
    // Tampering with a real token's payload (role → admin) breaks the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["role"] = "admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(api.get("/api/spreads", Some(&tampered)).await.0, 401);
    api.finish().await;
}

async fn refresh_rotates_and_reuse_revokes_the_whole_family(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    api.register("r@x.io").await;
    let (_, first) = api.login("r@x.io", PW).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let (code, second) = api
        .post("/api/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(code, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "rotated");
    assert_eq!(
        api.get("/api/me", second["access_token"].as_str()).await.0,
        200
    );
    // An attacker replays r1: refused, and the family (r2 too) is revoked.
    let (code, body) = api
        .post("/api/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("invalid_refresh_token"))
    );
    let (code, _) = api
        .post("/api/auth/refresh", None, json!({"refresh_token": r2}))
        .await;
    assert_eq!(
        code, 401,
        "the legitimate holder's newer token died with the family"
    );
    // Another login is a new family and works.
    let (_, other) = api.login("r@x.io", PW).await;
    assert_eq!(
        api.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": other["refresh_token"]})
        )
        .await
        .0,
        200
    );
    api.finish().await;
}

async fn logout_revokes_the_refresh_token(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    api.register("l@x.io").await;
    let (_, t) = api.login("l@x.io", PW).await;
    let (code, _) = api
        .post(
            "/api/auth/logout",
            None,
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(code, 204);
    assert_eq!(
        api.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": t["refresh_token"]})
        )
        .await
        .0,
        401
    );
    // Unknown tokens: the same 204, nothing revealed.
    assert_eq!(
        api.post("/api/auth/logout", None, json!({"refresh_token": "nope"}))
            .await
            .0,
        204
    );
    api.finish().await;
}

async fn the_first_admin_comes_from_config_and_users_are_never_promoted(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let (code, me) = api.get("/api/me", Some(&api.admin_token().await)).await;
    assert_eq!((code, me["role"].as_str()), (200, Some("admin")));
    // An ordinary account registered first with the email an operator later configures as
    // ADMIN_EMAIL must not become admin.
    api.register("later-admin@x.io").await;
    let store = api.app().state().store.clone();
    let err = user_api_svc::auth::ensure_admin(store.as_ref(), "later-admin@x.io", ADMIN_PASSWORD)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing to promote"), "{err}");
    let (_, t) = api.login("later-admin@x.io", PW).await;
    let (_, me) = api.get("/api/me", t["access_token"].as_str()).await;
    assert_eq!(me["role"], "user");
    // ensure_admin on the existing admin is a no-op.
    user_api_svc::auth::ensure_admin(store.as_ref(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .unwrap();
    api.finish().await;
}

async fn changing_the_password_needs_the_old_one_and_ends_other_sessions(backend: Backend) {
    // Password changes count against the login budget (5 a minute by default): room for all.
    let api = TestApi::start_on(backend, |c| c.throttle.login_per_account_and_ip = 20).await;
    const OLD: &str = "correct horse battery staple";
    const NEW: &str = "a brand new passphrase for this account";
    api.register("pw@x.io").await;
    let (_, elsewhere) = api.login("pw@x.io", OLD).await;
    let (_, here) = api.login("pw@x.io", OLD).await;
    let token = here["access_token"].as_str().unwrap();
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let (code, body) = api
        .post(
            "/api/auth/password",
            Some(token),
            change("wrong current password", NEW),
        )
        .await;
    assert_problem(code, &body, 401, "invalid_credentials");
    let (code, body) = api
        .post("/api/auth/password", Some(token), change(OLD, "short"))
        .await;
    assert_problem(code, &body, 422, "weak_password");
    let (code, body) = api.post("/api/auth/password", None, change(OLD, NEW)).await;
    assert_problem(code, &body, 401, "unauthorized");

    let (code, fresh) = api
        .post("/api/auth/password", Some(token), change(OLD, NEW))
        .await;
    assert_eq!(code, 200, "{fresh}");
    assert!(fresh["access_token"].is_string() && fresh["refresh_token"].is_string());
    // Every session's refresh token is revoked; the new pair works.
    for old_session in [&elsewhere, &here] {
        let (code, _) = api
            .post(
                "/api/auth/refresh",
                None,
                json!({"refresh_token": old_session["refresh_token"]}),
            )
            .await;
        assert_eq!(code, 401);
    }
    let (code, _) = api
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": fresh["refresh_token"]}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(api.login("pw@x.io", OLD).await.0, 401);
    assert_eq!(api.login("pw@x.io", NEW).await.0, 200);
    api.finish().await;
}

async fn the_watchlist_is_kept_per_user_on_the_server(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let alice = api.user_token("alice@x.io").await;
    let bob = api.user_token("bob@x.io").await;
    let (code, body) = api.get("/api/watchlist", Some(&alice)).await;
    assert_eq!((code, body), (200, json!({"pairs": []})));
    for spelling in ["ETH_USD", "BTC-USD", "BTC%2FUSD"] {
        let (code, body) = api
            .put(
                &format!("/api/watchlist/{spelling}"),
                Some(&alice),
                json!(null),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    // Twice the same pair is one entry; another device (a new login) sees the same list.
    let (_, again) = api
        .login("alice@x.io", "correct horse battery staple")
        .await;
    let again = again["access_token"].as_str().unwrap().to_string();
    let (_, body) = api.get("/api/watchlist", Some(&again)).await;
    assert_eq!(body, json!({"pairs": ["BTC/USD", "ETH/USD"]}));
    assert_eq!(
        api.get("/api/watchlist", Some(&bob)).await.1,
        json!({"pairs": []})
    );
    let (code, body) = api.delete("/api/watchlist/ETH_USD", Some(&alice)).await;
    assert_eq!((code, body), (200, json!({"pairs": ["BTC/USD"]})));
    let (code, body) = api
        .put("/api/watchlist/DOGE_USD", Some(&alice), json!(null))
        .await;
    assert_problem(code, &body, 404, "unknown_pair");
    assert_eq!(api.get("/api/watchlist", None).await.0, 401);
    api.finish().await;
}

/// Every look-alike of the admin reported against the live binary is refused, and the admin's
/// list still holds exactly one account that reads like the admin.
async fn look_alike_copies_of_an_account_cannot_be_registered(backend: Backend) {
    let api = TestApi::start_on(backend, |c| {
        c.admin_email = Some("admin@rategate.local".into());
    })
    .await;
    let base = "admin@rategate.local";
    let mut attempts: Vec<String> = testkit::spellings::INVISIBLE_REPORTED
        .into_iter()
        .chain(['\u{0308}'])
        .map(|c| format!("{base}{c}"))
        .collect();
    attempts.extend(
        [
            "\u{FF41}dmin@rategate.local",
            "admin@rategat\u{0435}.local",
            "adm\u{0131}n@rategate.local",
            "\u{FF21}\u{FF24}\u{FF2D}\u{FF29}\u{FF2E}@rategate.local",
            "<img>@example.com",
        ]
        .map(String::from),
    );
    for email in &attempts {
        let (code, body) = api
            .post(
                "/api/auth/register",
                None,
                json!({"email": email, "password": PW}),
            )
            .await;
        assert!(
            (code == 422 && body["code"] == "validation_failed")
                || (code == 409 && body["code"] == "email_taken"),
            "{email:?} → {code} {body}"
        );
    }
    // A different address is still welcome, and so is its look-alike refused once it exists.
    api.register("traders@rategate.local").await;
    let (code, body) = api
        .post(
            "/api/auth/register",
            None,
            json!({"email": "trader\u{0455}@rategate.local", "password": PW}),
        )
        .await;
    assert!(code == 409 || code == 422, "{code} {body}");
    let admin = {
        let (code, body) = api.login(base, ADMIN_PASSWORD).await;
        assert_eq!(code, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    };
    let (_, list) = api.get("/api/admin/users", Some(&admin)).await;
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    // The fullwidth spelling signs in to the one admin account.
    let (code, _) = api
        .login(
            "\u{FF21}\u{FF24}\u{FF2D}\u{FF29}\u{FF2E}@rategate.local",
            ADMIN_PASSWORD,
        )
        .await;
    assert_eq!(code, 200);
    api.finish().await;
}

/// Accounts written before look-alike keys existed are checked at start: each gets its key
/// unless an older look-alike holds it; nothing is rewritten, and what fails is reported.
async fn existing_accounts_are_checked_and_reported_never_rewritten(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    api.register("first@x.io").await;
    for email in [
        "plain@x.io",
        "\u{FF50}lain@x.io",
        "f\u{0131}rst@x.io",
        "<img>@x.io",
    ] {
        let sql = format!(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES ('{email}', 'x', 'user', {})",
            if api.backend == Backend::SqliteInProcess { "0" } else { "NOW(6)" }
        );
        api.sql_exec(&sql).await.unwrap();
    }
    let store = api.app().state().store.clone();
    let audit = user_api_svc::auth::audit_emails(store.as_ref())
        .await
        .unwrap();
    assert_eq!(audit.keyed, 1, "plain@x.io: {audit:?}");
    let looks: Vec<&str> = audit
        .lookalikes
        .iter()
        .map(|(_, e, _)| e.as_str())
        .collect();
    assert_eq!(
        looks,
        ["\u{FF50}lain@x.io", "f\u{0131}rst@x.io"],
        "{audit:?}"
    );
    assert_eq!(audit.refused.len(), 1, "{audit:?}");
    assert_eq!(audit.refused[0].1, "<img>@x.io");
    assert_eq!(audit.unnormalized.len(), 1, "the fullwidth row: {audit:?}");
    let rows = api
        .sql_rows("SELECT email FROM users WHERE email LIKE '%x.io' ORDER BY id")
        .await;
    let stored: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        stored,
        [
            "first@x.io",
            "plain@x.io",
            "\u{FF50}lain@x.io",
            "f\u{0131}rst@x.io",
            "<img>@x.io"
        ],
        "nothing rewritten"
    );
    // A second start finds the same rows again, and keys nothing twice.
    let again = user_api_svc::auth::audit_emails(store.as_ref())
        .await
        .unwrap();
    assert_eq!((again.keyed, again.lookalikes.len()), (0, 2));
    api.finish().await;
}

/// Signs `email` in once more: a new session's token pair.
async fn session(api: &TestApi, email: &str, password: &str) -> (String, String) {
    let (code, body) = api.login(email, password).await;
    assert_eq!(code, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// A socket opened with `token` (connected: `socket` waits for the connect).
async fn private_socket(api: &TestApi, token: &str) -> crate::support::SioClient {
    api.socket(Some(token)).await.unwrap()
}

/// Whether `socket` is disconnected by the server within `within`.
async fn dropped_within(
    socket: &mut crate::support::SioClient,
    within: std::time::Duration,
) -> bool {
    socket
        .next_within(within, |v| v["type"] == "disconnect")
        .await
        .is_some()
}

/// Logout ends that session at once: its access token is refused and its socket disconnected;
/// the same account's other session, token and socket, carry on.
async fn logout_ends_that_session_at_once_and_only_that_one(backend: Backend) {
    use std::time::Duration;
    let api = TestApi::start_on(backend, |_| {}).await;
    api.register("two@x.io").await;
    let (access1, refresh1) = session(&api, "two@x.io", PW).await;
    let (access2, _) = session(&api, "two@x.io", PW).await;
    let mut socket1 = private_socket(&api, &access1).await;
    let mut socket2 = private_socket(&api, &access2).await;
    let (code, _) = api
        .post("/api/auth/logout", None, json!({"refresh_token": refresh1}))
        .await;
    assert_eq!(code, 204);
    let (code, body) = api.get("/api/me", Some(&access1)).await;
    assert_problem(code, &body, 401, "unauthorized");
    assert_eq!(api.get("/api/me", Some(&access2)).await.0, 200);
    assert!(
        dropped_within(&mut socket1, Duration::from_secs(5)).await,
        "the ended session's socket"
    );
    assert!(
        !dropped_within(&mut socket2, Duration::from_millis(500)).await,
        "the other session's socket"
    );
    // A socket cannot be opened with the ended session's token either.
    assert!(api.socket(Some(&access1)).await.is_err());
    api.finish().await;
}

/// A password change, and an admin disabling the account, end every session of the account at
/// once: tokens refused, sockets disconnected, refresh tokens dead; a disabled account cannot
/// sign in until it is enabled again.
async fn password_change_and_disabling_end_every_session(backend: Backend) {
    use std::time::Duration;
    let api = TestApi::start_on(backend, |c| c.throttle.login_per_account_and_ip = 20).await;
    const NEW: &str = "a brand new passphrase for this account";
    api.register("many@x.io").await;
    let (old1, _) = session(&api, "many@x.io", PW).await;
    let (old2, _) = session(&api, "many@x.io", PW).await;
    let mut socket = private_socket(&api, &old1).await;
    let (code, fresh) = api
        .post(
            "/api/auth/password",
            Some(&old2),
            json!({"current_password": PW, "new_password": NEW}),
        )
        .await;
    assert_eq!(code, 200, "{fresh}");
    for old in [&old1, &old2] {
        assert_eq!(
            api.get("/api/me", Some(old)).await.0,
            401,
            "old sessions end at once"
        );
    }
    assert!(dropped_within(&mut socket, Duration::from_secs(5)).await);
    let new_access = fresh["access_token"].as_str().unwrap().to_string();
    let (_, me) = api.get("/api/me", Some(&new_access)).await;
    let id = me["id"].as_u64().unwrap();
    assert_eq!(me["disabled"], false);
    let mut socket = private_socket(&api, &new_access).await;

    let admin = api.admin_token().await;
    let (_, admin_me) = api.get("/api/me", Some(&admin)).await;
    let (code, body) = api
        .post(
            &format!("/api/admin/users/{}/disable", admin_me["id"]),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_problem(code, &body, 422, "validation_failed");
    let (code, _) = api
        .post("/api/admin/users/999999/disable", Some(&admin), json!({}))
        .await;
    assert_eq!(code, 404);
    let (code, _) = api
        .post(
            &format!("/api/admin/users/{id}/disable"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(code, 204);
    assert_eq!(api.get("/api/me", Some(&new_access)).await.0, 401);
    assert!(dropped_within(&mut socket, Duration::from_secs(5)).await);
    let (code, body) = api
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": fresh["refresh_token"]}),
        )
        .await;
    assert_problem(code, &body, 401, "invalid_refresh_token");
    let (code, body) = api.login("many@x.io", NEW).await;
    assert_problem(code, &body, 403, "account_disabled");
    let (code, body) = api.login("many@x.io", "not the password at all").await;
    assert_problem(code, &body, 401, "invalid_credentials");
    let (_, users) = api.get("/api/admin/users", Some(&admin)).await;
    assert!(users["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == id && u["disabled"] == true));
    let (code, _) = api
        .post(
            &format!("/api/admin/users/{id}/enable"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(code, 204);
    assert_eq!(api.login("many@x.io", NEW).await.0, 200);
    api.finish().await;
}

/// Private events never outlive the token that opened the socket: at its expiry the socket is
/// disconnected, unless the client sent `auth:refresh` with a newer token of the same account,
/// after which it keeps getting private events.
async fn a_socket_is_disconnected_when_its_token_expires_unless_refreshed(backend: Backend) {
    use std::time::Duration;
    // Tokens carry whole seconds: a 10 s token has 9 to 10 s left when issued. The margins are
    // seconds wide so a loaded machine (argon2 logins, Node clients starting) cannot eat them.
    let api = TestApi::start_on(backend, |c| c.access_ttl = Duration::from_secs(10)).await;
    api.register("clock@x.io").await;
    api.register("someone@x.io").await;
    let (other, _) = session(&api, "someone@x.io", PW).await;
    let (stale, _) = session(&api, "clock@x.io", PW).await;
    let (kept, refresh) = session(&api, "clock@x.io", PW).await;
    let mut expiring = private_socket(&api, &stale).await;
    let mut refreshed = private_socket(&api, &kept).await;
    // Four seconds on (the first tokens have 5 or more left), a newer token, expiring at least
    // four seconds after them, is presented.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (code, next) = api
        .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(code, 200, "{next}");
    let ack = refreshed
        .emit_with_ack("auth:refresh", json!({"token": next["access_token"]}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    // Refused refreshes leave the socket as it was: garbage, and another account's token.
    let ack = refreshed
        .emit_with_ack("auth:refresh", json!({"token": "garbage"}))
        .await;
    assert!(ack["error"].is_string(), "{ack}");
    let ack = refreshed
        .emit_with_ack("auth:refresh", json!({"token": other}))
        .await;
    assert!(ack["error"].is_string(), "{ack}");
    let admin = api.admin_token().await;
    assert!(
        dropped_within(&mut expiring, Duration::from_secs(12)).await,
        "expired without a refresh"
    );
    assert!(!dropped_within(&mut refreshed, Duration::from_millis(200)).await);
    // Past the first token's expiry, the refreshed socket still gets its private events.
    api.deposit(&admin, "clock@x.io", "USD", "5.00").await;
    refreshed
        .next(|v| v["type"] == "event" && v["event"] == "balance:updated")
        .await;
    api.finish().await;
}

/// The code an authenticator app holding `otpauth_uri` shows `steps_ahead` steps from now.
fn app_code(otpauth_uri: &str, steps_ahead: u64) -> String {
    let totp = totp_rs::TOTP::from_url(otpauth_uri).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + 30 * steps_ahead)
}

/// Enrol with a QR code / otpauth URI, confirm with a first code, sign in with a code (never
/// the same one twice) or a recovery code (once each), and turn it off with password and code.
async fn two_factor_enrolment_sign_in_replay_recovery_and_disable(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.throttle.login_per_account_and_ip = 30).await;
    api.register("otp@x.io").await;
    let (code, first) = api.login("otp@x.io", PW).await;
    assert_eq!(
        (code, first["two_factor"].as_str()),
        (200, Some("off")),
        "{first}"
    );
    let token = first["access_token"].as_str().unwrap().to_string();
    let (code, enrolment) = api
        .post("/api/auth/2fa/enrol", Some(&token), json!({}))
        .await;
    assert_eq!(code, 201, "{enrolment}");
    let uri = enrolment["otpauth_uri"].as_str().unwrap().to_string();
    assert!(
        uri.starts_with("otpauth://totp/rategate:otp%40x.io?secret="),
        "{uri}"
    );
    assert!(uri.contains(enrolment["secret"].as_str().unwrap()));
    let qr = enrolment["qr_code"].as_str().unwrap();
    let svg = base64::engine::general_purpose::STANDARD
        .decode(qr.strip_prefix("data:image/svg+xml;base64,").unwrap())
        .unwrap();
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    // Not on until confirmed: the password alone still signs in.
    assert_eq!(api.login("otp@x.io", PW).await.0, 200);
    let (code, body) = api
        .post(
            "/api/auth/2fa/confirm",
            Some(&token),
            json!({"code": "000000"}),
        )
        .await;
    if app_code(&uri, 0) != "000000" {
        assert_problem(code, &body, 401, "invalid_two_factor_code");
    }
    let confirm_code = app_code(&uri, 0);
    let (code, confirmed) = api
        .post(
            "/api/auth/2fa/confirm",
            Some(&token),
            json!({"code": confirm_code}),
        )
        .await;
    assert_eq!(code, 200, "{confirmed}");
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(confirmed["tokens"]["two_factor"], "enabled");
    assert_eq!(
        api.get("/api/me", Some(&token)).await.0,
        401,
        "other sessions ended"
    );
    let fresh = confirmed["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, me) = api.get("/api/me", Some(&fresh)).await;
    assert_eq!(me["two_factor"], "enabled", "{me}");
    let (code, body) = api
        .post("/api/auth/2fa/enrol", Some(&fresh), json!({}))
        .await;
    assert_problem(code, &body, 409, "two_factor_enabled");
    let hashes = api
        .sql_rows("SELECT CAST(COUNT(*) AS CHAR) FROM recovery_codes")
        .await;
    assert_eq!(hashes[0][0], "10");
    let stored: Vec<String> = api
        .sql_rows("SELECT LOWER(HEX(code_hash)) FROM recovery_codes")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for code in &recovery {
        let hash = user_api_svc::auth::two_factor::hash_recovery_code(code);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert!(stored.contains(&hex), "only the hash is stored");
    }

    // Sign-in: the password alone is not enough; a code is, once; the confirm's code is spent.
    let login = |extra: Value| {
        let mut body = json!({"email": "otp@x.io", "password": PW});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (code, body) = api.post("/api/auth/login", None, login(json!({}))).await;
    assert_problem(code, &body, 401, "two_factor_required");
    let (code, body) = api
        .post(
            "/api/auth/login",
            None,
            login(json!({"totp_code": confirm_code})),
        )
        .await;
    assert_problem(code, &body, 401, "invalid_two_factor_code");
    let next = app_code(&uri, 1);
    let (code, body) = api
        .post("/api/auth/login", None, login(json!({"totp_code": next})))
        .await;
    assert_eq!(
        (code, body["two_factor"].as_str()),
        (200, Some("enabled")),
        "{body}"
    );
    let (code, body) = api
        .post("/api/auth/login", None, login(json!({"totp_code": next})))
        .await;
    assert_problem(code, &body, 401, "invalid_two_factor_code");
    let (code, body) = api
        .post(
            "/api/auth/login",
            None,
            login(json!({"totp_code": app_code(&uri, 3)})),
        )
        .await;
    assert_problem(code, &body, 401, "invalid_two_factor_code");
    // A recovery code, typed loosely, works once.
    let typed = recovery[0].to_uppercase().replace('-', " ");
    let (code, body) = api
        .post(
            "/api/auth/login",
            None,
            login(json!({"recovery_code": typed})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let session = body["access_token"].as_str().unwrap().to_string();
    let (code, _) = api
        .post(
            "/api/auth/login",
            None,
            login(json!({"recovery_code": recovery[0]})),
        )
        .await;
    assert_eq!(code, 401);

    // Turning it off needs the password and a code.
    let (code, body) = api
        .post(
            "/api/auth/2fa/disable",
            Some(&session),
            json!({"password": PW}),
        )
        .await;
    assert_problem(code, &body, 401, "two_factor_required");
    let (code, body) = api
        .post(
            "/api/auth/2fa/disable",
            Some(&session),
            json!({"password": "not the password at all", "recovery_code": recovery[1]}),
        )
        .await;
    assert_problem(code, &body, 401, "invalid_credentials");
    let (code, off) = api
        .post(
            "/api/auth/2fa/disable",
            Some(&session),
            json!({"password": PW, "recovery_code": recovery[1]}),
        )
        .await;
    assert_eq!(
        (code, off["two_factor"].as_str()),
        (200, Some("off")),
        "{off}"
    );
    assert_eq!(
        api.get("/api/me", Some(&session)).await.0,
        401,
        "sessions ended"
    );
    assert_eq!(api.login("otp@x.io", PW).await.0, 200);
    api.finish().await;
}

/// Wrong codes count against the login throttle like wrong passwords.
async fn two_factor_codes_are_throttled_like_passwords(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.throttle.login_per_account_and_ip = 4).await;
    api.register("guess@x.io").await;
    let (_, first) = api.login("guess@x.io", PW).await;
    let token = first["access_token"].as_str().unwrap().to_string();
    let (_, enrolment) = api
        .post("/api/auth/2fa/enrol", Some(&token), json!({}))
        .await;
    let uri = enrolment["otpauth_uri"].as_str().unwrap().to_string();
    let (code, _) = api
        .post(
            "/api/auth/2fa/confirm",
            Some(&token),
            json!({"code": app_code(&uri, 0)}),
        )
        .await;
    assert_eq!(code, 200);
    let wrong = if app_code(&uri, 1) == "123456" {
        "654321"
    } else {
        "123456"
    };
    let mut codes = Vec::new();
    for _ in 0..3 {
        let body = json!({"email": "guess@x.io", "password": PW, "totp_code": wrong});
        codes.push(api.post("/api/auth/login", None, body).await.0);
    }
    // 4 per minute: the first login, the confirm and two wrong codes; then 429.
    assert_eq!(codes, [401, 401, 429]);
    api.finish().await;
}

/// With `ADMIN_REQUIRE_2FA` an admin without two-factor sign-in may sign in only to enrol;
/// an admin made by create-admin must enrol whatever the setting; otherwise an admin is told.
async fn admins_without_two_factor_may_only_enrol(backend: Backend) {
    let api = TestApi::start_on(backend, |c| c.admin_require_2fa = true).await;
    let (code, tokens) = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(code, 200, "{tokens}");
    assert_eq!(tokens["two_factor"], "enrolment_required");
    let limited = tokens["access_token"].as_str().unwrap().to_string();
    let (code, body) = api.get("/api/admin/users", Some(&limited)).await;
    assert_problem(code, &body, 403, "two_factor_enrolment_required");
    let (code, body) = api.get("/api/balances", Some(&limited)).await;
    assert_problem(code, &body, 403, "two_factor_enrolment_required");
    let (code, me) = api.get("/api/me", Some(&limited)).await;
    assert_eq!(
        (code, me["two_factor"].as_str()),
        (200, Some("enrolment_required"))
    );
    // A refresh keeps the limit.
    let (_, refreshed) = api
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed["two_factor"], "enrolment_required");
    let (code, enrolment) = api
        .post("/api/auth/2fa/enrol", Some(&limited), json!({}))
        .await;
    assert_eq!(code, 201, "{enrolment}");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    let (code, confirmed) = api
        .post(
            "/api/auth/2fa/confirm",
            Some(&limited),
            json!({"code": app_code(uri, 0)}),
        )
        .await;
    assert_eq!(code, 200, "{confirmed}");
    let full = confirmed["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(api.get("/api/admin/users", Some(full)).await.0, 200);
    api.finish().await;

    // ADMIN_REQUIRE_2FA off: the admin is told, not limited; a create-admin admin is limited.
    let api = TestApi::start_on(backend, |_| {}).await;
    let (_, tokens) = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(tokens["two_factor"], "recommended");
    let store = api.app().state().store.clone();
    user_api_svc::auth::create_admin(store.as_ref(), "cli-admin@x.io", ADMIN_PASSWORD, true)
        .await
        .unwrap();
    let (_, tokens) = api.login("cli-admin@x.io", ADMIN_PASSWORD).await;
    assert_eq!(tokens["two_factor"], "enrolment_required", "{tokens}");
    let (code, _) = api
        .get("/api/admin/users", tokens["access_token"].as_str())
        .await;
    assert_eq!(code, 403);
    api.finish().await;
}

on_both_backends!(
    two_factor_enrolment_sign_in_replay_recovery_and_disable,
    two_factor_codes_are_throttled_like_passwords,
    admins_without_two_factor_may_only_enrol,
    logout_ends_that_session_at_once_and_only_that_one,
    password_change_and_disabling_end_every_session,
    a_socket_is_disconnected_when_its_token_expires_unless_refreshed,
    look_alike_copies_of_an_account_cannot_be_registered,
    existing_accounts_are_checked_and_reported_never_rewritten,
    the_watchlist_is_kept_per_user_on_the_server,
    changing_the_password_needs_the_old_one_and_ends_other_sessions,
    registering_never_grants_admin_whatever_the_body_says,
    registration_validates_email_password_and_uniqueness,
    login_failures_never_reveal_whether_the_account_exists,
    failed_logins_are_throttled_per_account,
    failed_logins_are_throttled_per_ip,
    tampered_expired_foreign_and_unsigned_tokens_are_refused,
    refresh_rotates_and_reuse_revokes_the_whole_family,
    logout_revokes_the_refresh_token,
    the_first_admin_comes_from_config_and_users_are_never_promoted,
);
