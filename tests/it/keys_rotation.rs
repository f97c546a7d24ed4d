//! Rotating every key of the data directory while residents are signed in, then restarting the
//! gateway on it (what `ward_gateway keys rotate …` and a restart do): sessions carry on,
//! receipts and tickets issued before still verify against the JWKS, dossiers sealed before
//! still open, and the outbox still delivers them.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use wardgate::clock::SystemRandom;
use wardgate::fallback::TicketVerifier;
use wardgate::keys::VerifyingKey;
use wardgate::oidc::{HttpClient, ReqwestHttp};
use wardgate::portal::data_dir::{self, GatewayKeys, KeyKind};
use wardgate::store::Store;
use wardgate::submission::{
    DossierCode, DossierSealer, Handoff, Outbox, ReceiptError, ReceiptVerifier,
};
use wardgate::{Clock as _, SystemClock};

use crate::gateway::{
    BIRTH, TestGateway, body_json, example_dossier, simulator, submission, tempdir,
};

/// What a fresh resident session, a filing and a referral left behind.
pub(crate) struct Issued {
    pub(crate) session: String,
    pub(crate) dossier_code: String,
    pub(crate) receipt: String,
    pub(crate) ticket: String,
    pub(crate) jwks: Value,
}

/// Signs a level-2 resident in and files a birth registration under `key`; asks for a
/// referral as a level-1 resident (which carries a signed ticket); reads the JWKS.
pub(crate) async fn issue(gw: &TestGateway, key: &str) -> Issued {
    let (_, session) = gw.sign_in("level2").await;
    let session = session.expect("a session cookie");
    let dossier = example_dossier(gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let filed = gw
        .send(submission(&path, Some(&session), Some(key), &dossier))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let filed = body_json(filed).await;
    let referral = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?outcome=level_unreachable"),
            None,
        )
        .await,
    )
    .await;
    Issued {
        session,
        dossier_code: filed["dossier_code"].as_str().unwrap().to_owned(),
        receipt: filed["receipt"].as_str().unwrap().to_owned(),
        ticket: referral["referral"]["ticket"]["jws"]
            .as_str()
            .unwrap()
            .to_owned(),
        jwks: body_json(gw.get("/.well-known/jwks.json", None).await).await,
    }
}

/// The sealer the example gateway gives its outbox, from the keys in `dir`.
pub(crate) fn sealer_from(dir: &std::path::Path) -> Arc<DossierSealer> {
    let random = Arc::new(SystemRandom::new());
    let keys = GatewayKeys::load_or_create(dir, random.as_ref()).unwrap();
    Arc::new(
        DossierSealer::new(keys.dossier_key, random)
            .unwrap()
            .with_older_keys(keys.older_dossier_keys)
            .unwrap(),
    )
}

/// A back office on loopback that takes every envelope (200) and keeps it with its key.
pub(crate) struct BackOffice {
    pub(crate) url: url::Url,
    pub(crate) received: Arc<Mutex<Vec<(String, String)>>>,
    server: tokio::task::JoinHandle<()>,
}

impl BackOffice {
    pub(crate) async fn start() -> Self {
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let books = Arc::clone(&received);
        let app = axum::Router::new().route(
            "/dossiers",
            axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let books = Arc::clone(&books);
                async move {
                    let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                    let envelope = body["envelope"].as_str().unwrap().to_owned();
                    books.lock().unwrap().push((key, envelope));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/dossiers", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            received,
            server,
        }
    }

    /// Runs one outbox round against this back office with `sealer`; returns how many were
    /// delivered.
    pub(crate) async fn deliver(&self, store: &Arc<dyn Store>, sealer: Arc<DossierSealer>) -> u32 {
        let http: Arc<dyn HttpClient> = Arc::new(ReqwestHttp::new().unwrap());
        let outbox = Outbox::new(
            Arc::clone(store),
            http,
            self.url.clone(),
            sealer,
            Arc::new(SystemClock),
            Arc::new(SystemRandom::new()),
        );
        outbox.run_once(SystemClock.now()).await.unwrap().delivered
    }
}

impl Drop for BackOffice {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) fn keys_of(jwks: &Value) -> Vec<VerifyingKey> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|jwk| VerifyingKey::from_jwk(jwk).unwrap())
        .collect()
}

fn kids(jwks: &Value) -> Vec<String> {
    keys_of(jwks)
        .iter()
        .map(|key| key.kid().to_owned())
        .collect()
}

