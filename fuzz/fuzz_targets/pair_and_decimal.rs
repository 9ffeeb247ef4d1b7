//! Pair names and decimal strings as clients send them: parsing never panics, and whatever is
//! accepted prints back to text that parses to the same value.
#![no_main]

use common::decimal::{from_json_number, parse_plain};
use common::Pair;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pair) = Pair::parse(text) {
        assert_eq!(Pair::parse(&pair.to_string()).ok(), Some(pair.clone()));
        assert_eq!(Pair::parse(&pair.key()).ok(), Some(pair));
    }
    if let Ok(d) = parse_plain(text) {
        assert_eq!(parse_plain(&d.to_string()).ok(), Some(d), "{text:?}");
    }
    let _ = from_json_number(text);
});
