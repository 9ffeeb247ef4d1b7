//! JSON over HTTP the way the API tests speak it: one request, the status and the body parsed
//! as JSON (`null` when the body is not JSON, so a test can still assert on the status).

use serde_json::Value;

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
