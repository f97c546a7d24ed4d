//! Finding bytes sixteen at a time, without `unsafe` and without SIMD intrinsics.
//!
//! Hot paths scan text for a few ASCII bytes: the page renderer for the bytes HTML escapes
//! (`portal::html::Text`), the session layer for `;` and `=` in the `Cookie` header. A byte
//! loop costs several instructions a byte; here two `u64` words are tested at once with the
//! classic "has a zero byte" trick, and only a block that has a match is searched byte by byte.

/// `0x01` in every byte of a word.
pub(crate) const ONES: u64 = u64::from_le_bytes([0x01; 8]);

/// A word whose bytes are all `byte`.
pub(crate) const fn splat(byte: u8) -> u64 {
    ONES * byte as u64
}

/// Non-zero exactly when some byte of `word` is zero. (Which bits are set says nothing more:
/// above a zero byte a borrow can set more; a borrow only starts at a zero byte.)
pub(crate) const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & splat(0x80)
}

/// Non-zero exactly when some byte of `word` is `byte`.
pub(crate) const fn bytes_equal(word: u64, byte: u8) -> u64 {
    zero_bytes(word ^ splat(byte))
}

/// The index of the first byte of `bytes` for which `byte_matches` holds. `word_matches` must
/// be non-zero exactly when one of a word's eight bytes matches (built from [`bytes_equal`]).
#[inline]
pub(crate) fn find(
    bytes: &[u8],
    word_matches: impl Fn(u64) -> u64,
    byte_matches: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(16);
    let mut offset = 0;
    for block in &mut blocks {
        let (low, high) = block.split_at(8);
        // Two chunks of eight always convert; were one not to, the byte search decides.
        let maybe = match (<[u8; 8]>::try_from(low), <[u8; 8]>::try_from(high)) {
            (Ok(low), Ok(high)) => {
                word_matches(u64::from_le_bytes(low)) | word_matches(u64::from_le_bytes(high)) != 0
            }
            _ => true,
        };
        if maybe && let Some(at) = block.iter().position(|&byte| byte_matches(byte)) {
            return Some(offset + at);
        }
        offset += 16;
    }
    // The last 0 to 15 bytes, zero-padded into one more block: short texts (most of a page's)
    // end here, and a byte loop over them cost more than the rest of the scan.
    let rest = blocks.remainder();
    let mut padded = [0u8; 16];
    if let Some(head) = padded.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = padded;
    let maybe = word_matches(u64::from_le_bytes([a, b, c, d, e, f, g, h]))
        | word_matches(u64::from_le_bytes([i, j, k, l, m, n, o, p]))
        != 0;
    // The padding can only make `maybe` true wrongly (a search for zero): the byte search over
    // the real bytes decides.
    if !maybe {
        return None;
    }
    rest.iter()
        .position(|&byte| byte_matches(byte))
        .map(|at| offset + at)
}

/// The index of the first `needle` in `bytes`.
pub(crate) fn find_byte(bytes: &[u8], needle: u8) -> Option<usize> {
    find(
        bytes,
        |word| bytes_equal(word, needle),
        |byte| byte == needle,
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bytes_equal_is_exact_for_every_byte_at_every_position() {
        for needle in [b';', b'=', 0, 0x80, 0xff] {
            for byte in 0..=u8::MAX {
                for position in 0..8 {
                    for filler in [b'a', 0, needle.wrapping_add(1), 0xff] {
                        if filler == needle {
                            continue;
                        }
                        let mut word = [filler; 8];
                        word[position] = byte;
                        assert_eq!(
                            bytes_equal(u64::from_le_bytes(word), needle) != 0,
                            byte == needle,
                            "{byte:#04x} at {position} among {filler:#04x}, looking for {needle:#04x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn find_byte_finds_the_first_match_in_blocks_and_in_the_remainder() {
        let text = b"0123456789abcdef0123456789abcdef;;xyz";
        assert_eq!(find_byte(text, b';'), Some(32));
        assert_eq!(find_byte(text, b'0'), Some(0));
        assert_eq!(find_byte(text, b'f'), Some(15));
        assert_eq!(find_byte(text, b'z'), Some(36));
        assert_eq!(find_byte(text, b'!'), None);
        assert_eq!(find_byte(b"", b'!'), None);
        // The zero padding of the last block is not a match.
        assert_eq!(find_byte(b"abc", 0), None);
        assert_eq!(find_byte(b"ab\0c", 0), Some(2));
        assert_eq!(find_byte(&[1; 16], 0), None);
    }

    proptest! {
        #[test]
        fn find_byte_is_position(bytes in proptest::collection::vec(any::<u8>(), 0..80), needle in any::<u8>()) {
            prop_assert_eq!(find_byte(&bytes, needle), bytes.iter().position(|&b| b == needle));
        }
    }
}
