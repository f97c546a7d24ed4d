use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone as _, Utc};
use pretty_assertions::assert_eq;
use proptest::prelude::*;

use super::*;
use crate::clock::{Random, RandomError};
use crate::keys::SigningKey;
use crate::policy::{Catalog, ConfigProblem, Context, Decision, LoginFailure, ReasonCode, decide};
use crate::store::{Draft, MemoryStore, Store};

/// A deterministic generator (xorshift), for reproducible codes and ids.
#[derive(Debug)]
struct TestRandom(AtomicU64);

impl TestRandom {
    fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed.max(1)))
    }
}

impl Random for TestRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            let mut x = self.0.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.store(x, Ordering::Relaxed);
            *b = (x >> 24) as u8;
        }
        Ok(())
    }
}

fn manifest(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn directory() -> &'static Directory {
    static DIRECTORY: OnceLock<Directory> = OnceLock::new();
    DIRECTORY.get_or_init(|| Directory::load(manifest("samples/wards.toml")).unwrap())
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(manifest("samples/catalog.toml")).unwrap())
}

fn thoi_son() -> &'static Ward {
    directory().ward(WardCode::parse("30316").unwrap()).unwrap()
}

fn my_hiep() -> &'static Ward {
    directory().ward(WardCode::parse("29950").unwrap()).unwrap()
}

