//! The per-request cost of the gate: find and open a realistic sealed session cookie, then
//! `policy::decide` for a level-2 procedure. Target (issue 17): ≤ 2 µs median. The limit it is
//! compared with: ring's own AES-256-GCM open of a ciphertext of the same size
//! (`ring_raw_open_same_size`). `session_open_v1_json_and_decide` opens the same session sealed
//! as before the binary layout (version 1, JSON), which old cookies still take: the difference
//! is what the binary layout saves per request.
//!
//! Run: `cargo bench --all-features --bench session_decide`

#![allow(missing_docs, reason = "benchmark binary")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ring::aead;
use wardgate::assurance::{Assurance, Level, SourceKind};
use wardgate::clock::SystemRandom;
use wardgate::policy::{Catalog, Context, Decision, decide};
use wardgate::pseudonym::Pseudonymizer;
use wardgate::session::{
    CookieSettings, KeyRing, SESSION_PURPOSE, Session, SessionConfig, find_cookie,
};

fn bench(c: &mut Criterion) {
    let random = SystemRandom::new();
    let catalog =
        Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml")).unwrap();
    let birth = catalog.procedure("1.001193").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().unwrap();

    // A key ring after one rotation (two keys), as in production.
    let mut ring = KeyRing::generate(&random).unwrap();
    ring.rotate(&random).unwrap();
    let cookies = CookieSettings::for_public_url(
        &"https://dichvucong.thoison.angiang.gov.vn/"
            .parse()
            .unwrap(),
    )
    .unwrap();
    let config = SessionConfig::default();
    let issuer = "https://sso.dichvucong.gov.vn";
    let subject = Pseudonymizer::new(&[7u8; 32])
        .unwrap()
        .subject(issuer, "8f14e45f-ceea-467f-a0e6-0a1b2c3d4e5f");
    let assurance = Assurance::new(
        Some(Level::Two),
        issuer,
        SourceKind::UserinfoClaim,
        Some(now - Duration::minutes(4)),
    )
    .with_acr(Some("urn:vn:eid:loa:2".into()))
    .with_amr(vec!["pwd".into(), "otp".into(), "face".into()]);
    let mut session = Session::new(
        subject.as_str(),
        assurance,
        now - Duration::minutes(4),
        &random,
    )
    .unwrap();
    session.record_step_up(Level::Two, Some(1800));
    let name = cookies.session_cookie_name();
    let sealed = config.seal(&ring, &random, name, &session).unwrap();
    let header = format!("lang=vi; _ga=GA1.1.123456789.1700000000; {name}={sealed}; theme=light");
    let ctx = Context::new(now).with_lang(wardgate::i18n::Lang::Vi);

    // Sanity: the path measured is the online one.
    let opened = config
        .open(&ring, name, now, find_cookie(&header, name).unwrap())
        .unwrap();
    assert!(matches!(
        decide(birth, Some(opened.assurance()), &ctx),
        Decision::Online(_)
    ));
    // The same session as a gateway before the binary layout sealed it: JSON, version 1.
    let sealed_v1 = ring
        .seal(
            &random,
            SESSION_PURPOSE,
            name,
            config.expires_at(&session),
            &session,
        )
        .unwrap();
    let header_v1 =
        format!("lang=vi; _ga=GA1.1.123456789.1700000000; {name}={sealed_v1}; theme=light");
    println!(
        "sealed session cookie: {} bytes (version 1, JSON: {} bytes)",
        sealed.len(),
        sealed_v1.len()
    );

    c.bench_function("session_open_and_decide", |b| {
        b.iter(|| {
            let value = find_cookie(black_box(&header), name).unwrap();
            let session = config.open(&ring, name, now, value).unwrap();
            let decision = decide(birth, Some(session.assurance()), black_box(&ctx));
            black_box(decision);
        });
    });
    c.bench_function("session_open_v1_json_and_decide", |b| {
        b.iter(|| {
            let value = find_cookie(black_box(&header_v1), name).unwrap();
            let session = config.open(&ring, name, now, value).unwrap();
            let decision = decide(birth, Some(session.assurance()), black_box(&ctx));
            black_box(decision);
        });
    });
    // The limit: ring's own AES-256-GCM open of a ciphertext as long as the sealed cookie's,
    // after the same base64url decoding; no JSON, no checks.
    let key =
        aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &[9u8; 32]).unwrap());
    let sealed_len = URL_SAFE_NO_PAD.decode(&sealed).unwrap().len();
    let mut raw = vec![b'x'; sealed_len - aead::NONCE_LEN - aead::AES_256_GCM.tag_len()];
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key([1u8; aead::NONCE_LEN]),
        aead::Aad::from(name.as_bytes()),
        &mut raw,
    )
    .unwrap();
    let mut framed = [1u8; aead::NONCE_LEN].to_vec();
    framed.extend_from_slice(&raw);
    let raw_cookie = URL_SAFE_NO_PAD.encode(&framed);
    c.bench_function("ring_raw_open_same_size", |b| {
        b.iter(|| {
            let mut bytes = URL_SAFE_NO_PAD.decode(black_box(&raw_cookie)).unwrap();
            let (nonce, ciphertext) = bytes.split_at_mut(aead::NONCE_LEN);
            let nonce = aead::Nonce::try_assume_unique_for_key(nonce).unwrap();
            let plain = key
                .open_in_place(nonce, aead::Aad::from(name.as_bytes()), ciphertext)
                .unwrap();
            black_box(plain.len());
        });
    });
    c.bench_function("decide_only", |b| {
        b.iter(|| black_box(decide(birth, Some(opened.assurance()), black_box(&ctx))));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
