//! Backup and restore as the operator's guide writes them: with the gateway stopped, copy the
//! SQLite database and the key files; restore them into a fresh data directory and start
//! there. Old receipts verify, dossiers open, and a resident signing in again is the same
//! resident (same pseudonym): their filing is found by its idempotency key.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use wardgate::fallback::TicketVerifier;
use wardgate::portal::data_dir::{
    DOSSIER_KEYS_FILE, KEYS_MANIFEST_FILE, PSEUDONYM_KEY_FILE, SESSION_KEYS_FILE, SIGNING_KEYS_FILE,
};
use wardgate::store::Store;
use wardgate::submission::{DossierCode, ReceiptVerifier};

use crate::gateway::{
    BIRTH, TestGateway, body_json, example_dossier, simulator, submission, tempdir,
};
use crate::keys_rotation::{issue, sealer_from};

/// What the guide's backup copies: the key files, then the database (with its write-ahead log
/// if SQLite left one).
const BACKED_UP: [&str; 8] = [
    SESSION_KEYS_FILE,
    SIGNING_KEYS_FILE,
    DOSSIER_KEYS_FILE,
    PSEUDONYM_KEY_FILE,
    KEYS_MANIFEST_FILE,
    "wardgate.db",
    "wardgate.db-wal",
    "wardgate.db-shm",
];

#[tokio::test]
async fn a_restored_data_directory_verifies_opens_and_knows_its_residents() {
    let idp = Arc::new(simulator().await);
    let original = tempdir::TempDir::new("backup-original");
    let gw = TestGateway::on_sqlite(&idp, &original.0).await;
    let old = issue(&gw, "filed-before-backup").await;
    drop(gw);

    // The backup, and its restore into a directory that never held a key.
    let backup = tempdir::TempDir::new("backup-copy");
    let mut copied = 0;
    for file in BACKED_UP {
        let from = original.0.join(file);
        if from.exists() {
            std::fs::copy(&from, backup.0.join(file)).unwrap();
            copied += 1;
        }
    }
    assert!(copied >= 6, "every key file and the database: {copied}");
    drop(original);
    let restored = tempdir::TempDir::new("backup-restored");
    for entry in std::fs::read_dir(&backup.0).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), restored.0.join(entry.file_name())).unwrap();
    }
    let gw = TestGateway::on_sqlite(&idp, &restored.0).await;

    // Receipts and tickets issued before the backup verify against the restored JWKS.
    let jwks = body_json(gw.get("/.well-known/jwks.json", None).await).await;
    assert_eq!(jwks, old.jwks);
    let receipt = ReceiptVerifier::from_jwks(&jwks)
        .unwrap()
        .verify(&old.receipt)
        .unwrap();
    assert_eq!(receipt.dossier_code.to_string(), old.dossier_code);
    TicketVerifier::from_jwks(&jwks)
        .unwrap()
        .verify(&old.ticket, chrono::Utc::now())
        .unwrap();

    // The dossier opens with the restored keys.
    let db = format!("sqlite://{}", restored.0.join("wardgate.db").display());
    let store: Arc<dyn Store> = wardgate::store::open(&db).await.unwrap();
    let code = DossierCode::parse(&old.dossier_code).unwrap();
    let stored = store.submission(&code).await.unwrap().unwrap();
    let dossier = example_dossier(&gw, BIRTH).await;
    assert_eq!(
        sealer_from(&restored.0)
            .open_dossier(code, &stored.dossier)
            .unwrap(),
        serde_json::from_str::<Value>(&dossier).unwrap()
    );

    // The session from before the backup still holds; a new sign-in is the same resident:
    // the filing is found under their pseudonym and the same idempotency key.
    let decision = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision"),
            Some(&old.session),
        )
        .await,
    )
    .await;
    assert_eq!(decision["decision"], "online");
    let (_, session) = gw.sign_in("level2").await;
    let replay = gw
        .send(submission(
            &format!("/api/procedures/{BIRTH}/submissions"),
            session.as_deref(),
            Some("filed-before-backup"),
            &dossier,
        ))
        .await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(body_json(replay).await["dossier_code"], old.dossier_code);
}
