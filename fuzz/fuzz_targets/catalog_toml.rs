//! Catalog parsing: the ward's procedure catalog, a TOML file the operator writes.
//!
//! A catalog that loads must be usable: every procedure's example dossier passes its own
//! form, a procedure is found by its code, and the decision for it can be taken.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate::policy::Catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(catalog) = Catalog::from_toml(text, "fuzz/catalog.toml") else {
        return;
    };
    for procedure in catalog.procedures() {
        let code = procedure.code();
        assert!(catalog.procedure(code.as_str()).is_some());
        let example = procedure.example();
        assert!(
            procedure.validate_dossier(&example).is_ok(),
            "the example of {} fails its own form",
            code.as_str()
        );
        // An empty dossier fails exactly when some field is required.
        let required = procedure.fields().iter().any(|field| field.required);
        assert_eq!(
            procedure.validate_dossier(&serde_json::json!({})).is_err(),
            required
        );
        let _ = (
            procedure.name(),
            procedure.fee(),
            procedure.processing_time(),
            procedure.documents(),
            procedure.max_auth_age(),
            procedure.online_level(),
        );
    }
});
