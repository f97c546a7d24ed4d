//! Text escaped with one scan and one copy when it needs no escaping.
//!
//! maud escapes an interpolated `&str` byte by byte, pushing each byte into the page's buffer
//! with a capacity check of its own. Almost every text on a page (Vietnamese or English labels,
//! the ward's name, paths) contains none of the bytes HTML needs escaped, so [`Text`] first
//! looks for one, sixteen bytes at a time, and copies a clean text with a single `push_str`.
//! Its output is byte for byte maud's: `&`, `<`, `>` and `"` become entities and every other
//! byte, `'` included, is copied (maud writes every attribute double-quoted).

use maud::Render;

use crate::byte_scan::{self, bytes_equal, splat};

/// A text rendered escaped, as maud renders a `&str`, but faster: interpolate `(Text(value))`
/// where a template would interpolate `(value)`.
///
/// ```
/// use wardgate::portal::html::{Text, html};
///
/// let ward = "Phường \"Thới Sơn\" & <xã>";
/// let markup = html! { p title=(Text(ward)) { (Text(ward)) } };
/// assert_eq!(
///     markup.into_string(),
///     "<p title=\"Phường &quot;Thới Sơn&quot; &amp; &lt;xã&gt;\">\
///      Phường &quot;Thới Sơn&quot; &amp; &lt;xã&gt;</p>"
/// );
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        escape_into(self.0, buffer);
    }
}

/// The entity of a byte HTML needs escaped, or `None`.
fn entity(byte: u8) -> Option<&'static str> {
    match byte {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        _ => None,
    }
}

fn is_special(byte: u8) -> bool {
    matches!(byte, b'&' | b'<' | b'>' | b'"')
}

/// Non-zero exactly when some byte of `word` is `&`, `<`, `>` or `"`. `<` (0x3C) and `>` (0x3E)
/// differ only in bit 1, `"` (0x22) and `&` (0x26) only in bit 2: setting that bit leaves two
/// comparisons.
fn special_bytes(word: u64) -> u64 {
    bytes_equal(word | splat(0x02), b'>') | bytes_equal(word | splat(0x04), b'&')
}

/// The index of the first byte of `bytes` that needs escaping.
fn find_special(bytes: &[u8]) -> Option<usize> {
    byte_scan::find(bytes, special_bytes, is_special)
}

/// Appends `text` to `buffer` with `&`, `<`, `>` and `"` replaced by their entities.
pub(crate) fn escape_into(text: &str, buffer: &mut String) {
    let mut rest = text;
    while let Some(at) = find_special(rest.as_bytes()) {
        // `at` is the index of an ASCII byte, so both slices fall on character boundaries.
        let (clean, special) = rest.split_at(at);
        buffer.push_str(clean);
        let byte = special.as_bytes()[0];
        buffer.push_str(entity(byte).unwrap_or_default());
        rest = &special[1..];
    }
    buffer.push_str(rest);
}

#[cfg(test)]
mod tests {
    use maud::html;
    use proptest::prelude::*;

    use super::*;

    fn escaped(text: &str) -> String {
        let mut buffer = String::new();
        escape_into(text, &mut buffer);
        buffer
    }

    fn maud_escaped(text: &str) -> String {
        html! { (text) }.into_string()
    }

    #[test]
    fn the_four_special_bytes_become_entities_anywhere_in_a_block() {
        assert_eq!(escaped(""), "");
        assert_eq!(escaped("Phường Thới Sơn"), "Phường Thới Sơn");
        assert_eq!(escaped("&<>\"'"), "&amp;&lt;&gt;&quot;'");
        // Special bytes at the first and last byte of a 16-byte block, and in the remainder.
        let text = "&123456789abcde<fghijklmnopqrstu\"vw>";
        assert_eq!(
            escaped(text),
            "&amp;123456789abcde&lt;fghijklmnopqrstu&quot;vw&gt;"
        );
        assert_eq!(escaped(text), maud_escaped(text));
        assert_eq!(
            escaped("Phường <Thới Sơn> & \"xã\""),
            "Phường &lt;Thới Sơn&gt; &amp; &quot;xã&quot;"
        );
    }

    #[test]
    fn the_word_test_finds_exactly_the_special_bytes_at_every_position() {
        for byte in 0..=u8::MAX {
            for position in 0..8 {
                let mut word = [b'a'; 8];
                word[position] = byte;
                assert_eq!(
                    special_bytes(u64::from_le_bytes(word)) != 0,
                    is_special(byte),
                    "byte {byte:#04x} at {position}"
                );
                // After a zero byte too: a borrow must not hide or invent a match.
                let mut word = [0u8; 8];
                word[position] = byte;
                assert_eq!(
                    special_bytes(u64::from_le_bytes(word)) != 0,
                    is_special(byte),
                    "byte {byte:#04x} at {position} among zeros"
                );
            }
        }
    }

    #[test]
    fn text_renders_in_text_and_attributes_as_maud_renders_a_str() {
        let hostile = "<script>alert('x')</script> \"q\" & 'a'";
        let ours = html! { a href=(Text(hostile)) { (Text(hostile)) } }.into_string();
        let mauds = html! { a href=(hostile) { (hostile) } }.into_string();
        assert_eq!(ours, mauds);
        assert!(!ours.contains("<script"), "{ours}");
    }

    proptest! {
        #[test]
        fn escaping_is_byte_for_byte_mauds(text in any::<String>()) {
            prop_assert_eq!(escaped(&text), maud_escaped(&text));
        }

        #[test]
        fn escaping_is_mauds_on_text_full_of_special_bytes(
            text in "[&<>\"'a-zA-Zà-ỹ ]{0,80}",
        ) {
            prop_assert_eq!(escaped(&text), maud_escaped(&text));
        }
    }
}
