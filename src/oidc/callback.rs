//! The authorization response as it arrives on the redirect URI.

use std::fmt;

/// The query of the request that reached the redirect URI, parsed byte-exactly.
///
/// Only `%XX` escapes are decoded; a `+` stays a `+` (VNeID-style providers return base64
/// authorization codes containing unescaped `+`, which form decoding would turn into spaces).
/// A parameter given twice makes the whole response malformed (RFC 6749 §3.1).
#[derive(Clone)]
pub struct Callback {
    params: Result<Vec<(String, String)>, ()>,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Holds the authorization code: only the parameter names are shown.
        let names: Vec<&str> = match &self.params {
            Ok(params) => params.iter().map(|(name, _)| name.as_str()).collect(),
            Err(()) => vec!["<malformed>"],
        };
        f.debug_struct("Callback").field("params", &names).finish()
    }
}

/// Longest callback query accepted.
const MAX_QUERY_BYTES: usize = 8 * 1024;

impl Callback {
    /// Parses the raw query string (without the leading `?`).
    pub fn from_query(raw: &str) -> Self {
        Self { params: parse(raw) }
    }

    /// Whether the query could be parsed.
    pub fn is_well_formed(&self) -> bool {
        self.params.is_ok()
    }

    /// The decoded value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .as_ref()
            .ok()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse(raw: &str) -> Result<Vec<(String, String)>, ()> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(());
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(value)?;
        if params.iter().any(|(n, _)| *n == name) {
            return Err(());
        }
        params.push((name, value));
    }
    Ok(params)
}

fn percent_decode(input: &str) -> Result<String, ()> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(()),
            }
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}
