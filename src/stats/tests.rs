//! Statistics tests: the seed ward's "660 dossiers, 83 % online".

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use pretty_assertions::assert_eq;

use super::*;
use crate::assurance::Level;
use crate::audit::{
    AuditEntry, BookingAction, BookingRecorded, CounterRecorded, PointRef, ReferralRecorded,
    SubmissionRecorded,
};
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

fn ticket() -> TicketCode {
    TicketCode::generate("TS", &SystemRandom::new()).unwrap()
}

fn counter(ticket: TicketCode, procedure: ProcedureCode, outcome: CounterOutcome) -> AuditEvent {
    let code = (outcome == CounterOutcome::Received)
        .then(|| DossierCode::generate(ward(), day(1), &SystemRandom::new()).unwrap());
    AuditEvent::Counter(CounterRecorded::new(
        ward(),
        PointRef::parse("nha-bang").unwrap(),
        ticket,
        procedure,
        outcome,
        code,
    ))
}

async fn seed(store: &dyn Store) {
    // 18 days, 1 to 18 March, birth registration: 548 dossiers online, and 112 residents
    // referred in person whose dossiers were received at the counter.
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
            append(
                store,
                morning(d) + Duration::hours(2),
                counter(ticket(), birth(), CounterOutcome::Received),
            )
            .await;
        }
    }
    // Not counted: another ward, another procedure, outside the range, a counter-channel
    // submission (the counter event counts it), visits that filed nothing, decisions.
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
    let code = DossierCode::generate(ward(), day(5), &SystemRandom::new()).unwrap();
    let via_counter =
        SubmissionRecorded::new(code, birth(), ward(), Level::Two).via(Channel::Counter);
    append(store, morning(5), AuditEvent::Submission(via_counter)).await;
    append(
        store,
        morning(6),
        counter(ticket(), birth(), CounterOutcome::AttendedNotFiled),
    )
    .await;
    append(
        store,
        morning(6),
        counter(ticket(), birth(), CounterOutcome::NotNeeded),
    )
    .await;
    let decision = crate::policy::decide(
        &crate::policy::Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml"))
            .unwrap()
            .procedures()[0],
        None,
        &crate::policy::Context::new(morning(7)).with_ward(ward()),
    );
    for _ in 0..10 {
        append(
            store,
            morning(7),
            AuditEvent::decision(&decision, Some(ward())),
        )
        .await;
    }
}

