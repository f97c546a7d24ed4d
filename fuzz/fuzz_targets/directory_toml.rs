//! Directory parsing: the wards, their service points, opening hours and holidays, a TOML file
//! the operator writes.
//!
//! A directory that loads must be usable: every ward is found by its code, its default point
//! exists, and opening-hour computations answer (a next opening, when there is one, is never in
//! the past and falls within the point's hours).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate::fallback::Directory;
use wardgate_fuzz::now;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(directory) = Directory::from_toml(text, "fuzz/wards.toml") else {
        return;
    };
    let now = now();
    for ward in directory.wards() {
        assert!(directory.ward(ward.code).is_some());
        assert!(
            ward.default_point().is_some(),
            "a ward without a default point"
        );
        let _ = ward.name();
        for point in &ward.point {
            assert!(ward.point(&point.id).is_some());
            if let Some(open) = ward.next_open(&point.hours, now) {
                let open = open.with_timezone(&chrono::Utc);
                assert!(open >= now, "the next opening is in the past");
                assert!(point.hours.is_open(ward.holidays(), open));
            }
        }
    }
});
