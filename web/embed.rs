//! The web app, built from this folder by `build.rs` (Vite) and embedded in the binary:
//! [`page`] serves `index.html` or `docs.html`, [`router`] the scripts and styles under
//! `/assets/`. Asset names carry a hash of their content, so browsers keep them for good; the
//! pages are checked every time.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// A file of the built web app by its path under the build's root (`assets/index-3f9a.js`).
pub fn file(name: &str) -> Option<&'static [u8]> {
    WEB_ASSETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, body)| *body)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn not_found(what: &str) -> Response {
    common::http::problem(StatusCode::NOT_FOUND, "not_found", "Not Found", what)
}

/// One of the pages: `index.html` (the app) or `docs.html` (the API docs).
pub fn page(name: &'static str) -> Response {
    match file(name) {
        Some(body) => (
            [
                (CONTENT_TYPE, content_type(name)),
                (CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => not_found("no such page"),
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    let path = format!("assets/{name}");
    match file(&path) {
        Some(body) => (
            [
                (CONTENT_TYPE, content_type(&path)),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            body,
        )
            .into_response(),
        None => not_found("no such asset"),
    }
}

/// `/assets/{name}`: the pages' scripts and styles.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{name}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_every_asset_they_name_are_embedded() {
        for page in ["index.html", "docs.html"] {
            let html = std::str::from_utf8(file(page).unwrap()).unwrap();
            let named: Vec<&str> = html
                .split("\"/assets/")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .collect();
            assert!(
                named.iter().any(|n| n.ends_with(".js")),
                "{page} loads a script: {named:?}"
            );
            for name in named {
                assert!(
                    file(&format!("assets/{name}")).is_some(),
                    "{page} names {name}"
                );
            }
        }
        assert_eq!(
            content_type("assets/x.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(file("assets/none.js"), None);
    }
}
