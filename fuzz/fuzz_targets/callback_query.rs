//! Callback query parsing: the query string the provider's redirect brings to the callback,
//! parsed byte-exactly (`%XX` decoded, `+` kept, a repeated parameter makes it malformed).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate::oidc::Callback;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let callback = Callback::from_query(raw);
    let names = [
        "code",
        "state",
        "error",
        "error_description",
        "iss",
        "session_state",
    ];
    if !callback.is_well_formed() {
        // Malformed: nothing is read from it.
        for name in names {
            assert_eq!(callback.get(name), None);
        }
        return;
    }
    for name in names {
        if let Some(value) = callback.get(name) {
            // Without escapes, a value is the text of the query as it came (a `+` stays a `+`).
            if !raw.contains('%') {
                assert!(raw.contains(value), "a value that is not in the query");
            }
        }
    }
    // Debug output never shows the values (the authorization code is a secret): it is the
    // same as for the query with every value blanked.
    if !raw.contains('%') && raw.len() < 4096 {
        let blanked: Vec<String> = raw
            .split('&')
            .map(|pair| match pair.split_once('=') {
                _ if pair.is_empty() => String::new(),
                Some((name, _)) => format!("{name}="),
                None => format!("{pair}="),
            })
            .collect();
        assert_eq!(
            format!("{callback:?}"),
            format!("{:?}", Callback::from_query(&blanked.join("&")))
        );
    }
});
