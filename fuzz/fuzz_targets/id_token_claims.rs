//! ID-token parsing and verification, then level mapping from the claims a provider returned.
//!
//! Input: a JSON document shaped like the level-mapping vectors in `tests/data/acr/`:
//! `{"level_source": …, "id_token": {…}, "userinfo": {…}}` (each part optional). The ID token
//! claims are completed with what a token needs and lacks, signed with the targets' key and
//! verified; the level is then mapped through the document's level source (when it parses) and
//! every preset. Input that is not such a document is verified as a raw compact token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use wardgate::Level;
use wardgate::assurance::{LevelSource, ReturnedClaims};
use wardgate::oidc::Expectations;
use wardgate_fuzz::{NONCE, complete_id_token_claims, id_token_verifier, jwks, now, sign_id_token};

fuzz_target!(|data: &[u8]| {
    let verifier = id_token_verifier();
    let keys = jwks();
    let expect = || Expectations::new(Some(NONCE), Some(chrono::Duration::minutes(30)));
    let Ok(Value::Object(document)) = serde_json::from_slice::<Value>(data) else {
        if let Ok(token) = std::str::from_utf8(data) {
            let _ = verifier.verify(token.trim(), keys, expect(), now());
        }
        return;
    };

    let mut sources = vec![
        LevelSource::vneid(),
        LevelSource::eidas(),
        LevelSource::france_connect(),
        LevelSource::gov_uk(),
    ];
    if let Some(config) = document.get("level_source") {
        if let Ok(source) = serde_json::from_value::<LevelSource>(config.clone()) {
            // What the configuration says it needs, for each level.
            for level in [Level::One, Level::Two] {
                let _ = source.acr_values_for(level);
            }
            let _ = source.needs_userinfo();
            sources.push(source);
        }
    }
    let userinfo = document.get("userinfo").and_then(Value::as_object);
    let empty = Map::new();
    let claims = document
        .get("id_token")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let Some(token) = sign_id_token(&complete_id_token_claims(claims)) else {
        return;
    };
    let verified = verifier.verify(&token, keys, expect(), now());
    let id_token = verified.as_ref().ok().map(|token| token.claims());
    for source in &sources {
        let level = source.level(ReturnedClaims::new(id_token, userinfo));
        // Without any claims there is no level.
        assert_eq!(source.level(ReturnedClaims::new(None, None)), None);
        if let (Some(level), Ok(token)) = (level, &verified) {
            // The level comes from what the provider returned, never from nothing.
            assert!(
                !token.claims().is_empty() || userinfo.is_some_and(|u| !u.is_empty()),
                "level {level:?} from empty claims"
            );
        }
    }
    // A token whose signature is changed does not verify (the first signature character
    // carries six bits of the signature: no base64 leniency can hide the change).
    if let Some(dot) = token.rfind('.') {
        let mut tampered = token.clone().into_bytes();
        if let Some(byte) = tampered.get_mut(dot + 1) {
            *byte = if *byte == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).expect("still ASCII");
            assert!(verifier.verify(&tampered, keys, expect(), now()).is_err());
        }
    }
});
