//! The Socket.IO handlers' argument parsing, on any JSON: a subscribe/unsubscribe argument and
//! a handshake `auth`. Never panics; an accepted request is 1..=64 names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use user_api_svc::socket::{handshake_token, request_names, MAX_PAIRS_PER_REQUEST};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = handshake_token(&value);
    if let Ok(names) = request_names(value) {
        assert!(!names.is_empty() && names.len() <= MAX_PAIRS_PER_REQUEST);
    }
});
