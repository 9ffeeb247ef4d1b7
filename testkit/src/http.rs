//! JSON over HTTP the way the API tests speak it: one request, the status and the body parsed
//! as JSON (`null` when the body is not JSON, so a test can still assert on the status).
//! [`Api`] is that client for one server, with the calls every API test makes: the verbs, and
//! the steps of a trader's journey (register, sign in, be funded, set a spread, quote, order)
//! that the API, end-to-end and cluster tests all take.

use serde_json::{json, Value};

/// The password of every account the tests register.
pub const PASSWORD: &str = "correct horse battery staple";

/// One server's API as a test calls it: `api.get("/api/rates", None)`, `api.post(...)`.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.into(),
        }
    }

    /// `method path` with a bearer token and a JSON body when given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.http, &self.base, method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, token, None).await
    }

    /// `POST /api/auth/login`: the status and the body (a token pair or a problem).
    pub async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        let body = json!({"email": email, "password": password});
        self.post("/api/auth/login", None, body).await
    }

    /// `POST /api/orders` for `quote_id` under `Idempotency-Key: key`, as `token`.
    pub async fn order(&self, token: &str, key: &str, quote_id: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/orders", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"quote_id": quote_id}))
            .send()
            .await
            .expect("http request");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/quotes` for `amount` of `pair` on `side`, as `token`.
    pub async fn quote(&self, token: &str, pair: &str, side: &str, amount: &str) -> (u16, Value) {
        let body = json!({"pair": pair, "side": side, "amount": amount});
        self.post("/api/quotes", Some(token), body).await
    }

    /// `PUT /api/spreads/{pair}` as `token`.
    pub async fn set_spread(&self, token: &str, pair: &str, body: Value) -> (u16, Value) {
        self.put(&format!("/api/spreads/{pair}"), Some(token), body)
            .await
    }

    /// Sets a bps spread of `bps` on both sides of `pair`, as the admin `admin`; must work.
    pub async fn set_bps_spread(&self, admin: &str, pair: &str, bps: &str) {
        let (code, body) = self
            .set_spread(admin, pair, json!({"kind": "bps", "buy": bps, "sell": bps}))
            .await;
        assert_eq!(code, 200, "{body}");
    }

    /// Funds `email` with `amount` of `asset` as the admin whose token is `admin`; must work.
    pub async fn deposit(&self, admin: &str, email: &str, asset: &str, amount: &str) {
        let body = json!({"email": email, "asset": asset, "amount": amount});
        let (code, body) = self.post("/api/admin/deposits", Some(admin), body).await;
        assert_eq!(code, 201, "{body}");
    }

    /// Registers `email` with [`PASSWORD`]; must work. The new account.
    pub async fn register(&self, email: &str) -> Value {
        let body = json!({"email": email, "password": PASSWORD});
        let (code, body) = self.post("/api/auth/register", None, body).await;
        assert_eq!(code, 201, "{body}");
        body
    }

    /// Registers `email` and returns its access token.
    pub async fn user_token(&self, email: &str) -> String {
        self.register(email).await;
        self.token(email, PASSWORD).await
    }

    /// A new account's token, funded by `admin` with `amount` of `asset`.
    pub async fn funded_user(&self, admin: &str, email: &str, asset: &str, amount: &str) -> String {
        let token = self.user_token(email).await;
        self.deposit(admin, email, asset, amount).await;
        token
    }

    /// The access token of a login that must work; panics with the answer otherwise.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let (code, body) = self.login(email, password).await;
        assert_eq!(code, 200, "login of {email} at {}: {body}", self.base);
        body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends `method path` to `base`, with a bearer token and a JSON body when given.
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("http request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a process the test spawns.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}

/// The body of `GET url` as text (a `/metrics` page); panics on a transport error.
pub async fn text(http: &reqwest::Client, url: &str) -> String {
    let response = http.get(url).send().await.expect("GET");
    response.text().await.expect("a text body")
}
