//! Fixtures shared by the SQLite and PostgreSQL store tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use wardgate::clock::SystemRandom;
use wardgate::fallback::{Ticket, TicketCode, WardCode};
use wardgate::policy::{ProcedureCode, ReasonCode};
use wardgate::store::{BookingId, BookingRequest, Draft, SlotKey};

/// A directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nonce = BookingId::generate(&SystemRandom::new()).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "wardgate-{label}-{}-{n}-{}",
            std::process::id(),
            nonce.as_str().replace(['-', '_'], "")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// A path in the directory, as text.
    pub(crate) fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PostgreSQL schema name no other test uses: `wg_test_{prefix}` and a random suffix.
pub(crate) fn fresh_schema(prefix: &str) -> String {
    let nonce = BookingId::generate(&SystemRandom::new()).unwrap();
    let suffix: String = nonce
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("wg_test_{prefix}{suffix}")
}

/// 2026-03-02 01:00 UTC, 08:00 in Vietnam, with a sub-microsecond part to check that times
/// read back exactly.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

pub(crate) fn ward() -> WardCode {
    WardCode::parse("30316").unwrap()
}

pub(crate) fn procedure() -> ProcedureCode {
    ProcedureCode::parse("1.001193").unwrap()
}

pub(crate) fn booking_request(ticket: Option<TicketCode>) -> BookingRequest {
    BookingRequest {
        id: BookingId::generate(&SystemRandom::new()).unwrap(),
        slot: SlotKey {
            ward: ward(),
            point: "trung-tam".into(),
            start: t0() + Duration::hours(2),
        },
        capacity: 3,
        procedure: procedure(),
        ticket,
        now: t0(),
    }
}

pub(crate) fn draft() -> Draft {
    Draft::new(
        procedure(),
        Some(ward()),
        serde_json::json!({"child_name": "Nguyễn Thị Hoa", "place_of_birth": "Thới Sơn, An Giang"}),
        t0(),
        Duration::days(30),
        &SystemRandom::new(),
    )
    .unwrap()
}

pub(crate) fn ticket(draft: &Draft) -> Ticket {
    let json = serde_json::json!({
        "code": TicketCode::generate("TS", &SystemRandom::new()).unwrap(),
        "procedure": procedure(),
        "ward": ward(),
        "reception_point": "trung-tam",
        "reason": ReasonCode::LevelBelowRequired,
        "draft": draft.id,
        "issued_at": t0(),
        "expires_at": t0() + Duration::days(14),
    });
    serde_json::from_value(json).unwrap()
}
