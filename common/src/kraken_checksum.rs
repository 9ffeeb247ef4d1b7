//! Kraken's v2 `book` checksum, shared by the Kraken connector (which verifies it on every
//! message) and the mock Kraken (which sends it).
//!
//! CRC32 (unsigned) over the top 10 asks low → high then the top 10 bids high → low, each
//! level written as its price then its qty with the decimal point removed and leading zeros
//! stripped, at the pair's precision (trailing zeros kept).

use rust_decimal::Decimal;

use crate::book::{Book, Side};

/// How many levels per side the checksum covers.
const CHECKSUM_LEVELS: usize = 10;

/// Slice-by-16 tables: the checksum runs on every message.
const CRC32: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISO_HDLC);

/// The pair's precision: decimals of its prices and of its quantities (`pair_decimals` and
/// `lot_decimals` of `AssetPairs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    pub price: u32,
    pub qty: u32,
}

/// Kraken's CRC32 over the top 10 levels of each side.
///
/// The digits of all 40 figures are written into one buffer and checksummed in one call:
/// forty small CRC updates cost more than the digits themselves.
pub fn checksum(book: &Book, precision: Option<Precision>) -> u32 {
    let mut text = Digits::default();
    for side in [Side::Ask, Side::Bid] {
        for (price, qty) in book.levels(side).take(CHECKSUM_LEVELS) {
            text.push(price, precision.map(|p| p.price));
            text.push(qty, precision.map(|p| p.qty));
        }
    }
    CRC32.checksum(text.as_bytes())
}

/// The checksum's text: at most 40 figures of at most 40 digits (a `Decimal` has 29).
struct Digits {
    buf: [u8; 2 * CHECKSUM_LEVELS * 2 * 40],
    len: usize,
}

impl Default for Digits {
    fn default() -> Self {
        Digits {
            buf: [0; 2 * CHECKSUM_LEVELS * 2 * 40],
            len: 0,
        }
    }
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// A figure without its point and leading zeros is its integer mantissa at the pair's
    /// decimals: `0.10000000` at 8 → `10000000`, `45283.5` at 1 → `452835`. A figure with
    /// more significant decimals than the precision keeps them (it would not match Kraken's
    /// anyway). Written from the mantissa in `u64` arithmetic: a `u128` division per digit
    /// costs more than the rest of a book update.
    fn push(&mut self, x: Decimal, places: Option<u32>) {
        let mut scale = x.scale();
        let Ok(mut m) = u64::try_from(x.mantissa().unsigned_abs()) else {
            return self.push_wide(x, places);
        };
        let mut pad = 0;
        if let Some(places) = places {
            // Drop trailing zeros beyond the precision, then pad up to it.
            while scale > places && m != 0 && m % 10 == 0 {
                m /= 10;
                scale -= 1;
            }
            pad = places.saturating_sub(scale) as usize;
        }
        if m == 0 {
            // Zero is "0" whatever its decimals (leading zeros are stripped).
            return self.extend(b"0");
        }
        // itoa writes two digits per step from a table: the checksum's text is most of a book
        // update's cost.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(m).as_bytes();
        if self.len + digits.len() + pad > self.buf.len() {
            return;
        }
        self.buf[self.len..self.len + digits.len()].copy_from_slice(digits);
        self.len += digits.len();
        self.buf[self.len..self.len + pad].fill(b'0');
        self.len += pad;
    }

    /// The same for a mantissa beyond `u64` (a number no venue sends; correct, not fast).
    #[cold]
    fn push_wide(&mut self, x: Decimal, places: Option<u32>) {
        let mut x = x;
        if let Some(places) = places {
            x = x.normalize();
            if x.scale() < places {
                x.rescale(places);
            }
        }
        self.extend(x.mantissa().unsigned_abs().to_string().as_bytes());
    }

    fn extend(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::d;

    #[test]
    fn figures_are_written_at_the_pairs_precision() {
        // The checksum guide's first levels, written as Kraken does.
        let mut text = Digits::default();
        text.push(d("45285.2"), Some(1));
        text.push(d("0.001"), Some(8));
        text.push(d("45286.40"), Some(1));
        text.push(d("0"), Some(8));
        assert_eq!(
            std::str::from_utf8(text.as_bytes()).unwrap(),
            ["452852", "100000", "452864", "0"].concat()
        );
        // Beyond u64 the slow path gives the same digits.
        let mut wide = Digits::default();
        wide.push_wide(d("45285.2"), Some(3));
        assert_eq!(wide.as_bytes(), b"45285200");
    }
}
