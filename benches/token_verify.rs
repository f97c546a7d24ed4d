//! ID-token parse + verify through wardgate, against ring's raw signature check of the same
//! token, in the same run. Target: wardgate ≤ 1.5× raw ring.
//!
//! Run: `cargo bench --bench token_verify`

#![allow(missing_docs, reason = "benchmark binary")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};
use serde_json::json;
use wardgate::oidc::{Expectations, IdTokenVerifier, Jwks};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .unwrap();
    let claims = json!({
        "iss": "https://idp.example", "sub": "b1a5e0c6-7c1e-4c52-9d5e-0f2b6f3e9a11", "aud": "ward-portal",
        "exp": now.timestamp() + 300, "iat": now.timestamp() - 5, "auth_time": now.timestamp() - 30,
        "nonce": "n-0S6_WzA2Mj", "acr": "urn:vn:eid:loa:2", "amr": ["pwd", "otp"], "azp": "ward-portal",
    });

    let rsa = signature::RsaKeyPair::from_pkcs8(include_bytes!("../tests/data/keys/rsa2048.pk8"))
        .unwrap();
    let ec_pkcs8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
    let ec = signature::EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ec_pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let rsa_public: signature::RsaPublicKeyComponents<Vec<u8>> = rsa.public().into();
    let point = ec.public_key().as_ref().to_vec();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)},
        {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])},
    ]});
    let keys = Jwks::from_json(jwks.to_string().as_bytes()).unwrap();
    let verifier = IdTokenVerifier::new("https://idp.example", "ward-portal").unwrap();
    let expect = Expectations::new(Some("n-0S6_WzA2Mj"), None);

    let rs256 = {
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}).to_string()),
            b64(claims.to_string())
        );
        let mut sig = vec![0; rsa.public().modulus_len()];
        rsa.sign(
            &signature::RSA_PKCS1_SHA256,
            &rng,
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", b64(sig))
    };
    let es256 = {
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"}).to_string()),
            b64(claims.to_string())
        );
        let sig = ec.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig))
    };
    assert!(verifier.verify(&rs256, &keys, expect, now).is_ok());
    assert!(verifier.verify(&es256, &keys, expect, now).is_ok());

    // The physical limit: ring verifying the signature over the signing input, nothing else.
    let split = |token: &str| {
        let (input, sig) = token.rsplit_once('.').unwrap();
        (
            input.as_bytes().to_vec(),
            URL_SAFE_NO_PAD.decode(sig).unwrap(),
        )
    };
    let (rs_input, rs_sig) = split(&rs256);
    let (es_input, es_sig) = split(&es256);

    let mut group = c.benchmark_group("id_token");
    group.bench_function("rs256/ring_raw_verify", |b| {
        b.iter(|| {
            rsa_public
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &rs_input, &rs_sig)
                .unwrap()
        })
    });
    group.bench_function("rs256/wardgate_parse_and_verify", |b| {
        b.iter(|| verifier.verify(&rs256, &keys, expect, now).unwrap())
    });
    group.bench_function("es256/ring_raw_verify", |b| {
        b.iter(|| {
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                .verify(&es_input, &es_sig)
                .unwrap()
        })
    });
    group.bench_function("es256/wardgate_parse_and_verify", |b| {
        b.iter(|| verifier.verify(&es256, &keys, expect, now).unwrap())
    });
    group.finish();

    // The ratio the target is stated in: both sides timed in alternating rounds (so load and
    // cache state hit both alike), the median of the per-round ratios.
    let ratio = |name: &str, wardgate: &dyn Fn(), raw: &dyn Fn()| {
        let time = |f: &dyn Fn()| {
            let start = std::time::Instant::now();
            for _ in 0..200 {
                f();
            }
            start.elapsed().as_secs_f64()
        };
        let mut ratios: Vec<f64> = (0..25).map(|_| time(wardgate) / time(raw)).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        println!(
            "{name}: wardgate parse + verify / ring raw verify = {median:.2} (median of 25 rounds; target <= 1.5)"
        );
    };
    ratio(
        "rs256",
        &|| drop(verifier.verify(&rs256, &keys, expect, now).unwrap()),
        &|| {
            rsa_public
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &rs_input, &rs_sig)
                .unwrap()
        },
    );
    ratio(
        "es256",
        &|| drop(verifier.verify(&es256, &keys, expect, now).unwrap()),
        &|| {
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                .verify(&es_input, &es_sig)
                .unwrap()
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
