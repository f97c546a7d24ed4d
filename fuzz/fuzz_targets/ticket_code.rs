//! Ticket codes and signed tickets: the code a resident types at the counter (or reads from the
//! QR code), and the signed ticket the counter verifies.
//!
//! Input: one selector byte, then the rest.
//! - 0 to 127: the rest, as text, is a typed code: a code that parses prints as a canonical
//!   code that parses to itself, and typing it in lower case or without dashes changes nothing.
//! - 128 to 191: the rest, as text, is a signed ticket (compact JWS) given to the verifier.
//! - 192 to 255: the rest is a ticket payload, signed with the targets' key and verified: this
//!   reaches the payload decoding behind the signature.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate::fallback::{TICKET_JWS_TYPE, TicketCode, TicketVerifier};
use wardgate_fuzz::{now, signing_key};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let verifier = TicketVerifier::new(vec![signing_key().verifying_key()]);
    match selector {
        0..=127 => {
            let Ok(typed) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(code) = TicketCode::parse(typed) else {
                return;
            };
            let printed = code.to_string();
            assert_eq!(TicketCode::parse(&printed).ok(), Some(code));
            assert_eq!(TicketCode::parse(&printed.to_lowercase()).ok(), Some(code));
            assert_eq!(
                TicketCode::parse(&printed.replace('-', "")).ok(),
                Some(code)
            );
            assert!(printed.starts_with(&code.prefix()));
            // One symbol changed is caught by the check symbol.
            let mut symbols: Vec<char> = printed.chars().collect();
            if let Some(i) = symbols.iter().rposition(|c| *c != '-') {
                let was = symbols[i];
                symbols[i] = if was == '0' { '1' } else { '0' };
                let changed: String = symbols.iter().collect();
                assert!(
                    TicketCode::parse(&changed).is_err(),
                    "{printed} with one symbol changed still parses"
                );
            }
        }
        128..=191 => {
            if let Ok(jws) = std::str::from_utf8(rest) {
                let _ = verifier.verify(jws, now());
            }
        }
        _ => {
            if let Ok(jws) = signing_key().sign(TICKET_JWS_TYPE, rest) {
                if let Ok(ticket) = verifier.verify(&jws, now()) {
                    assert!(ticket.expires_at > now(), "an expired ticket verified");
                    let printed = ticket.code.to_string();
                    assert_eq!(TicketCode::parse(&printed).ok(), Some(ticket.code));
                }
            }
        }
    }
});
