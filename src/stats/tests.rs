//! Statistics tests: the seed ward's "660 dossiers, 83 % online".

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use pretty_assertions::assert_eq;

use super::*;
use crate::assurance::Level;
use crate::audit::{AuditEntry, BookingRecorded, PointRef, ReferralRecorded, SubmissionRecorded};
use crate::clock::SystemRandom;
use crate::store::{BookingId, BookingRequest, MemoryStore, SlotKey};
use crate::submission::DossierCode;

fn ward() -> WardCode {
    WardCode::parse("30316").unwrap()
}

fn birth() -> ProcedureCode {
    ProcedureCode::parse("1.001193").unwrap()
}

fn residence() -> ProcedureCode {
    ProcedureCode::parse("1.004194").unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

/// 09:00 in Vietnam on 2026-03-`d`.
fn morning(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, 2, 0, 0).single().unwrap()
}

async fn append(store: &dyn Store, at: DateTime<Utc>, event: AuditEvent) {
    store
        .append_audit(&AuditEntry::new(at, None, event))
        .await
        .unwrap();
}

fn submission(ward: WardCode, procedure: ProcedureCode, d: u32) -> AuditEvent {
    let code = DossierCode::generate(ward, day(d), &SystemRandom::new()).unwrap();
    AuditEvent::Submission(SubmissionRecorded::new(code, procedure, ward, Level::Two))
}

async fn seed(store: &dyn Store) {
    // 18 days, 1 to 18 March: 548 online and 112 referrals for birth registration.
    for i in 0..548u32 {
        let d = 1 + i % 18;
        append(
            store,
            morning(d) + Duration::minutes(i64::from(i)),
            submission(ward(), birth(), d),
        )
        .await;
    }
    let reasons = [
        (ReasonCode::NoEid, 61),
        (ReasonCode::LevelBelowRequired, 38),
        (ReasonCode::ProviderUnavailable, 9),
        (ReasonCode::ResidentChoseInPerson, 4),
    ];
    for (reason, n) in reasons {
        for i in 0..n {
            let d = 1 + i % 18;
            append(
                store,
                morning(d),
                AuditEvent::Referral(ReferralRecorded::new(birth(), reason, ward())),
            )
            .await;
        }
    }
    // Not counted: another ward, another procedure, outside the range.
    let other = WardCode::parse("29950").unwrap();
    append(store, morning(3), submission(other, birth(), 3)).await;
    append(
        store,
        morning(3),
        AuditEvent::Referral(ReferralRecorded::new(birth(), ReasonCode::NoEid, other)),
    )
    .await;
    append(store, morning(4), submission(ward(), residence(), 4)).await;
    // 23:30 on 28 February in Vietnam is 16:30 UTC: the day before the range.
    let before = Utc
        .with_ymd_and_hms(2026, 2, 28, 16, 30, 0)
        .single()
        .unwrap();
    append(store, before, submission(ward(), birth(), 1)).await;
    // 00:00 on 19 March in Vietnam: the day after.
    let after = Utc
        .with_ymd_and_hms(2026, 3, 18, 17, 0, 0)
        .single()
        .unwrap();
    append(store, after, submission(ward(), birth(), 19)).await;
}

async fn book(store: &dyn Store, start: DateTime<Utc>, procedure: ProcedureCode) -> BookingId {
    let request = BookingRequest {
        id: BookingId::generate(&SystemRandom::new()).unwrap(),
        slot: SlotKey {
            ward: ward(),
            point: "trung-tam".into(),
            start,
        },
        capacity: 10,
        procedure,
        ticket: None,
        now: start - Duration::days(1),
    };
    let booking = store.book(&request).await.unwrap();
    append(
        store,
        request.now,
        AuditEvent::Booking(BookingRecorded::new(
            ward(),
            PointRef::parse("trung-tam").unwrap(),
            procedure,
            BookingAction::Booked,
        )),
    )
    .await;
    booking.id
}

