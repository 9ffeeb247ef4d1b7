//! Any text frame from the exchange: the parser returns an event or an error, never panics,
//! and every ticker it accepts carries positive-or-not prices exactly as sent (no float).
#![no_main]

use exchange_rate_svc::venues::kraken::wire::{self, KrakenEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(KrakenEvent::Ticker { tickers, .. }) = wire::parse(text) {
        for t in tickers {
            // A parsed price prints and re-parses to itself: nothing was rounded on the way.
            let shown = t.bid.to_string();
            assert_eq!(common::decimal::from_json_number(&shown).ok(), Some(t.bid));
        }
    }
});