#[tokio::test]
async fn rotating_every_key_keeps_sessions_receipts_tickets_and_dossiers() {
    let idp = Arc::new(simulator().await);
    let dir = tempdir::TempDir::new("rotation");
    let db = format!("sqlite://{}", dir.0.join("wardgate.db").display());
    let store: Arc<dyn Store> = wardgate::store::open(&db).await.unwrap();
    let before = TestGateway::on_store(&idp, &dir.0, Arc::clone(&store)).await;
    let old = issue(&before, "before-rotation").await;
    assert_eq!(kids(&old.jwks).len(), 1);
    drop(before);

    let random = SystemRandom::new();
    for kind in KeyKind::ALL {
        data_dir::rotate_key(&dir.0, kind, &random, chrono::Utc::now()).unwrap();
    }
    // The restart after the rotation.
    let after = TestGateway::on_store(&idp, &dir.0, Arc::clone(&store)).await;

    // The resident signed in before is still signed in, and files again.
    let decision = body_json(
        after
            .get(
                &format!("/api/procedures/{BIRTH}/decision"),
                Some(&old.session),
            )
            .await,
    )
    .await;
    assert_eq!(decision["decision"], "online");
    let dossier = example_dossier(&after, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let again = after
        .send(submission(
            &path,
            Some(&old.session),
            Some("after-rotation"),
            &dossier,
        ))
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again = body_json(again).await;
    let new = issue(&after, "after-rotation-2").await;

    // The JWKS publishes the new key first and the old one still.
    let old_kid = kids(&old.jwks).remove(0);
    let published = kids(&new.jwks);
    assert_eq!(published.len(), 2);
    assert_ne!(published[0], old_kid);
    assert_eq!(published[1], old_kid);

    // Receipts and tickets of both keys verify against today's JWKS, with their own key.
    let receipts = ReceiptVerifier::from_jwks(&new.jwks).unwrap();
    for (receipt, code) in [
        (&old.receipt, &old.dossier_code),
        (&new.receipt, &new.dossier_code),
    ] {
        assert_eq!(
            receipts.verify(receipt).unwrap().dossier_code.to_string(),
            *code
        );
    }
    assert!(again["receipt"].as_str().unwrap().len() > 10);
    let tickets = TicketVerifier::from_jwks(&new.jwks).unwrap();
    let now = chrono::Utc::now();
    tickets.verify(&old.ticket, now).unwrap();
    tickets.verify(&new.ticket, now).unwrap();
    // The old JWKS alone does not verify what the new key signed: the rotation took effect.
    assert!(matches!(
        ReceiptVerifier::from_jwks(&old.jwks)
            .unwrap()
            .verify(&new.receipt),
        Err(ReceiptError::Jws(_))
    ));

    // The dossier sealed before the rotation opens; the one sealed after too.
    let sealer = sealer_from(&dir.0);
    for code in [&old.dossier_code, &new.dossier_code] {
        let code = DossierCode::parse(code).unwrap();
        let stored = store.submission(&code).await.unwrap().unwrap();
        let opened = sealer.open_dossier(code, &stored.dossier).unwrap();
        assert_eq!(opened, serde_json::from_str::<Value>(&dossier).unwrap());
    }

    // The outbox delivers all three dossiers, the old one in an envelope the back office
    // verifies with the old key from today's JWKS.
    let back_office = BackOffice::start().await;
    assert_eq!(back_office.deliver(&store, sealer).await, 3);
    let received = back_office.received.lock().unwrap().clone();
    let keys = keys_of(&new.jwks);
    let mut codes: Vec<String> = received
        .iter()
        .map(|(key, envelope)| {
            let handoff = Handoff::verify(envelope, &keys).unwrap();
            assert_eq!(handoff.dossier_code.to_string(), *key);
            key.clone()
        })
        .collect();
    codes.sort();
    let mut expected = vec![
        old.dossier_code.clone(),
        again["dossier_code"].as_str().unwrap().to_owned(),
        new.dossier_code.clone(),
    ];
    expected.sort();
    assert_eq!(codes, expected);
}

#[tokio::test]
async fn a_signing_key_still_needed_is_not_retired_and_stays_in_the_jwks() {
    let idp = Arc::new(simulator().await);
    let dir = tempdir::TempDir::new("retire");
    let random = SystemRandom::new();
    GatewayKeys::load_or_create(&dir.0, &random).unwrap();
    let first = data_dir::list_keys(&dir.0, &random).unwrap();
    let old_signing = first
        .iter()
        .find(|record| record.kind == KeyKind::Signing)
        .unwrap()
        .id
        .clone();
    let rotated_at = chrono::Utc::now();
    data_dir::rotate_key(&dir.0, KeyKind::Signing, &random, rotated_at).unwrap();
    let policy = data_dir::KeyPolicy::new(chrono::TimeDelta::hours(8));
    let refused = data_dir::retire_key(&dir.0, &old_signing, &policy, false, &random, rotated_at)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with(&format!("`{old_signing}` is still needed until ")),
        "{refused}"
    );
    let gw =
        TestGateway::on_store(&idp, &dir.0, Arc::new(wardgate::store::MemoryStore::new())).await;
    let jwks = body_json(gw.get("/.well-known/jwks.json", None).await).await;
    assert!(kids(&jwks).contains(&old_signing));
}