#[tokio::test]
async fn the_seed_ward_reports_660_dossiers_83_percent_online() {
    let store = MemoryStore::new();
    seed(&store).await;
    // Bookings: kept (slot passed), cancelled, future, another procedure.
    book(&store, morning(5), birth()).await;
    let cancelled = book(&store, morning(6), birth()).await;
    store.cancel(&cancelled, morning(5)).await.unwrap();
    append(
        &store,
        morning(5),
        AuditEvent::Booking(BookingRecorded::new(
            ward(),
            PointRef::parse("trung-tam").unwrap(),
            birth(),
            BookingAction::Cancelled,
        )),
    )
    .await;
    book(&store, morning(18) + Duration::hours(3), birth()).await;
    book(&store, morning(7), residence()).await;

    let now = morning(18);
    let query = StatsQuery::new(ward(), day(1), day(18)).with_procedure(birth());
    let stats = compute(&store, &query, now).await.unwrap();
    assert_eq!(stats.online, 548);
    assert_eq!(stats.in_person_referrals(), 112);
    assert_eq!(stats.dossiers_received, 660);
    assert_eq!(stats.online_share_percent(), Some(83));
    assert_eq!(
        stats.in_person_referrals_by_reason,
        BTreeMap::from([
            (ReasonCode::NoEid, 61),
            (ReasonCode::LevelBelowRequired, 38),
            (ReasonCode::ProviderUnavailable, 9),
            (ReasonCode::ResidentChoseInPerson, 4),
        ])
    );
    assert_eq!(stats.bookings_made, 3);
    assert_eq!(stats.bookings_cancelled, 1);
    assert_eq!(stats.bookings_kept, 1);

    // Paging through the trail gives the same figures.
    assert_eq!(compute_paged(&store, &query, now, 7).await.unwrap(), stats);

    // All procedures: the residence dossier and booking count too.
    let all = compute(&store, &StatsQuery::new(ward(), day(1), day(18)), now)
        .await
        .unwrap();
    assert_eq!(all.online, 549);
    assert_eq!(all.bookings_made, 4);
    assert_eq!(all.bookings_kept, 2);

    assert_eq!(
        stats.to_text(Lang::Vi),
        "Phường/xã 30316, từ 01/03/2026 đến 18/03/2026, thủ tục 1.001193: 660 hồ sơ, 83 % trực tuyến (548 nộp trực tuyến, 112 chuyển nộp trực tiếp).\n\
         Chuyển nộp trực tiếp theo lý do:\n\
         - chưa có tài khoản định danh điện tử: 61\n\
         - tài khoản chưa đạt mức độ 2: 38\n\
         - hệ thống VNeID bị gián đoạn: 9\n\
         - người dân chọn nộp trực tiếp: 4\n\
         Lịch hẹn: 3 đã đặt, 1 đã hủy, 1 đã đến giờ hẹn mà không hủy.\n"
    );
    assert!(stats.to_text(Lang::En).starts_with(
        "Ward 30316, 01/03/2026 to 18/03/2026, procedure 1.001193: 660 dossiers, 83 % online"
    ));
    let json = stats.to_json();
    assert_eq!(json["dossiers_received"], 660);
    assert_eq!(json["online_share_percent"], 83);
    assert_eq!(json["in_person_referrals"], 112);
    assert_eq!(json["in_person_referrals_by_reason"]["no_eid"], 61);
    assert_eq!(json["ward"], "30316");
    assert_eq!(json["from"], "2026-03-01");
}

#[tokio::test]
async fn an_empty_range_has_no_share_and_bad_ranges_are_refused() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let stats = compute(
        store.as_ref(),
        &StatsQuery::new(ward(), day(1), day(1)),
        morning(2),
    )
    .await
    .unwrap();
    assert_eq!(stats.dossiers_received, 0);
    assert_eq!(stats.online_share_percent(), None);
    assert!(stats.to_text(Lang::Vi).contains("0 hồ sơ, – trực tuyến"));

    let backwards = compute(
        store.as_ref(),
        &StatsQuery::new(ward(), day(2), day(1)),
        morning(2),
    )
    .await;
    assert!(matches!(backwards, Err(StatsError::Range { .. })));
    let long = StatsQuery::new(ward(), day(1), day(1) + Duration::days(MAX_RANGE_DAYS));
    assert!(matches!(
        compute(store.as_ref(), &long, morning(2)).await,
        Err(StatsError::Range { .. })
    ));
}

#[test]
fn the_share_rounds_half_up() {
    let mut stats = Stats {
        ward: ward(),
        procedure: None,
        from: day(1),
        to: day(1),
        dossiers_received: 8,
        online: 5,
        in_person_referrals_by_reason: BTreeMap::new(),
        bookings_made: 0,
        bookings_cancelled: 0,
        bookings_kept: 0,
    };
    // 62.5 % → 63 %.
    assert_eq!(stats.online_share_percent(), Some(63));
    stats.online = 8;
    assert_eq!(stats.online_share_percent(), Some(100));
    for reason in ReasonCode::ALL {
        assert!(!reason_label(*reason, Lang::Vi).is_empty());
        assert!(!reason_label(*reason, Lang::En).is_empty());
    }
}
