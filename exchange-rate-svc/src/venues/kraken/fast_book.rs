//! A fast path for the one frame Kraken sends most: a `book` snapshot or update in exactly the
//! compact layout the live feed uses,
//!
//! `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":62807.0,
//! "qty":0.00000000}],"asks":[],"checksum":4249465476,"timestamp":"2026-08-16T23:37:03.745044Z"}]}`
//!
//! read by a byte cursor instead of serde's general frame type (which scans into a union of
//! every channel's optional fields, a `Vec` per side). Anything else (whitespace, another
//! field order, a string price, an escape, another channel) answers `None` and the frame goes
//! through [`super::wire::parse`]'s general path, which decides. The numbers are read from the
//! same text by the same function as there, so both paths agree to the digit; the tests check
//! it on every captured frame and on the mock's.

use std::borrow::Cow;

use super::wire::{parse_timestamp, BookData, KrakenEvent};
use crate::venues::number;

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Takes `lit` if it comes next.
    fn eat(&mut self, lit: &str) -> bool {
        if self.bytes()[self.at..].starts_with(lit.as_bytes()) {
            self.at += lit.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, lit: &str) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// The text up to the next `"` (the opening quote already taken); `None` on an escape.
    fn string(&mut self) -> Option<&'a str> {
        let rest = &self.bytes()[self.at..];
        let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
        if rest[end] == b'\\' {
            return None;
        }
        let s = self.text.get(self.at..self.at + end)?;
        self.at += end + 1;
        Some(s)
    }

    /// A JSON number's text (digits, sign, point, exponent); `None` if there is none here.
    fn number(&mut self) -> Option<&'a str> {
        let rest = &self.bytes()[self.at..];
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        let s = self.text.get(self.at..self.at + len)?;
        self.at += len;
        Some(s)
    }

    /// `[{"price":P,"qty":Q},...]` after its `[`, through its `]`.
    fn levels(&mut self) -> Option<Vec<(common::Decimal, common::Decimal)>> {
        let mut out = Vec::new();
        if self.eat("]") {
            return Some(out);
        }
        loop {
            self.expect("{\"price\":")?;
            let price = number("price", self.number()?).ok()?;
            self.expect(",\"qty\":")?;
            let qty = number("qty", self.number()?).ok()?;
            self.expect("}")?;
            out.push((price, qty));
            if self.eat("]") {
                return Some(out);
            }
            self.expect(",")?;
        }
    }

    /// One element of `data`, from its `{` through its `}`.
    fn book(&mut self) -> Option<BookData<'a>> {
        self.expect("{\"symbol\":\"")?;
        let symbol = self.string()?;
        self.expect(",\"bids\":[")?;
        let bids = self.levels()?;
        self.expect(",\"asks\":[")?;
        let asks = self.levels()?;
        self.expect(",\"checksum\":")?;
        let checksum = self.number()?.parse::<u32>().ok()?;
        let timestamp = if self.eat(",\"timestamp\":\"") {
            Some(parse_timestamp(self.string()?)?)
        } else {
            None
        };
        self.expect("}")?;
        Some(BookData {
            symbol: Cow::Borrowed(symbol),
            bids,
            asks,
            checksum,
            timestamp,
        })
    }
}

/// The frame as a book event, if it is one in the live layout; `None` otherwise (including a
/// frame that would be an error: the general path says what is wrong with it).
pub fn parse(text: &str) -> Option<KrakenEvent<'_>> {
    let mut c = Cursor { text, at: 0 };
    c.expect("{\"channel\":\"book\",\"type\":\"")?;
    let snapshot = if c.eat("snapshot\"") {
        true
    } else if c.eat("update\"") {
        false
    } else {
        return None;
    };
    c.expect(",\"data\":[")?;
    let mut books = Vec::with_capacity(1);
    loop {
        books.push(c.book()?);
        if c.eat("]") {
            break;
        }
        c.expect(",")?;
    }
    c.expect("}")?;
    (c.at == text.len()).then_some(KrakenEvent::Book { snapshot, books })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::fixture;

    /// What the general path makes of a frame.
    fn general(text: &str) -> KrakenEvent<'_> {
        super::super::wire::parse_general(text).unwrap()
    }

    #[test]
    fn the_fast_path_reads_every_live_book_frame_exactly_as_the_general_one() {
        for name in [
            "kraken-book-update-btcusd-captured.json",
            "kraken-book-update-algousd-captured.json",
            "kraken-book-snapshot-algousd-captured.json",
        ] {
            let text = fixture(name);
            let text = text.trim_end();
            let fast = parse(text).unwrap_or_else(|| panic!("{name}: not on the fast path"));
            assert_eq!(fast, general(text), "{name}");
        }
        // A book of several items, no timestamp, a negative exponent-free zero.
        let two = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.5,"qty":0}],"asks":[],"checksum":7},{"symbol":"ETH/USD","bids":[],"asks":[{"price":2000.10,"qty":0.00100000}],"checksum":4294967295,"timestamp":"2026-08-16T23:37:03.745044Z"}]}"#;
        assert_eq!(parse(two).unwrap(), general(two));
    }

    #[test]
    fn anything_off_the_live_layout_is_left_to_the_general_path() {
        for text in [
            // Whitespace, string prices (the depth-25 capture), another channel.
            fixture("kraken-book-update.json").as_str(),
            fixture("kraken-book-snapshot-depth25-btcusdt.json").as_str(),
            r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1,"ask":2}]}"#,
            // Truncated, trailing bytes, an escape, a checksum that is no u32, a bad number.
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":["#,
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":1}]}x"#,
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC\/USD","bids":[],"asks":[],"checksum":1}]}"#,
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":4294967296}]}"#,
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.2.3,"qty":1}],"asks":[],"checksum":1}]}"#,
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":1,"timestamp":"yesterday"}]}"#,
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
