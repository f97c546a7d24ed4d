use std::path::Path;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::*;

#[test]
fn levels_are_ordered() {
    assert!(Level::One < Level::Two);
    assert_eq!(Level::from_number(2), Some(Level::Two));
    assert_eq!(Level::from_number(0), None);
    assert_eq!(Level::from_number(3), None);
    assert_eq!(Level::Two.to_string(), "level 2");
}

#[test]
fn level_serialises_as_number() {
    assert_eq!(serde_json::to_value(Level::Two).unwrap(), json!(2));
    assert_eq!(
        serde_json::from_value::<Level>(json!(1)).unwrap(),
        Level::One
    );
    let err = serde_json::from_value::<Level>(json!(3)).unwrap_err();
    assert!(
        err.to_string().contains("level must be 1 or 2, found 3"),
        "{err}"
    );
}

#[test]
fn assurance_meets_only_reached_levels() {
    let none = Assurance::new(None, "https://idp", SourceKind::IdTokenAcr, None);
    assert!(!none.meets(Level::One));
    let one = Assurance::new(
        Some(Level::One),
        "https://idp",
        SourceKind::IdTokenAcr,
        None,
    );
    assert!(one.meets(Level::One));
    assert!(!one.meets(Level::Two));
    let two = Assurance::new(
        Some(Level::Two),
        "https://idp",
        SourceKind::UserinfoClaim,
        None,
    );
    assert!(two.meets(Level::One));
    assert!(two.meets(Level::Two));
}

#[test]
fn acr_table_maps_plain_numeric_values() {
    let table = AcrTable::new(["1"], ["2"]).unwrap();
    let source = LevelSource::acr(table.clone());
    let token = json!({"acr": "2"});
    assert_eq!(
        source.level(ReturnedClaims::new(token.as_object(), None)),
        Some(Level::Two)
    );
    let token = json!({"acr": "1"});
    assert_eq!(
        source.level(ReturnedClaims::new(token.as_object(), None)),
        Some(Level::One)
    );
    // The table still says which of its values a Keycloak realm would send for freshness.
    assert_eq!(table.keycloak_default_values(), vec!["1"]);
    assert_eq!(
        AcrTable::new(["0"], ["1"])
            .unwrap()
            .keycloak_default_values(),
        vec!["0", "1"]
    );
    assert!(
        AcrTable::new(["LoA1"], ["LoA2"])
            .unwrap()
            .keycloak_default_values()
            .is_empty()
    );
}

#[test]
fn only_the_keycloak_broker_profile_refuses_keycloak_defaults() {
    use crate::oidc::ProviderProfile;
    let numeric = LevelSource::acr(AcrTable::new(["1"], ["2"]).unwrap());
    assert_eq!(
        ProviderProfile::KeycloakBroker
            .check_level_source(&numeric)
            .unwrap_err(),
        LevelSourceError::KeycloakDefaultAcr { value: "1".into() }
    );
    let zero = LevelSource::acr(AcrTable::new(Vec::<String>::new(), ["0"]).unwrap());
    assert_eq!(
        ProviderProfile::KeycloakBroker
            .check_level_source(&zero)
            .unwrap_err(),
        LevelSourceError::KeycloakDefaultAcr { value: "0".into() }
    );
    for profile in [
        ProviderProfile::Standard,
        ProviderProfile::Npsp,
        ProviderProfile::VneidDirect,
    ] {
        assert_eq!(profile.check_level_source(&numeric), Ok(()), "{profile}");
    }
    // The broker's own claim-based source is fine.
    assert_eq!(
        ProviderProfile::KeycloakBroker
            .check_level_source(&ProviderProfile::KeycloakBroker.default_level_source()),
        Ok(())
    );
}

#[test]
fn acr_table_refuses_malformed_tables() {
    assert_eq!(
        AcrTable::new(["LoA1"], Vec::<String>::new()).unwrap_err(),
        LevelSourceError::NoLevel2Value
    );
    assert_eq!(
        AcrTable::new(["LoA 1"], ["LoA2"]).unwrap_err(),
        LevelSourceError::MalformedValue {
            value: "LoA 1".into()
        }
    );
    assert_eq!(
        AcrTable::new([""], ["LoA2"]).unwrap_err(),
        LevelSourceError::MalformedValue {
            value: String::new()
        }
    );
    assert_eq!(
        AcrTable::new(["LoA2"], ["LoA2"]).unwrap_err(),
        LevelSourceError::DuplicateValue {
            value: "LoA2".into()
        }
    );
}

