//! JSON over HTTP the way the API tests speak it: one request, the status and the body parsed
//! as JSON (`null` when the body is not JSON, so a test can still assert on the status).
//! [`Api`] is that client for one server, with the calls every API test makes.

use serde_json::{json, Value};

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