async fn book(
    store: &dyn Store,
    start: DateTime<Utc>,
    procedure: ProcedureCode,
    ticket: Option<TicketCode>,
) -> BookingId {
    let request = BookingRequest {
        id: BookingId::generate(&SystemRandom::new()).unwrap(),
        slot: SlotKey {
            ward: ward(),
            point: "trung-tam".into(),
            start,
        },
        capacity: 10,
        procedure,
        ticket,
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
    // Bookings: attended, cancelled, no-show (slot passed), future, another procedure.
    let came = ticket();
    book(&store, morning(5), birth(), Some(came)).await;
    append(
        &store,
        morning(5),
        counter(came, birth(), CounterOutcome::AttendedNotFiled),
    )
    .await;
    let cancelled = book(&store, morning(6), birth(), Some(ticket())).await;
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
    book(&store, morning(8), birth(), Some(ticket())).await;
    book(&store, morning(18) + Duration::hours(3), birth(), None).await;
    book(&store, morning(7), residence(), None).await;

    let now = morning(18);
    let query = StatsQuery::new(ward(), day(1), day(18)).with_procedure(birth());
    let stats = compute(&store, &query, now).await.unwrap();
    assert_eq!(stats.online, 548);
    assert_eq!(stats.in_person, 112);
    assert_eq!(stats.dossiers, 660);
    assert_eq!(stats.online_share_percent(), Some(83));
    assert_eq!(stats.online_share(), Some(0.8303));
    assert_eq!(stats.referrals(), 112);
    assert_eq!(
        stats.referrals_by_reason,
        BTreeMap::from([
            (ReasonCode::NoEid, 61),
            (ReasonCode::LevelBelowRequired, 38),
            (ReasonCode::ProviderUnavailable, 9),
            (ReasonCode::ResidentChoseInPerson, 4),
        ])
    );
    assert_eq!(
        stats.counter,
        BTreeMap::from([
            (CounterOutcome::Received, 112),
            (CounterOutcome::AttendedNotFiled, 2),
            (CounterOutcome::NotNeeded, 1),
        ])
    );
    assert_eq!(
        stats.bookings,
        BookingOutcomes {
            booked: 4,
            cancelled: 1,
            attended: 1,
            no_show: 1,
        }
    );
    assert_eq!(stats.by_day.len(), 18);
    assert_eq!(stats.by_day[0].date, day(1));
    assert_eq!(stats.by_day.iter().map(|d| d.online).sum::<u64>(), 548);
    assert_eq!(stats.by_day.iter().map(|d| d.in_person).sum::<u64>(), 112);
    assert_eq!(stats.by_point["nha-bang"].in_person, 112);
    assert_eq!(stats.by_point["trung-tam"].bookings.booked, 4);
    assert_eq!(stats.by_procedure[&birth()].online, 548);

    // Paging through the trail gives the same figures.
    assert_eq!(compute_paged(&store, &query, now, 7).await.unwrap(), stats);

    // All procedures: the residence dossier and booking count too.
    let all = compute(&store, &StatsQuery::new(ward(), day(1), day(18)), now)
        .await
        .unwrap();
    assert_eq!(all.online, 549);
    assert_eq!(all.bookings.booked, 5);
    assert_eq!(all.bookings.no_show, 2);

    assert_eq!(
        stats.report_sentence(Lang::Vi),
        "Từ 01/03/2026 đến 18/03/2026: 660 hồ sơ, 83 % trực tuyến"
    );
    assert_eq!(
        stats.to_text(Lang::Vi),
        "Từ 01/03/2026 đến 18/03/2026: 660 hồ sơ, 83 % trực tuyến (548 nộp trực tuyến, 112 tiếp nhận trực tiếp).\n\
         Chuyển nộp trực tiếp: 112 lượt, theo lý do:\n\
         - chưa có tài khoản định danh điện tử: 61\n\
         - tài khoản chưa đạt mức độ 2: 38\n\
         - hệ thống VNeID bị gián đoạn: 9\n\
         - người dân chọn nộp trực tiếp: 4\n\
         Lịch hẹn: 4 đã đặt, 1 đã hủy, 1 đã đến, 1 không đến.\n"
    );
    assert!(stats.to_text(Lang::En).starts_with(
        "From 01/03/2026 to 18/03/2026: 660 dossiers, 83 % online (548 filed online, 112 received in person)."
    ));
    let json = stats.to_json();
    assert_eq!(json["ward"], "30316");
    assert_eq!(json["from"], "2026-03-01");
    assert_eq!(json["to"], "2026-03-18");
    assert_eq!(json["dossiers"], 660);
    assert_eq!(json["online"], 548);
    assert_eq!(json["in_person"], 112);
    assert_eq!(json["online_share"], 0.8303);
    assert_eq!(json["online_share_percent"], 83);
    assert_eq!(json["referrals_by_reason"]["no_eid"], 61);
    assert_eq!(
        json["bookings"],
        serde_json::json!({"booked": 4, "cancelled": 1, "attended": 1, "no_show": 1})
    );
    assert_eq!(json["by_day"][0]["date"], "2026-03-01");

    let csv = stats.to_csv();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "date,ward,procedure,dossiers,online,in_person,online_share,referrals,\
         referrals_no_eid,referrals_level_below_required,referrals_provider_unavailable,\
         referrals_resident_chose_in_person,bookings_booked,bookings_cancelled,\
         bookings_attended,bookings_no_show"
    );
    assert_eq!(
        lines.len(),
        1 + 18 + 1 + 1,
        "header, 18 days, total, final CRLF"
    );
    assert_eq!(
        lines[19],
        "total,30316,1.001193,660,548,112,0.8303,112,61,38,9,4,4,1,1,1"
    );
    assert!(
        lines[1].starts_with("2026-03-01,30316,1.001193,"),
        "{}",
        lines[1]
    );
    let day_sum: u64 = lines[1..19]
        .iter()
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(day_sum, 660, "the day rows add up to the total");
}