#[test]
fn value_table_refuses_non_scalar_values() {
    assert_eq!(
        ValueTable::new(vec![], vec![json!(true)]).unwrap_err(),
        LevelSourceError::MalformedValue {
            value: "true".into()
        }
    );
    assert_eq!(
        ValueTable::new(vec![], vec![json!(2.5)]).unwrap_err(),
        LevelSourceError::MalformedValue {
            value: "2.5".into()
        }
    );
}

#[test]
fn level_source_deserialises_from_toml_and_validates() {
    let source: LevelSource = toml::from_str(
        r#"
        source = "userinfo_claim"
        claim = "accountLevel"
        level1 = [1]
        level2 = [2]
        "#,
    )
    .unwrap();
    assert_eq!(source.kind(), SourceKind::UserinfoClaim);
    assert!(source.needs_userinfo());

    let err = toml::from_str::<LevelSource>(
        r#"
        source = "acr"
        level1 = ["urn:x:2"]
        level2 = ["urn:x:2"]
        "#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("appears more than once"), "{err}");

    let err = toml::from_str::<LevelSource>("source = \"acr\"\nlevel2 = [\"a\"]\nextra = 1\n")
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

#[test]
fn presets_round_trip_through_their_configuration_form() {
    for source in [
        LevelSource::vneid(),
        LevelSource::eidas(),
        LevelSource::france_connect(),
        LevelSource::gov_uk(),
    ] {
        let json = serde_json::to_value(&source).unwrap();
        let back: LevelSource = serde_json::from_value(json).unwrap();
        assert_eq!(back, source);
    }
}

#[test]
fn acr_values_requested_follow_the_required_level() {
    let source = LevelSource::acr(AcrTable::new(["LoA1"], ["LoA2", "LoA3"]).unwrap());
    assert_eq!(source.acr_values_for(Level::Two), vec!["LoA2", "LoA3"]);
    assert_eq!(
        source.acr_values_for(Level::One),
        vec!["LoA1", "LoA2", "LoA3"]
    );
    assert!(LevelSource::vneid().acr_values_for(Level::Two).is_empty());
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    source: String,
    level_source: LevelSource,
    cases: Vec<VectorCase>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorCase {
    name: String,
    #[serde(default)]
    id_token: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    userinfo: Option<serde_json::Map<String, Value>>,
    expected: Option<Level>,
}

#[test]
fn mapping_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/acr");
    let mut files = 0;
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file: VectorFile =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            !file.source.trim().is_empty(),
            "{}: no source",
            path.display()
        );
        for case in &file.cases {
            let claims = ReturnedClaims::new(case.id_token.as_ref(), case.userinfo.as_ref());
            assert_eq!(
                file.level_source.level(claims),
                case.expected,
                "{}: case `{}`",
                path.display(),
                case.name
            );
            cases += 1;
        }
        files += 1;
    }
    assert!(files >= 7, "expected the vector files, found {files}");
    assert!(cases >= 50, "expected at least 50 cases, found {cases}");
}

#[test]
fn assurance_without_signed_id_token_round_trips_and_old_records_count_as_signed() {
    let signed = Assurance::new(
        Some(Level::Two),
        "https://idp",
        SourceKind::IdTokenAcr,
        None,
    );
    assert!(signed.has_signed_id_token());
    // Records written before profiles existed have no such field and had an ID token.
    let json = serde_json::to_value(&signed).unwrap();
    assert_eq!(json.get("signed_id_token"), None);
    let back: Assurance = serde_json::from_value(json).unwrap();
    assert!(back.has_signed_id_token());

    let unsigned = Assurance::new(
        Some(Level::Two),
        "https://idp",
        SourceKind::UserinfoClaim,
        None,
    )
    .with_signed_id_token(false);
    let json = serde_json::to_value(&unsigned).unwrap();
    assert_eq!(json["signed_id_token"], json!(false));
    let back: Assurance = serde_json::from_value(json).unwrap();
    assert_eq!(back, unsigned);
}