/// A Vietnam local time as UTC.
fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    vietnam()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn local_fixed(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<FixedOffset> {
    vietnam().with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

// ---- directory ----

#[test]
fn sample_directory_has_both_wards_marked_sample() {
    let dir = directory();
    assert!(dir.is_sample());
    assert_eq!(dir.wards().len(), 2);
    let ts = thoi_son();
    assert_eq!(ts.name_vi, "Phường Thới Sơn");
    assert!(ts.sample);
    assert_eq!(ts.point.len(), 3);
    assert_eq!(ts.default_point().unwrap().kind, PointKind::Centre);
    assert_eq!(
        ts.point("nhon-hung").unwrap().kind,
        PointKind::ReceptionPoint
    );
    assert!(
        ts.holidays()
            .contains(&NaiveDate::from_ymd_opt(2026, 2, 17).unwrap())
    );
    assert_eq!(my_hiep().province_vi, "Tỉnh Đồng Tháp");
    assert!(!my_hiep().help_desk.is_empty());
}

#[test]
fn ward_code_is_exactly_five_digits() {
    assert_eq!(WardCode::parse("30316").unwrap().as_str(), "30316");
    assert_eq!(WardCode::parse("00001").unwrap().to_string(), "00001");
    for bad in ["3031", "303160", "3031A", "", "３０３１６"] {
        assert!(WardCode::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn next_open_is_now_when_open() {
    let ts = thoi_son();
    let centre = ts.default_point().unwrap();
    let now = local(2026, 3, 2, 9, 0);
    assert!(centre.hours.is_open(ts.holidays(), now));
    assert_eq!(
        ts.next_open(&centre.hours, now),
        Some(local_fixed(2026, 3, 2, 9, 0))
    );
}

#[test]
fn next_open_skips_lunch_evenings_weekends_and_holidays() {
    let ts = thoi_son();
    let centre = &ts.default_point().unwrap().hours;
    // Lunch break.
    assert_eq!(
        ts.next_open(centre, local(2026, 3, 2, 11, 30)),
        Some(local_fixed(2026, 3, 2, 13, 0))
    );
    // Friday evening: Thới Sơn's centre opens Saturday morning.
    assert_eq!(
        ts.next_open(centre, local(2026, 3, 6, 17, 30)),
        Some(local_fixed(2026, 3, 7, 7, 0))
    );
    // Mỹ Hiệp has no Saturday: Monday.
    let mh = my_hiep();
    let mh_centre = &mh.default_point().unwrap().hours;
    assert_eq!(
        mh.next_open(mh_centre, local(2026, 3, 6, 18, 0)),
        Some(local_fixed(2026, 3, 9, 7, 0))
    );
    // Tết: closed Monday 16 to Friday 20 February 2026.
    assert!(!centre.is_open(ts.holidays(), local(2026, 2, 17, 9, 0)));
    assert_eq!(
        ts.next_open(centre, local(2026, 2, 15, 20, 0)),
        Some(local_fixed(2026, 2, 21, 7, 0))
    );
    assert_eq!(
        mh.next_open(mh_centre, local(2026, 2, 15, 20, 0)),
        Some(local_fixed(2026, 2, 23, 7, 0))
    );
    // Never open: none.
    assert_eq!(
        WeeklyHours::default().next_open(ts.holidays(), local(2026, 3, 2, 9, 0)),
        None
    );
}

fn broken(name: &str) -> DirectoryError {
    Directory::load(manifest(&format!("tests/data/wards/{name}.toml"))).unwrap_err()
}

fn invalid(error: DirectoryError) -> (Option<String>, String, ConfigProblem) {
    match error {
        DirectoryError::Invalid {
            ward,
            field,
            problem,
            ..
        } => (ward, field, problem),
        other => panic!("expected invalid, got {other:?}"),
    }
}

fn syntax(error: DirectoryError) -> (usize, Option<String>, Option<String>, String) {
    match error {
        DirectoryError::Syntax {
            line,
            ward,
            field,
            message,
            ..
        } => (line, ward, field, message),
        other => panic!("expected syntax, got {other:?}"),
    }
}

#[test]
fn broken_directory_syntax_errors_name_ward_field_and_line() {
    let (line, _, field, message) = syntax(broken("bad_code"));
    assert_eq!((line, field.as_deref()), (3, Some("code")));
    assert!(message.contains("invalid ward code `3031`"), "{message}");
    let (_, _, _, message) = syntax(broken("letters_in_code"));
    assert!(message.contains("invalid ward code `3031A`"), "{message}");

    let error = broken("unknown_field");
    let text = error.to_string();
    let (line, ward, field, message) = syntax(error);
    assert_eq!(
        (line, ward.as_deref(), field.as_deref()),
        (20, Some("30316"), Some("email"))
    );
    assert!(message.contains("unknown field `email`"), "{message}");
    assert!(
        text.contains("unknown_field.toml`:20:1: ward `30316`: field `email`"),
        "{text}"
    );

    let (line, ward, field, message) = syntax(broken("bad_interval"));
    assert_eq!(
        (line, ward.as_deref(), field.as_deref()),
        (21, Some("30316"), Some("mon"))
    );
    assert!(
        message.contains("invalid opening interval `11:00-07:00`"),
        "{message}"
    );
}

#[test]
fn broken_directory_invalid_values() {
    let ward = Some("30316".to_owned());
    assert_eq!(
        invalid(broken("lat_out_of_range")),
        (
            ward.clone(),
            "point[0].lat".into(),
            ConfigProblem::CoordinateOutOfRange { min: -90, max: 90 }
        )
    );
    assert_eq!(
        invalid(broken("overlapping_hours")),
        (
            ward.clone(),
            "point[0].hours.mon".into(),
            ConfigProblem::BadFormat {
                expected: "intervals in order, not overlapping"
            }
        )
    );
    assert_eq!(
        invalid(broken("no_centre")),
        (
            ward.clone(),
            "point".into(),
            ConfigProblem::BadFormat {
                expected: "exactly one point with kind = \"centre\""
            }
        )
    );
    assert_eq!(
        invalid(broken("unknown_default_point")),
        (
            ward.clone(),
            "default_point".into(),
            ConfigProblem::UnknownReference {
                id: "nhon-hung".into()
            }
        )
    );
    assert_eq!(
        invalid(broken("duplicate_ward")),
        (ward, "code".into(), ConfigProblem::Duplicate)
    );
    let (_, field, _) = invalid(broken("bad_ticket_prefix"));
    assert_eq!(field, "ticket_prefix");
    let text = broken("no_centre").to_string();
    assert!(
        text.contains("no_centre.toml`: ward `30316`: field `point`: expected exactly one"),
        "{text}"
    );
}

// ---- referral ----

fn in_person_route(failure: LoginFailure, point: Option<&str>) -> crate::policy::InPersonRoute {
    let procedure = catalog().procedure("1.001193").unwrap();
    let mut ctx = Context::new(local(2026, 3, 2, 9, 0))
        .with_ward(thoi_son().code)
        .with_last_login(Some(failure));
    if let Some(point) = point {
        ctx = ctx.with_reception_point(point);
    }
    match decide(procedure, None, &ctx) {
        Decision::InPerson(route) => route,
        other => panic!("{other:?}"),
    }
}

#[test]
fn referral_names_place_hours_documents_reason_level2_and_help() {
    let procedure = catalog().procedure("1.001193").unwrap();
    let now = local(2026, 3, 2, 9, 0);
    let referral = Referral::build(
        directory(),
        procedure,
        &in_person_route(LoginFailure::NoEid, None),
        now,
    )
    .unwrap();
    assert_eq!(referral.reason, ReasonCode::NoEid);
    assert!(referral.reason_text.vi.contains("mức độ 2"));
    assert!(referral.can_retry_sign_in);
    assert!(referral.retry_text.is_some());
    assert_eq!(referral.point.id, "trung-tam");
    assert!(referral.point.open_now);
    assert_eq!(
        referral.point.next_open,
        Some(local_fixed(2026, 3, 2, 9, 0))
    );
    assert_eq!(referral.point.hours.len(), 7);
    assert_eq!(referral.point.hours[0].day.vi, "Thứ Hai");
    assert_eq!(
        referral.point.hours[0].intervals,
        vec!["07:00-11:00", "13:00-17:00"]
    );
    assert_eq!(referral.point.hours[6].intervals, Vec::<String>::new());
    let others: Vec<&str> = referral
        .other_points
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(others, ["nha-bang", "nhon-hung"]);
    assert_eq!(referral.procedure.counter, crate::policy::Counter::Centre);
    assert!(referral.procedure.legal_basis.vi.contains("07/2025/NĐ-CP"));
    assert_eq!(referral.procedure.documents.len(), 3);
    assert!(referral.procedure.assisted_submission.is_some());
    assert_eq!(referral.level2.police_name.vi, "Công an phường Thới Sơn");
    assert_eq!(referral.level2.working_days, 3);
    assert_eq!(referral.level2.bring.len(), 2);
    assert_eq!(referral.help.len(), 1);
    assert!(referral.help_text.vi.contains("Tổ công nghệ số cộng đồng"));
    assert!(referral.ward.sample);

    let json = serde_json::to_value(&referral).unwrap();
    assert_eq!(json["reason"], "no_eid");
    assert_eq!(json["ward"]["code"], "30316");
    assert_eq!(json["point"]["next_open"], "2026-03-02T09:00:00+07:00");
}

#[test]
fn referral_uses_the_chosen_point_or_falls_back_to_the_default() {
    let procedure = catalog().procedure("1.001193").unwrap();
    let now = local(2026, 3, 3, 9, 0);
    let chosen = Referral::build(
        directory(),
        procedure,
        &in_person_route(LoginFailure::Cancelled, Some("nhon-hung")),
        now,
    )
    .unwrap();
    assert_eq!(chosen.point.id, "nhon-hung");
    // Nhơn Hưng is closed on Tuesdays; next open Wednesday 07:00.
    assert!(!chosen.point.open_now);
    assert_eq!(chosen.point.next_open, Some(local_fixed(2026, 3, 4, 7, 0)));
    let unknown = Referral::build(
        directory(),
        procedure,
        &in_person_route(LoginFailure::Cancelled, Some("no-such")),
        now,
    )
    .unwrap();
    assert_eq!(unknown.point.id, "trung-tam");
}

#[test]
fn referral_errors_when_ward_missing_unknown_or_procedure_mismatched() {
    let procedure = catalog().procedure("1.001193").unwrap();
    let other = catalog().procedure("1.000656").unwrap();
    let now = local(2026, 3, 2, 9, 0);
    let mut route = in_person_route(LoginFailure::NoEid, None);
    assert_eq!(
        Referral::build(directory(), other, &route, now).unwrap_err(),
        ReferralError::WrongProcedure
    );
    route.ward = None;
    assert_eq!(
        Referral::build(directory(), procedure, &route, now).unwrap_err(),
        ReferralError::NoWard
    );
    let unknown = WardCode::parse("00001").unwrap();
    route.ward = Some(unknown);
    assert_eq!(
        Referral::build(directory(), procedure, &route, now).unwrap_err(),
        ReferralError::UnknownWard { ward: unknown }
    );
}

// ---- slots and booking ----

#[test]
fn slots_come_from_opening_hours() {
    let ts = thoi_son();
    let centre = ts.default_point().unwrap();
    let monday = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let slots = slots_on(ts, centre, monday);
    assert_eq!(slots.len(), 16);
    assert_eq!(slots[0].start, local_fixed(2026, 3, 2, 7, 0));
    assert_eq!(slots[7].end, local_fixed(2026, 3, 2, 11, 0));
    assert_eq!(slots[8].start, local_fixed(2026, 3, 2, 13, 0));
    assert!(slots.iter().all(|s| s.capacity == 3));
    let tet = NaiveDate::from_ymd_opt(2026, 2, 17).unwrap();
    assert!(slots_on(ts, centre, tet).is_empty());
    let nhon_hung = ts.point("nhon-hung").unwrap();
    let friday = NaiveDate::from_ymd_opt(2026, 3, 6).unwrap();
    // 13:00-16:30 holds seven whole 30-minute slots.
    assert_eq!(slots_on(ts, nhon_hung, friday).len(), 8 + 7);
    let tuesday = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    assert!(slots_on(ts, nhon_hung, tuesday).is_empty());
}

#[tokio::test]
async fn booking_checks_point_slot_time_and_capacity() {
    let store = MemoryStore::new();
    let random = TestRandom::new(7);
    let ts = thoi_son();
    let code = catalog().procedure("1.001193").unwrap().code();
    let now = local(2026, 3, 2, 9, 0);
    let start = local(2026, 3, 3, 7, 30);
    for _ in 0..3 {
        book(&store, ts, "trung-tam", start, code, None, now, &random)
            .await
            .unwrap();
    }
    let full = book(&store, ts, "trung-tam", start, code, None, now, &random).await;
    assert!(
        matches!(full, Err(BookingError::Full { capacity: 3 })),
        "{full:?}"
    );
    let odd = book(
        &store,
        ts,
        "trung-tam",
        local(2026, 3, 3, 7, 10),
        code,
        None,
        now,
        &random,
    )
    .await;
    assert!(matches!(odd, Err(BookingError::NotASlot)), "{odd:?}");
    let past = book(
        &store,
        ts,
        "trung-tam",
        local(2026, 3, 2, 8, 0),
        code,
        None,
        now,
        &random,
    )
    .await;
    assert!(matches!(past, Err(BookingError::InThePast)), "{past:?}");
    let nowhere = book(&store, ts, "nowhere", start, code, None, now, &random).await;
    assert!(matches!(nowhere, Err(BookingError::UnknownPoint { point }) if point == "nowhere"));

    let tuesday = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    let centre = ts.default_point().unwrap();
    let free = available_slots(&store, ts, centre, tuesday, now)
        .await
        .unwrap();
    assert_eq!(free.len(), 16);
    assert_eq!((free[1].taken, free[1].free), (3, 0));
    assert_eq!((free[0].taken, free[0].free), (0, 3));
    // Slots already started are not offered.
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let left_today = available_slots(&store, ts, centre, today, now)
        .await
        .unwrap();
    assert_eq!(left_today[0].slot.start, local_fixed(2026, 3, 2, 9, 30));

    let staff = store
        .bookings_on(ts.code, Some("trung-tam"), tuesday)
        .await
        .unwrap();
    assert_eq!(staff.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_residents_never_overbook_the_last_seat() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let code = catalog().procedure("1.001193").unwrap().code();
    let now = local(2026, 3, 2, 9, 0);
    // Nhơn Hưng: one seat per slot.
    let start = local(2026, 3, 4, 8, 0);
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for seed in 0..100u64 {
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let random = TestRandom::new(seed + 1);
            barrier.wait().await;
            book(
                store.as_ref(),
                thoi_son(),
                "nhon-hung",
                start,
                code,
                None,
                now,
                &random,
            )
            .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(BookingError::Full { capacity: 1 }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_suite() {
    crate::store::conformance::run_all(|| Arc::new(MemoryStore::new()) as Arc<dyn Store>)
        .await
        .unwrap();
}

// ---- tickets ----

#[test]
fn ticket_codes_look_right_and_parse_tolerantly() {
    let random = TestRandom::new(42);
    let code = TicketCode::generate("TS", &random).unwrap();
    let text = code.to_string();
    assert_eq!(text.len(), 14);
    assert!(text.starts_with("TS-"));
    assert_eq!(&text[8..9], "-");
    assert_eq!(code.prefix(), "TS");
    assert_eq!(TicketCode::parse(&text).unwrap(), code);
    let sloppy: String = text.to_lowercase().replace('-', " ");
    assert_eq!(TicketCode::parse(&format!("  {sloppy} ")).unwrap(), code);
    assert_eq!(TicketCode::parse(&text.replace('-', "")).unwrap(), code);
    assert_eq!(TicketCode::parse("TS-1234"), Err(TicketError::BadCode));
    assert_eq!(
        TicketCode::generate("TW", &random),
        Err(TicketError::BadPrefix)
    );
    assert_eq!(
        TicketCode::generate("T", &random),
        Err(TicketError::BadPrefix)
    );
}

#[test]
fn confusable_letters_read_as_digits() {
    // Build a code containing 0, 1 and V and type it with O, I/L and U.
    let random = TestRandom::new(3);
    for _ in 0..200 {
        let code = TicketCode::generate("MH", &random).unwrap();
        let text = code.to_string();
        if text.contains('0') || text.contains('1') || text.contains('V') {
            let typed = text.replace('0', "O").replace('1', "l").replace('V', "u");
            assert_eq!(TicketCode::parse(&typed).unwrap(), code, "{typed}");
            return;
        }
    }
    panic!("no code with a confusable symbol in 200 tries");
}

fn symbols(code: &TicketCode) -> Vec<char> {
    code.to_string().chars().filter(|c| *c != '-').collect()
}

#[test]
fn check_symbol_catches_every_single_typo_and_adjacent_swap() {
    let random = TestRandom::new(99);
    for _ in 0..50 {
        let code = TicketCode::generate("TS", &random).unwrap();
        let good = symbols(&code);
        for i in 0..good.len() {
            for c in ALPHABET.chars().filter(|c| *c != good[i]) {
                let mut typo = good.clone();
                typo[i] = c;
                let typed: String = typo.iter().collect();
                assert_eq!(
                    TicketCode::parse(&typed),
                    Err(TicketError::BadCode),
                    "{typed}"
                );
            }
            if i + 1 < good.len() && good[i] != good[i + 1] {
                let mut swapped = good.clone();
                swapped.swap(i, i + 1);
                let typed: String = swapped.iter().collect();
                assert_eq!(
                    TicketCode::parse(&typed),
                    Err(TicketError::BadCode),
                    "{typed}"
                );
            }
        }
    }
}

proptest! {
    #[test]
    fn generated_codes_round_trip(seed in 1u64..u64::MAX) {
        let code = TicketCode::generate("TS", &TestRandom::new(seed)).unwrap();
        prop_assert_eq!(TicketCode::parse(&code.to_string()).unwrap(), code);
        prop_assert!(code.to_string().chars().all(|c| c == '-' || ALPHABET.contains(c)));
    }
}

fn issue(now: DateTime<Utc>) -> (Arc<SigningKey>, SignedTicket, Referral) {
    let random = TestRandom::new(11);
    let key = Arc::new(SigningKey::generate(&random).unwrap().0);
    let procedure = catalog().procedure("1.001193").unwrap();
    let referral = Referral::build(
        directory(),
        procedure,
        &in_person_route(LoginFailure::NoEid, None),
        now,
    )
    .unwrap();
    let draft = crate::store::DraftId::from_stored("draft-1");
    let signed = TicketIssuer::new(Arc::clone(&key))
        .issue(&referral, Some(draft), now, &random)
        .unwrap();
    (key, signed, referral)
}

#[test]
fn signed_ticket_verifies_offline_and_expires_after_fourteen_days() {
    let now = local(2026, 3, 2, 9, 0);
    let (key, signed, _) = issue(now);
    let ticket = &signed.ticket;
    assert_eq!(ticket.procedure.as_str(), "1.001193");
    assert_eq!(ticket.ward.as_str(), "30316");
    assert_eq!(ticket.reception_point, "trung-tam");
    assert_eq!(ticket.reason, ReasonCode::NoEid);
    assert_eq!(ticket.draft.as_ref().unwrap().as_str(), "draft-1");
    assert_eq!(ticket.expires_at, now + Duration::days(14));
    assert_eq!(ticket.code.prefix(), "TS");

    let verifier = TicketVerifier::from_jwks(&key.jwks()).unwrap();
    assert_eq!(
        &verifier
            .verify(&signed.jws, now + Duration::days(13))
            .unwrap(),
        ticket
    );
    assert_eq!(
        verifier.verify(&signed.jws, now + Duration::days(14)),
        Err(TicketError::Expired {
            expired_at: ticket.expires_at
        })
    );
    let other = SigningKey::generate(&TestRandom::new(5)).unwrap().0;
    let stranger = TicketVerifier::new(vec![other.verifying_key()]);
    assert_eq!(
        stranger.verify(&signed.jws, now),
        Err(TicketError::Jws(crate::keys::JwsError::UnknownKey))
    );
    let mut tampered = signed.jws.clone();
    tampered.pop();
    tampered.push(if signed.jws.ends_with('A') { 'B' } else { 'A' });
    assert!(matches!(
        verifier.verify(&tampered, now),
        Err(TicketError::Jws(_))
    ));
}

#[test]
fn ticket_validity_is_configurable_and_qr_is_svg() {
    let now = local(2026, 3, 2, 9, 0);
    let (key, signed, referral) = issue(now);
    let short = TicketIssuer::new(key)
        .validity(Duration::days(3))
        .issue(&referral, None, now, &TestRandom::new(8))
        .unwrap();
    assert_eq!(short.ticket.expires_at, now + Duration::days(3));
    assert_eq!(short.ticket.draft, None);
    let svg = signed.qr_svg().unwrap();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..40]);
    assert!(svg.contains("<svg"));
}

#[test]
fn the_qr_link_opens_the_staff_ticket_page_and_carries_the_signed_ticket() {
    let now = local(2026, 3, 2, 9, 0);
    let (_, signed, _) = issue(now);
    let base = url::Url::parse("https://dichvucong.example.vn/").unwrap();
    let link = signed.staff_link(&base);
    let code = signed.ticket.code.to_string();
    assert_eq!(
        link,
        format!(
            "https://dichvucong.example.vn/staff/tickets?code={code}#{}",
            signed.jws
        )
    );
    // The code typed from the link parses back to the same ticket.
    let parsed = url::Url::parse(&link).unwrap();
    let (_, typed) = parsed.query_pairs().find(|(k, _)| k == "code").unwrap();
    assert_eq!(TicketCode::parse(&typed).unwrap(), signed.ticket.code);
    let svg = signed.staff_link_qr_svg(&base).unwrap();
    assert!(svg.contains("<svg"));
    assert_ne!(
        svg,
        signed.qr_svg().unwrap(),
        "the QR holds the link, not the bare JWS"
    );
}

#[test]
fn draft_debug_hides_the_dossier() {
    let draft = Draft::new(
        catalog().procedure("1.001193").unwrap().code(),
        None,
        serde_json::json!({"mother_citizen_id": "089190000001", "child_name": "Nguyễn Thị Mai"}),
        local(2026, 3, 2, 9, 0),
        Duration::days(1),
        &TestRandom::new(1),
    )
    .unwrap();
    let debug = format!("{draft:?}");
    assert!(debug.contains("data: \"[redacted]\""), "{debug}");
    assert!(!debug.contains("089190000001"));
    assert!(!debug.contains("Nguyễn"));
}

// ---- where a procedure is filed (issue: the resident's journey) ----

fn residence_route(procedure: &crate::policy::Procedure) -> crate::policy::InPersonRoute {
    let ctx = Context::new(local(2026, 3, 2, 9, 0))
        .with_ward(thoi_son().code)
        .with_last_login(Some(LoginFailure::NoEid))
        .with_reception_point("nha-bang");
    match decide(procedure, None, &ctx) {
        Decision::InPerson(route) => route,
        other => panic!("{other:?}"),
    }
}

#[test]
fn residence_procedures_are_referred_to_the_commune_police() {
    for code in ["1.004222", "1.004194"] {
        let procedure = catalog().procedure(code).unwrap();
        let now = local(2026, 3, 2, 9, 0);
        let referral =
            Referral::build(directory(), procedure, &residence_route(procedure), now).unwrap();
        assert_eq!(
            referral.procedure.counter,
            crate::policy::Counter::Police,
            "{code}"
        );
        // The chosen reception point does not take residence dossiers: the police post does.
        assert_eq!(referral.point.id, POLICE_POINT_ID, "{code}");
        assert_eq!(referral.point.kind, PointKind::Police, "{code}");
        assert_eq!(referral.point.name.vi, "Công an phường Thới Sơn", "{code}");
        assert_eq!(referral.point.phone, thoi_son().police.phone, "{code}");
        assert!(
            !referral.point.booking,
            "{code}: police slots are not booked here"
        );
        assert!(referral.other_points.is_empty(), "{code}");
        assert!(
            referral
                .procedure
                .authority
                .vi
                .starts_with("Công an cấp xã"),
            "{code}"
        );
        let elsewhere = referral.procedure.online_elsewhere.as_ref().unwrap();
        assert!(elsewhere.vi.contains("VNeID"), "{code}");
    }
}

#[test]
fn a_ward_may_receive_residence_at_a_police_desk_in_its_centre() {
    let text = std::fs::read_to_string(manifest("samples/wards.toml"))
        .unwrap()
        .replacen(
            "[ward.police]\nname_vi = \"Công an phường Thới Sơn\"",
            "[ward.police]\ndesk_at = \"trung-tam\"\nname_vi = \"Công an phường Thới Sơn\"",
            1,
        );
    let directory = Directory::from_toml(&text, "wards.toml").unwrap();
    let procedure = catalog().procedure("1.004222").unwrap();
    let referral = Referral::build(
        &directory,
        procedure,
        &residence_route(procedure),
        local(2026, 3, 2, 9, 0),
    )
    .unwrap();
    assert_eq!(referral.point.id, "trung-tam");
    assert_eq!(referral.point.kind, PointKind::Centre);
    assert!(referral.other_points.is_empty());
}

#[test]
fn a_police_desk_must_name_a_service_point() {
    let text = std::fs::read_to_string(manifest("samples/wards.toml"))
        .unwrap()
        .replacen(
            "[ward.police]\nname_vi = \"Công an phường Thới Sơn\"",
            "[ward.police]\ndesk_at = \"khong-co\"\nname_vi = \"Công an phường Thới Sơn\"",
            1,
        );
    let (ward, field, problem) = invalid(Directory::from_toml(&text, "wards.toml").unwrap_err());
    assert_eq!(ward.as_deref(), Some("30316"));
    assert_eq!(field, "police.desk_at");
    assert_eq!(
        problem,
        ConfigProblem::UnknownReference {
            id: "khong-co".into()
        }
    );
}

#[test]
fn a_service_point_cannot_pose_as_the_police_post() {
    let sample = std::fs::read_to_string(manifest("samples/wards.toml")).unwrap();
    let as_kind = sample.replacen("kind = \"reception_point\"", "kind = \"police\"", 1);
    let (_, field, _) = invalid(Directory::from_toml(&as_kind, "wards.toml").unwrap_err());
    assert_eq!(field, "point[1].kind");
    let as_id = sample.replacen("id = \"nha-bang\"", "id = \"cong-an\"", 1);
    let (_, field, _) = invalid(Directory::from_toml(&as_id, "wards.toml").unwrap_err());
    assert_eq!(field, "point[1].id");
}

#[test]
fn thoi_son_receives_at_the_offices_of_the_three_former_wards() {
    let ward = thoi_son();
    assert_eq!(ward.name_vi, "Phường Thới Sơn");
    // A Phường Thới Sơn also exists in Đồng Tháp: the province always goes with the name.
    assert_eq!(ward.province_vi, "Tỉnh An Giang");
    let points: Vec<(&str, PointKind)> =
        ward.point.iter().map(|p| (p.id.as_str(), p.kind)).collect();
    assert_eq!(
        points,
        [
            ("trung-tam", PointKind::Centre),
            ("nha-bang", PointKind::ReceptionPoint),
            ("nhon-hung", PointKind::ReceptionPoint),
        ]
    );
    for point in &ward.point {
        // All three were wards (phường), never communes.
        assert!(!point.name_vi.contains(" xã "), "{}", point.name_vi);
        assert!(!point.address.contains(" xã "), "{}", point.address);
    }
    assert!(
        ward.point("nha-bang")
            .unwrap()
            .name_vi
            .contains("phường Nhà Bàng cũ")
    );
    assert!(
        ward.point("nhon-hung")
            .unwrap()
            .name_vi
            .contains("phường Nhơn Hưng cũ")
    );
    assert!(ward.sample, "the ward code 30316 is unconfirmed");
}

// ---- calendar ----

fn holidays() -> &'static std::collections::BTreeSet<NaiveDate> {
    thoi_son().holidays()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn same_day_procedures_end_the_day_they_are_received_before_three_pm() {
    // Monday 2 March 2026.
    let at = |h, min| calendar::expected_result_date(local(2026, 3, 2, h, min), 0, holidays());
    assert_eq!(at(9, 0), Some(day(2026, 3, 2)));
    assert_eq!(at(14, 59), Some(day(2026, 3, 2)));
    assert_eq!(at(15, 0), Some(day(2026, 3, 3)));
    // Friday after 15:00 and the weekend count from Monday.
    let friday = calendar::expected_result_date(local(2026, 3, 6, 16, 0), 0, holidays());
    assert_eq!(friday, Some(day(2026, 3, 9)));
    let sunday = calendar::expected_result_date(local(2026, 3, 8, 10, 0), 0, holidays());
    assert_eq!(sunday, Some(day(2026, 3, 9)));
}

#[test]
fn working_days_skip_weekends_and_public_holidays() {
    // Wednesday 29 April 2026, 09:00: 30 April and 1 May are holidays, 2-3 May a weekend.
    let submitted = local(2026, 4, 29, 9, 0);
    assert_eq!(
        thoi_son().expected_result_date(submitted, 3),
        Some(day(2026, 5, 6))
    );
    assert_eq!(
        calendar::reception_day(local(2026, 4, 30, 9, 0), holidays()),
        Some(day(2026, 5, 4))
    );
    // Tết 2026: 16-20 February closed; a 3-day dossier on Friday 13 February, 10:00.
    assert_eq!(
        calendar::expected_result_date(local(2026, 2, 13, 10, 0), 3, holidays()),
        Some(day(2026, 2, 25))
    );
    // Seven working days from Monday 2 March: Wednesday 11 March.
    assert_eq!(
        calendar::expected_result_date(local(2026, 3, 2, 8, 0), 7, holidays()),
        Some(day(2026, 3, 11))
    );
}

proptest! {
    #[test]
    fn the_expected_date_is_a_working_day_after_the_submission(
        minutes in 0i64..(2 * 366 * 24 * 60),
        working_days in 0u32..30,
    ) {
        let submitted = local(2026, 1, 1, 0, 0) + Duration::minutes(minutes);
        let expected = calendar::expected_result_date(submitted, working_days, holidays()).unwrap();
        prop_assert!(calendar::is_working_day(expected, holidays()));
        let local_day = submitted.with_timezone(&vietnam()).date_naive();
        prop_assert!(expected >= local_day);
        let between = local_day
            .iter_days()
            .take_while(|d| *d <= expected)
            .filter(|d| calendar::is_working_day(*d, holidays()))
            .count();
        // The day of reception itself plus `working_days` more, never fewer.
        prop_assert!(between as u32 > working_days);
    }
}