#[tokio::test]
async fn a_scripted_month_says_five_dossiers_sixty_percent_online() {
    let store = MemoryStore::new();
    // 3 online submissions.
    for d in [2, 9, 16] {
        append(&store, morning(d), submission(ward(), birth(), d)).await;
    }
    // 2 referrals whose dossiers the counter received.
    for (d, reason) in [(3, ReasonCode::NoEid), (10, ReasonCode::LevelBelowRequired)] {
        let t = ticket();
        append(
            &store,
            morning(d),
            AuditEvent::Referral(ReferralRecorded::new(birth(), reason, ward())),
        )
        .await;
        append(
            &store,
            morning(d + 1),
            counter(t, birth(), CounterOutcome::Received),
        )
        .await;
    }
    // 1 referral with a booking that becomes a no-show.
    let t = ticket();
    append(
        &store,
        morning(12),
        AuditEvent::Referral(ReferralRecorded::new(birth(), ReasonCode::NoEid, ward())),
    )
    .await;
    book(&store, morning(13), birth(), Some(t)).await;
    // 10 decision API calls: decisions are not dossiers.
    let decision = crate::policy::decide(
        &crate::policy::Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml"))
            .unwrap()
            .procedures()[0],
        None,
        &crate::policy::Context::new(morning(14)).with_ward(ward()),
    );
    for _ in 0..10 {
        append(
            &store,
            morning(14),
            AuditEvent::decision(&decision, Some(ward())),
        )
        .await;
    }

    let stats = compute(
        &store,
        &StatsQuery::new(ward(), day(1), day(31)),
        morning(31),
    )
    .await
    .unwrap();
    assert_eq!(stats.dossiers, 5);
    assert_eq!(stats.online, 3);
    assert_eq!(stats.in_person, 2);
    assert_eq!(stats.online_share_percent(), Some(60));
    assert_eq!(stats.online_share(), Some(0.6));
    assert_eq!(
        stats.referrals_by_reason,
        BTreeMap::from([(ReasonCode::NoEid, 2), (ReasonCode::LevelBelowRequired, 1)])
    );
    assert_eq!(
        stats.bookings,
        BookingOutcomes {
            booked: 1,
            cancelled: 0,
            attended: 0,
            no_show: 1,
        }
    );
    assert_eq!(
        stats.report_sentence(Lang::Vi),
        "Từ 01/03/2026 đến 31/03/2026: 5 hồ sơ, 60 % trực tuyến"
    );
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
    assert_eq!(stats.dossiers, 0);
    assert_eq!(stats.online_share_percent(), None);
    assert_eq!(stats.online_share(), None);
    assert_eq!(stats.to_json()["online_share"], serde_json::Value::Null);
    assert!(stats.to_text(Lang::Vi).contains("0 hồ sơ, – trực tuyến"));
    assert!(
        stats
            .to_csv()
            .contains("\r\ntotal,30316,,0,0,0,,0,0,0,0,0\r\n")
    );

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

#[tokio::test]
async fn the_share_rounds_half_up() {
    let store = MemoryStore::new();
    // 5 online and 3 in person: 62.5 % → 63 %.
    for d in 1..=5 {
        append(&store, morning(d), submission(ward(), birth(), d)).await;
    }
    for d in 1..=3 {
        append(
            &store,
            morning(d),
            counter(ticket(), birth(), CounterOutcome::Received),
        )
        .await;
    }
    let stats = compute(&store, &StatsQuery::new(ward(), day(1), day(5)), morning(6))
        .await
        .unwrap();
    assert_eq!(stats.online_share_percent(), Some(63));
    assert_eq!(stats.online_share(), Some(0.625));
    for reason in ReasonCode::ALL {
        assert!(!reason_label(*reason, Lang::Vi).is_empty());
        assert!(!reason_label(*reason, Lang::En).is_empty());
    }
}
