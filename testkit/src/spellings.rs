//! Spellings of an address that a reader cannot tell from the plain one, as reported against
//! the live binary: the unit tests of `user_api_svc::auth::email` and the registration tests
//! both refuse every one of them.

/// Invisible or blank characters that were reported appended to an existing address.
pub const INVISIBLE_REPORTED: [char; 7] = [
    '\u{00AD}',  // soft hyphen
    '\u{034F}',  // combining grapheme joiner
    '\u{180E}',  // Mongolian vowel separator
    '\u{3164}',  // Hangul filler
    '\u{2800}',  // Braille blank
    '\u{E0041}', // tag latin capital A
    '\u{115F}',  // Hangul choseong filler
];
