use std::collections::HashMap;
use std::path::PathBuf;

use chrono::TimeDelta;
use pretty_assertions::assert_eq;
use serde_json::{Map, json};

use super::*;
use crate::assurance::{AcrTable, Level, LevelSource, ReturnedClaims};
use crate::i18n::LocalText;
use crate::oidc::{ProviderEndpoints, ProviderProfile};
use crate::portal::rate_limit::RateLimit;
use crate::submission::AttachmentLimits;

const EXTERNAL: [(&str, &str); 5] = [
    ("WARDGATE_ISSUER", "https://sso.example.vn/realms/ward"),
    ("WARDGATE_CLIENT_ID", "ward-portal"),
    ("WARDGATE_CLIENT_SECRET", "s3cret-value"),
    ("WARDGATE_ACR_LEVEL1", "LoA1"),
    ("WARDGATE_ACR_LEVEL2", "LoA2"),
];

fn loader(env: &[(&str, &str)]) -> ConfigLoader {
    let map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    GatewayConfig::loader(move |name| map.get(name).cloned())
}

fn load(env: &[(&str, &str)], toml: &str) -> Result<GatewayConfig, ConfigError> {
    loader(env).load_str("gateway.toml", toml)
}

fn error(env: &[(&str, &str)], toml: &str) -> String {
    match load(env, toml) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => error.to_string(),
    }
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = EXTERNAL
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    env.extend(extra.iter().filter(|(_, v)| !v.is_empty()).copied());
    env
}

fn external(config: &GatewayConfig) -> &ExternalProvider {
    match config.provider() {
        Provider::External(provider) => provider,
        Provider::Simulator { .. } => panic!("expected an external provider"),
    }
}

#[test]
fn defaults_run_the_simulator_on_loopback() {
    let config = load(&[], "").unwrap();
    assert_eq!(config.bind(), "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.public_url().as_str(), "http://127.0.0.1:8080/");
    assert_eq!(
        config.redirect_uri().as_str(),
        "http://127.0.0.1:8080/auth/callback"
    );
    assert!(!config.is_https());
    assert!(matches!(
        config.provider(),
        Provider::Simulator { level_source: None }
    ));
    assert_eq!(config.data_dir(), Path::new("./data"));
    assert_eq!(config.database().kind(), DatabaseKind::Sqlite);
    assert_eq!(config.database().url(), "sqlite://./data/wardgate.db");
    assert_eq!(config.database().sqlite_path(), Some("./data/wardgate.db"));
    assert_eq!(config.ward().code(), None);
    assert_eq!(config.ward().catalog(), Path::new("samples/catalog.toml"));
    assert_eq!(config.ward().directory(), Path::new("samples/wards.toml"));
    assert!(config.staff().subjects().is_empty());
    assert_eq!(config.staff().role_claim(), None);
    assert_eq!(config.session(), &SessionTimeouts::default());
    assert_eq!(config.session().idle_minutes(), 30);
    assert_eq!(config.session().absolute_minutes(), 480);
}

#[test]
fn load_without_file_uses_the_environment_only() {
    let config = loader(&[("WARDGATE_BIND", "0.0.0.0:9000")]).load().unwrap();
    assert_eq!(config.bind(), "0.0.0.0:9000".parse().unwrap());
}

#[test]
fn defaults_base_anchors_the_sample_paths() {
    let config = loader(&[])
        .defaults_base("/srv/wardgate")
        .load_str("gateway.toml", "")
        .unwrap();
    assert_eq!(
        config.ward().catalog(),
        Path::new("/srv/wardgate/samples/catalog.toml")
    );
    assert_eq!(
        config.ward().directory(),
        Path::new("/srv/wardgate/samples/wards.toml")
    );
}

#[test]
fn external_provider_from_the_environment() {
    let config = load(&EXTERNAL, "").unwrap();
    let provider = external(&config);
    assert_eq!(provider.issuer(), "https://sso.example.vn/realms/ward");
    assert_eq!(provider.client_id(), "ward-portal");
    assert_eq!(provider.client_secret().secret(), "s3cret-value");
    let expected = LevelSource::acr(AcrTable::new(["LoA1"], ["LoA2"]).unwrap());
    assert_eq!(provider.level_source(), &expected);
}

#[test]
fn issuer_is_kept_exactly_as_written() {
    let env = with(&[("WARDGATE_ISSUER", "https://sso.example.vn")]);
    let config = load(&env, "").unwrap();
    assert_eq!(external(&config).issuer(), "https://sso.example.vn");
}

#[test]
fn environment_wins_over_the_file() {
    let toml = r#"
bind = "127.0.0.1:7000"
public_url = "https://file.example.vn"
database_url = "sqlite://file.db"
data_dir = "file-data"

[provider]
issuer = "https://file-idp.example.vn"
client_id = "file-client"
client_secret = "file-secret"
acr_level1 = ["file1"]
acr_level2 = ["file2"]
"#;
    let env = [
        ("WARDGATE_BIND", "127.0.0.1:9090"),
        ("WARDGATE_PUBLIC_URL", "https://env.example.vn/"),
        (
            "WARDGATE_DATABASE_URL",
            "postgres://wardgate:pw@db.example.vn/wardgate",
        ),
        ("WARDGATE_DATA_DIR", "/var/lib/wardgate"),
        ("WARDGATE_ISSUER", "https://env-idp.example.vn"),
        ("WARDGATE_CLIENT_ID", "env-client"),
        ("WARDGATE_CLIENT_SECRET", "env-secret"),
        ("WARDGATE_ACR_LEVEL1", " a1 , a1b "),
        ("WARDGATE_ACR_LEVEL2", "a2"),
    ];
    let config = load(&env, toml).unwrap();
    assert_eq!(config.bind(), "127.0.0.1:9090".parse().unwrap());
    assert_eq!(config.public_url().as_str(), "https://env.example.vn/");
    assert_eq!(config.database().kind(), DatabaseKind::Postgres);
    assert_eq!(config.database().sqlite_path(), None);
    assert_eq!(config.data_dir(), Path::new("/var/lib/wardgate"));
    let provider = external(&config);
    assert_eq!(provider.issuer(), "https://env-idp.example.vn");
    assert_eq!(provider.client_id(), "env-client");
    assert_eq!(provider.client_secret().secret(), "env-secret");
    let expected = LevelSource::acr(AcrTable::new(["a1", "a1b"], ["a2"]).unwrap());
    assert_eq!(provider.level_source(), &expected);
}

#[test]
fn file_values_apply_when_the_environment_is_silent() {
    let toml = r#"
bind = "127.0.0.1:7000"
public_url = "https://file.example.vn"
data_dir = "file-data"

[provider]
issuer = "https://file-idp.example.vn"
client_id = "file-client"
client_secret = "file-secret"
acr_level1 = ["file1"]
acr_level2 = ["file2", "file3"]

[ward]
code = "30316"
catalog = "catalog.toml"
directory = "/etc/wardgate/wards.toml"

[staff]
subjects = ["c3RhZmYtMQ"]
role_claim = "roles"
role_value = "ward_staff"

[session]
idle_minutes = 20
absolute_minutes = 240
"#;
    let config = loader(&[("WARDGATE_BIND", "")])
        .load_str("/etc/wardgate/gateway.toml", toml)
        .unwrap();
    assert_eq!(config.bind(), "127.0.0.1:7000".parse().unwrap());
    assert_eq!(
        config.redirect_uri().as_str(),
        "https://file.example.vn/auth/callback"
    );
    assert!(config.is_https());
    assert_eq!(config.data_dir(), Path::new("/etc/wardgate/file-data"));
    assert_eq!(
        config.database().url(),
        "sqlite:///etc/wardgate/file-data/wardgate.db"
    );
    let provider = external(&config);
    assert_eq!(provider.client_id(), "file-client");
    let expected = LevelSource::acr(AcrTable::new(["file1"], ["file2", "file3"]).unwrap());
    assert_eq!(provider.level_source(), &expected);
    assert_eq!(config.ward().code(), Some("30316"));
    assert_eq!(
        config.ward().catalog(),
        Path::new("/etc/wardgate/catalog.toml")
    );
    assert_eq!(
        config.ward().directory(),
        Path::new("/etc/wardgate/wards.toml")
    );
    assert_eq!(config.staff().subjects(), ["c3RhZmYtMQ".to_owned()]);
    assert_eq!(config.staff().role_claim(), Some(("roles", "ward_staff")));
    assert_eq!(config.session().idle_minutes(), 20);
    let session = config.session().session_config();
    assert_eq!(session.idle_timeout, TimeDelta::minutes(20));
    assert_eq!(session.absolute_timeout, TimeDelta::minutes(240));
}

#[test]
fn level_source_from_the_file() {
    let toml = r#"
[provider]
issuer = "https://sso.example.vn"
client_id = "c"
client_secret = "s"
level_source = { source = "userinfo_claim", claim = "accountLevel", level1 = [1], level2 = [2, "2"] }
"#;
    let config = load(&[], toml).unwrap();
    let source = external(&config).level_source();
    let userinfo = json!({"accountLevel": "2"});
    let claims = ReturnedClaims::new(None, userinfo.as_object());
    assert_eq!(source.level(claims), Some(Level::Two));
    assert!(source.needs_userinfo());
}

#[test]
fn level_source_preset_and_simulator_override() {
    let toml = "[provider]\nlevel_source = { source = \"preset\", preset = \"vneid\" }\n";
    let config = load(&[], toml).unwrap();
    match config.provider() {
        Provider::Simulator {
            level_source: Some(source),
        } => assert_eq!(source, &LevelSource::vneid()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn acr_values_from_the_environment_replace_the_file_level_source() {
    let toml = "[provider]\nlevel_source = { source = \"preset\", preset = \"vneid\" }\n";
    let config = load(&EXTERNAL, toml).unwrap();
    let expected = LevelSource::acr(AcrTable::new(["LoA1"], ["LoA2"]).unwrap());
    assert_eq!(external(&config).level_source(), &expected);
}

#[test]
fn config_file_is_read_from_disk() {
    let dir = std::env::temp_dir().join(format!("wardgate-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        "bind = \"127.0.0.1:7001\"\n[ward]\ncatalog = \"c.toml\"\n",
    )
    .unwrap();
    let config = loader(&[]).file(&path).load().unwrap();
    assert_eq!(config.bind(), "127.0.0.1:7001".parse().unwrap());
    assert_eq!(config.ward().catalog(), dir.join("c.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What `ward_gateway check-config --config FILE` reports for a mistyped value: the file, the
/// line and the field.
#[test]
fn a_mistyped_value_in_the_config_file_names_the_file_and_the_field() {
    let dir = std::env::temp_dir().join(format!("wardgate-config-typed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, "[session]\nidle_minutes = \"ten\"\n").unwrap();
    let error = loader(&[])
        .optional_file(Some(path.clone()))
        .load()
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        error,
        format!(
            "config file `{}`: line 2: session.idle_minutes: invalid type: string \"ten\", \
             expected i64",
            path.display()
        )
    );
}

#[test]
fn missing_config_file_names_it() {
    let error = loader(&[])
        .optional_file(Some(PathBuf::from("/nonexistent/gateway.toml")))
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("config file `/nonexistent/gateway.toml`: cannot be read: "),
        "{error}"
    );
}

#[test]
fn toml_errors_name_the_file_and_line() {
    assert_eq!(
        error(&[], "bind = \"127.0.0.1:1\"\n\n[provider]\nisuer = \"x\"\n"),
        "config file `gateway.toml`: line 4: provider.isuer: unknown field `isuer`, expected one \
         of `issuer`, `client_id`, `client_secret`, `acr_level1`, `acr_level2`, `level_source`, \
         `profile`, `level_claim`, `encrypted_responses`, `authorization_endpoint`, \
         `token_endpoint`, `userinfo_endpoint`, `jwks_uri`, `pushed_authorization_request_endpoint`, \
         `require_pushed_authorization_requests`, \
         `authorization_response_iss_parameter_supported`, `token_endpoint_auth_method`"
    );
    assert_eq!(
        error(&[], "[session]\nidle_minutes = \"ten\"\n"),
        "config file `gateway.toml`: line 2: session.idle_minutes: invalid type: string \"ten\", \
         expected i64"
    );
    assert_eq!(
        error(
            &[],
            "bind = \"127.0.0.1:1\"\n[rate_limit]\nlogin_burst = 2.5\n"
        ),
        "config file `gateway.toml`: line 3: rate_limit.login_burst: invalid type: floating \
         point `2.5`, expected i64"
    );
    let malformed = "[provider]\nlevel_source = { source = \"acr\", level2 = [\"a b\"] }\n";
    let message = error(&[], malformed);
    assert!(
        message.starts_with("config file `gateway.toml`: line 2: provider.level_source")
            && message.contains(": value `a b` is malformed"),
        "{message}"
    );
}

#[test]
fn bind_must_be_a_socket_address() {
    assert_eq!(
        error(&[("WARDGATE_BIND", "localhost")], ""),
        "WARDGATE_BIND: `localhost` is not a socket address such as `127.0.0.1:8080`"
    );
    assert_eq!(
        error(&[], "bind = \"8080\""),
        "gateway.toml: bind: `8080` is not a socket address such as `127.0.0.1:8080`"
    );
}

#[test]
fn public_url_is_validated() {
    let cases = [
        (
            "not a url",
            "WARDGATE_PUBLIC_URL: `not a url` is not an absolute URL",
        ),
        (
            "http://portal.example.vn",
            "WARDGATE_PUBLIC_URL: plain http is accepted only on a loopback host, not \
             `portal.example.vn`: use https",
        ),
        (
            "ftp://portal.example.vn",
            "WARDGATE_PUBLIC_URL: scheme `ftp` is not supported: use https (http only on a \
             loopback host)",
        ),
        (
            "https://portal.example.vn/ward",
            "WARDGATE_PUBLIC_URL: path `/ward` is not supported: serve the gateway at the root \
             of its host",
        ),
        (
            "https://portal.example.vn/?a=b",
            "WARDGATE_PUBLIC_URL: `https://portal.example.vn/?a=b` must not have a query or \
             fragment",
        ),
        (
            "https://admin:pw@portal.example.vn/",
            "WARDGATE_PUBLIC_URL: must not contain a user name or password",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(error(&[("WARDGATE_PUBLIC_URL", value)], ""), expected);
    }
    for loopback in [
        "http://localhost:8080",
        "http://[::1]:8080/",
        "http://127.0.0.2",
    ] {
        assert!(
            load(&[("WARDGATE_PUBLIC_URL", loopback)], "").is_ok(),
            "{loopback}"
        );
    }
    assert_eq!(
        error(&[], "public_url = \"http://10.0.0.1\""),
        "gateway.toml: public_url: plain http is accepted only on a loopback host, not \
         `10.0.0.1`: use https"
    );
}

#[test]
fn issuer_http_only_on_loopback() {
    assert_eq!(
        error(&with(&[("WARDGATE_ISSUER", "http://sso.example.vn")]), ""),
        "WARDGATE_ISSUER: plain http is accepted only on a loopback host, not `sso.example.vn`: \
         use https"
    );
    assert!(load(&with(&[("WARDGATE_ISSUER", "http://127.0.0.1:9000")]), "").is_ok());
    assert_eq!(
        error(
            &with(&[("WARDGATE_ISSUER", "https://sso.example.vn/#x")]),
            ""
        ),
        "WARDGATE_ISSUER: `https://sso.example.vn/#x` must not have a query or fragment"
    );
    assert_eq!(
        error(&[], "[provider]\nissuer = \"sso.example.vn\"\n"),
        "gateway.toml: provider.issuer: `sso.example.vn` is not an absolute URL"
    );
}

#[test]
fn issuer_requires_client_id_secret_and_level_source() {
    assert_eq!(
        error(&with(&[("WARDGATE_CLIENT_ID", "")]), ""),
        "WARDGATE_CLIENT_ID: is required when an external provider is set (`WARDGATE_ISSUER` \
         or provider.issuer)"
    );
    assert_eq!(
        error(&with(&[("WARDGATE_CLIENT_SECRET", "")]), ""),
        "WARDGATE_CLIENT_SECRET: is required when an external provider is set \
         (`WARDGATE_ISSUER` or provider.issuer)"
    );
    assert_eq!(
        error(
            &with(&[("WARDGATE_ACR_LEVEL1", ""), ("WARDGATE_ACR_LEVEL2", "")]),
            ""
        ),
        "WARDGATE_ACR_LEVEL2: is required when an external provider is set, unless the config \
         file sets provider.level_source"
    );
    assert_eq!(
        error(
            &with(&[("WARDGATE_CLIENT_ID", "")]),
            "[provider]\nclient_id = \" \"\n"
        ),
        "gateway.toml: provider.client_id: is empty"
    );
}

#[test]
fn client_settings_without_issuer_are_refused() {
    assert_eq!(
        error(&[("WARDGATE_CLIENT_ID", "ward-portal")], ""),
        "WARDGATE_CLIENT_ID: is set but no issuer is: set `WARDGATE_ISSUER` too, or remove it to \
         use the built-in provider simulator"
    );
    assert_eq!(
        error(&[], "[provider]\nclient_secret = \"s\"\n"),
        "gateway.toml: provider.client_secret: is set but no issuer is: set `WARDGATE_ISSUER` \
         too, or remove it to use the built-in provider simulator"
    );
}

#[test]
fn plain_numeric_acr_values_map_levels() {
    let config = load(
        &with(&[("WARDGATE_ACR_LEVEL1", "1"), ("WARDGATE_ACR_LEVEL2", "2")]),
        "",
    )
    .unwrap();
    let source = external(&config).level_source();
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
}

#[test]
fn acr_values_are_validated() {
    assert_eq!(
        error(&with(&[("WARDGATE_ACR_LEVEL2", "LoA2,,LoA3")]), ""),
        "WARDGATE_ACR_LEVEL2: `LoA2,,LoA3` has an empty item"
    );
    assert_eq!(
        error(&with(&[("WARDGATE_ACR_LEVEL1", "LoA1,")]), ""),
        "WARDGATE_ACR_LEVEL1: `LoA1,` has an empty item"
    );
    // Keycloak's "0"/"1" are refused for the keycloak-broker profile only.
    assert_eq!(
        error(
            &with(&[
                ("WARDGATE_PROVIDER_PROFILE", "keycloak-broker"),
                ("WARDGATE_ACR_LEVEL1", "1")
            ]),
            ""
        ),
        "WARDGATE_PROVIDER_PROFILE: acr value `1` is Keycloak's default login-freshness value, \
         not an identity level; map the level from a claim instead"
    );
    assert_eq!(
        error(
            &[],
            "[[providers]]\nid = \"kc\"\nprofile = \"keycloak-broker\"\n\
             issuer = \"https://kc.example\"\nclient_id = \"portal\"\nacr_level2 = [\"0\"]\n"
        ),
        "gateway.toml: providers[0].profile: acr value `0` is Keycloak's default login-freshness \
         value, not an identity level; map the level from a claim instead"
    );
    assert_eq!(
        error(&with(&[("WARDGATE_ACR_LEVEL2", "LoA1")]), ""),
        "WARDGATE_ACR_LEVEL2: value `LoA1` appears more than once"
    );
    assert_eq!(
        error(&with(&[("WARDGATE_ACR_LEVEL1", "LoA1,LoA1")]), ""),
        "WARDGATE_ACR_LEVEL1: value `LoA1` appears more than once"
    );
    assert_eq!(
        error(&with(&[("WARDGATE_ACR_LEVEL2", "")]), ""),
        "WARDGATE_ACR_LEVEL2: no value is given for level 2"
    );
    assert_eq!(
        error(&[], "[provider]\nacr_level2 = [\"a b\"]\n"),
        "gateway.toml: provider.acr_level2: value `a b` is malformed: use a non-empty string \
         without spaces, or an integer"
    );
}

#[test]
fn level_source_conflicts_with_acr_fields_in_the_file() {
    let toml = "[provider]\nacr_level2 = [\"LoA2\"]\nlevel_source = { source = \"preset\", preset = \"vneid\" }\n";
    assert_eq!(
        error(&[], toml),
        "gateway.toml: provider.level_source: cannot be combined with provider.acr_level1 or \
         provider.acr_level2: choose one"
    );
}

#[test]
fn database_url_is_validated() {
    let config = load(
        &[("WARDGATE_DATABASE_URL", "sqlite:///var/lib/w.db?mode=rwc")],
        "",
    )
    .unwrap();
    assert_eq!(config.database().sqlite_path(), Some("/var/lib/w.db"));
    let config = load(
        &[("WARDGATE_DATABASE_URL", "postgresql://db.example.vn/w")],
        "",
    )
    .unwrap();
    assert_eq!(config.database().kind(), DatabaseKind::Postgres);
    assert_eq!(
        error(&[("WARDGATE_DATABASE_URL", "mysql://db/w")], ""),
        "WARDGATE_DATABASE_URL: scheme `mysql` is not supported: use `sqlite://` or `postgres://`"
    );
    assert_eq!(
        error(&[("WARDGATE_DATABASE_URL", "sqlite://")], ""),
        "WARDGATE_DATABASE_URL: names no SQLite file: use `sqlite://PATH`"
    );
    let bad_postgres = error(&[("WARDGATE_DATABASE_URL", "postgres://user:hunter2@")], "");
    assert_eq!(
        bad_postgres,
        "WARDGATE_DATABASE_URL: is not a valid `postgres://` URL with a host"
    );
    assert!(!bad_postgres.contains("hunter2"));
    assert_eq!(
        error(&[], "database_url = \"data.db\""),
        "gateway.toml: database_url: scheme `data.db` is not supported: use `sqlite://` or \
         `postgres://`"
    );
}

#[test]
fn data_dir_sets_the_default_database() {
    let config = load(&[("WARDGATE_DATA_DIR", "/srv/data")], "").unwrap();
    assert_eq!(config.data_dir(), Path::new("/srv/data"));
    assert_eq!(config.database().url(), "sqlite:///srv/data/wardgate.db");
    assert_eq!(
        error(&[], "data_dir = \"\""),
        "gateway.toml: data_dir: is empty"
    );
}

#[test]
fn ward_section_is_validated() {
    for code in ["3031", "303160", "3031a", "00000"] {
        assert_eq!(
            error(&[], &format!("[ward]\ncode = \"{code}\"\n")),
            format!(
                "gateway.toml: ward.code: `{code}` is not a 5-digit commune-level unit code \
                 such as `30316`"
            )
        );
    }
    assert_eq!(
        error(&[], "[ward]\ncatalog = \"\"\n"),
        "gateway.toml: ward.catalog: is empty"
    );
}

#[test]
fn staff_section_is_validated_and_matches() {
    assert_eq!(
        error(&[], "[staff]\nrole_claim = \"roles\"\n"),
        "gateway.toml: staff.role_value: staff.role_claim and staff.role_value must be set \
         together"
    );
    assert_eq!(
        error(&[], "[staff]\nrole_value = \"x\"\n"),
        "gateway.toml: staff.role_claim: staff.role_claim and staff.role_value must be set \
         together"
    );
    assert_eq!(
        error(&[], "[staff]\nsubjects = [\"\"]\n"),
        "gateway.toml: staff.subjects: is empty"
    );

    let config = load(
        &[],
        "[staff]\nsubjects = [\"abc\"]\nrole_claim = \"roles\"\nrole_value = \"ward_staff\"\n",
    )
    .unwrap();
    let staff = config.staff();
    let none = Map::new();
    assert!(staff.is_staff("abc", &none));
    assert!(!staff.is_staff("xyz", &none));
    let array = json!({"roles": ["resident", "ward_staff"]});
    assert!(staff.is_staff("xyz", array.as_object().unwrap()));
    let single = json!({"roles": "ward_staff"});
    assert!(staff.is_staff("xyz", single.as_object().unwrap()));
    let other = json!({"roles": ["resident"]});
    assert!(!staff.is_staff("xyz", other.as_object().unwrap()));
}

#[test]
fn session_section_is_validated() {
    assert_eq!(
        error(&[], "[session]\nidle_minutes = 0\n"),
        "gateway.toml: session.idle_minutes: 0 minutes is out of range: use 1 to 10080"
    );
    assert_eq!(
        error(&[], "[session]\nabsolute_minutes = 20000\n"),
        "gateway.toml: session.absolute_minutes: 20000 minutes is out of range: use 1 to 10080"
    );
    assert_eq!(
        error(&[], "[session]\nidle_minutes = 60\nabsolute_minutes = 30\n"),
        "gateway.toml: session.idle_minutes: the idle timeout (60 minutes) exceeds the absolute \
         timeout (30 minutes)"
    );
    assert_eq!(
        error(&[], "[session]\nabsolute_minutes = 10\n"),
        "gateway.toml: session.absolute_minutes: the idle timeout (30 minutes) exceeds the \
         absolute timeout (10 minutes)"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let env = with(&[(
        "WARDGATE_DATABASE_URL",
        "postgres://wardgate:db-password@db.example.vn/wardgate",
    )]);
    let config = load(&env, "").unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-value"), "{debug}");
    assert!(!debug.contains("db-password"), "{debug}");
    assert!(debug.contains("ClientSecret([redacted])"), "{debug}");
    assert!(debug.contains(r#"url: "[redacted]""#), "{debug}");
    assert_eq!(
        format!("{:?}", external(&config).client_secret()),
        "ClientSecret([redacted])"
    );
    assert!(!format!("{:?}", loader(&EXTERNAL)).contains("s3cret"));
}

#[test]
fn command_line_arguments() {
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(config_file_from_args(args(&[])).unwrap(), None);
    assert_eq!(
        config_file_from_args(args(&["--config", "a.toml"])).unwrap(),
        Some(PathBuf::from("a.toml"))
    );
    assert_eq!(
        config_file_from_args(args(&["--config=b.toml"])).unwrap(),
        Some(PathBuf::from("b.toml"))
    );
    assert_eq!(
        config_file_from_args(args(&["--config"]))
            .unwrap_err()
            .to_string(),
        "command line: `--config` needs a file: `--config FILE`"
    );
    assert_eq!(
        config_file_from_args(args(&["--verbose"]))
            .unwrap_err()
            .to_string(),
        "command line: unknown argument `--verbose`: the only argument is `--config FILE`"
    );
}

#[test]
fn backoffice_url_is_optional_and_must_be_https_off_loopback() {
    assert_eq!(load(&[], "").unwrap().backoffice_url(), None);
    let config = load(
        &[("WARDGATE_BACKOFFICE_URL", "https://motcua.example.vn/hoso")],
        "",
    )
    .unwrap();
    assert_eq!(
        config.backoffice_url().unwrap().as_str(),
        "https://motcua.example.vn/hoso"
    );
    let file = load(&[], "backoffice_url = \"http://127.0.0.1:9100/intake\"").unwrap();
    assert_eq!(file.backoffice_url().unwrap().port(), Some(9100));
    let err = load(
        &[("WARDGATE_BACKOFFICE_URL", "http://motcua.example.vn")],
        "",
    )
    .unwrap_err();
    assert!(err.to_string().contains("WARDGATE_BACKOFFICE_URL"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Provider profiles and several providers.

fn only_provider(config: &GatewayConfig) -> &ProviderConfig {
    let [provider] = config.providers() else {
        panic!("expected one provider, got {:?}", config.providers());
    };
    provider
}

#[test]
fn the_profile_comes_from_the_environment_or_the_file() {
    let config = load(&[], "").unwrap();
    let provider = only_provider(&config);
    assert_eq!(provider.profile(), ProviderProfile::Standard);
    assert_eq!(provider.id().as_str(), "default");
    assert_eq!(
        provider.redirect_uri().as_str(),
        "http://127.0.0.1:8080/auth/callback"
    );
    assert!(!provider.encrypted_responses());

    let config = load(&[("WARDGATE_PROVIDER_PROFILE", "vneid-direct")], "").unwrap();
    let provider = only_provider(&config);
    assert_eq!(provider.profile(), ProviderProfile::VneidDirect);
    assert!(matches!(
        provider.provider(),
        Provider::Simulator { level_source: None }
    ));
    assert!(provider.encrypted_responses());
    assert_eq!(provider.label().vi, "Tài khoản định danh điện tử VNeID");

    let toml = "[provider]\nprofile = \"npsp\"\n";
    let from_file = load(&[], toml).unwrap();
    assert_eq!(only_provider(&from_file).profile(), ProviderProfile::Npsp);
    // The environment wins over the file.
    let both = load(&[("WARDGATE_PROVIDER_PROFILE", "keycloak-broker")], toml).unwrap();
    assert_eq!(
        only_provider(&both).profile(),
        ProviderProfile::KeycloakBroker
    );
}

#[test]
fn an_unknown_profile_names_the_setting_and_the_valid_values() {
    assert_eq!(
        error(&[("WARDGATE_PROVIDER_PROFILE", "vneid")], ""),
        "WARDGATE_PROVIDER_PROFILE: unknown provider profile `vneid`: expected one of standard, \
         npsp, vneid-direct, keycloak-broker"
    );
    assert_eq!(
        error(&[], "[provider]\nprofile = \"Standard\"\n"),
        "gateway.toml: provider.profile: unknown provider profile `Standard`: expected one of \
         standard, npsp, vneid-direct, keycloak-broker"
    );
    let toml = "[[providers]]\nid = \"a\"\n\n[[providers]]\nid = \"b\"\nprofile = \"keycloak\"\n";
    assert_eq!(
        error(&[], toml),
        "gateway.toml: providers[1].profile: unknown provider profile `keycloak`: expected one \
         of standard, npsp, vneid-direct, keycloak-broker"
    );
}

#[test]
fn a_profiled_external_provider_brings_its_level_source() {
    let env = with(&[
        ("WARDGATE_ACR_LEVEL1", ""),
        ("WARDGATE_ACR_LEVEL2", ""),
        ("WARDGATE_PROVIDER_PROFILE", "npsp"),
    ]);
    let config = load(&env, "").unwrap();
    assert_eq!(
        external(&config).level_source(),
        &ProviderProfile::Npsp.default_level_source()
    );
    // `level_claim` renames the profile's claim and keeps its table.
    let config = load(&env, "[provider]\nlevel_claim = \"CapDoTaiKhoan\"\n").unwrap();
    let source = external(&config).level_source();
    assert!(matches!(source, LevelSource::UserinfoClaim { claim, .. } if claim == "CapDoTaiKhoan"));
    let userinfo = json!({"CapDoTaiKhoan": 2});
    assert_eq!(
        source.level(ReturnedClaims::new(None, userinfo.as_object())),
        Some(Level::Two)
    );
    // A Keycloak broker's level comes from the mapped ID token claim, never its acr.
    let env = with(&[
        ("WARDGATE_ACR_LEVEL1", ""),
        ("WARDGATE_ACR_LEVEL2", ""),
        ("WARDGATE_PROVIDER_PROFILE", "keycloak-broker"),
    ]);
    let config = load(&env, "[provider]\nlevel_claim = \"upstream_level\"\n").unwrap();
    assert!(matches!(
        external(&config).level_source(),
        LevelSource::IdTokenClaim { claim, .. } if claim == "upstream_level"
    ));
    // A standard provider still has to be told.
    assert_eq!(
        error(
            &with(&[("WARDGATE_ACR_LEVEL1", ""), ("WARDGATE_ACR_LEVEL2", "")]),
            ""
        ),
        "WARDGATE_ACR_LEVEL2: is required when an external provider is set, unless the config \
         file sets provider.level_source"
    );
    assert_eq!(
        error(
            &[],
            "[provider]\nlevel_claim = \"x\"\nacr_level2 = [\"LoA2\"]\n"
        ),
        "gateway.toml: provider.level_claim: cannot be combined with acr_level1, acr_level2 or \
         level_source: choose one"
    );
    assert_eq!(
        error(&[], "[provider]\nlevel_claim = \" \"\n"),
        "gateway.toml: provider.level_claim: is empty"
    );
}

#[test]
fn vneid_direct_with_an_issuer_needs_a_decryptor_or_plain_responses() {
    let env = with(&[("WARDGATE_PROVIDER_PROFILE", "vneid-direct")]);
    let expected = "WARDGATE_PROVIDER_PROFILE: a `vneid-direct` provider with an issuer sends \
                    encrypted responses, and no envelope decryptor is configured: the envelope \
                    format is not public, so none can be built from configuration; in your own \
                    gateway pass one to ClientConfig::envelope_decryptor and declare it with \
                    ConfigLoader::supplies_decryptor, or set encrypted_responses = false if this \
                    provider answers in plain JSON";
    assert_eq!(error(&env, ""), expected);
    // The file's profile is named when it set the profile.
    let file_env = with(&[]);
    let toml = "[provider]\nprofile = \"vneid-direct\"\n";
    assert!(error(&file_env, toml).starts_with("gateway.toml: provider.profile: a `vneid-direct`"));
    // An explicit `encrypted_responses = true` is the field named, whatever the profile.
    assert!(
        error(&file_env, "[provider]\nencrypted_responses = true\n")
            .starts_with("gateway.toml: provider.encrypted_responses: a `standard` provider")
    );
    // Plain responses, or a decryptor the caller supplies, are accepted.
    let plain = load(&env, "[provider]\nencrypted_responses = false\n").unwrap();
    assert!(!only_provider(&plain).encrypted_responses());
    let supplied = loader(&env)
        .supplies_decryptor("default")
        .load_str("gateway.toml", "")
        .unwrap();
    assert!(only_provider(&supplied).encrypted_responses());
    assert_eq!(external(&supplied).client_id(), "ward-portal");
    let client = only_provider(&supplied).client_config(false).unwrap();
    assert_eq!(client.provider_profile(), ProviderProfile::VneidDirect);
    // The simulator brings its own test decryptor: no error without an issuer.
    assert!(load(&[("WARDGATE_PROVIDER_PROFILE", "vneid-direct")], "").is_ok());
}

const TWO_PROVIDERS: &str = r#"
[[providers]]
id = "npsp"
profile = "npsp"

[[providers]]
id = "vneid"
profile = "vneid-direct"
issuer = "https://sso.example.vn"
client_id = "ward-portal"
client_secret = "vneid-s3cret"
encrypted_responses = false
label = { vi = "Ứng dụng VNeID", en = "The VNeID app" }
hint = { vi = "Dùng điện thoại có VNeID.", en = "Use a phone with VNeID." }
"#;

#[test]
fn several_providers_each_get_an_id_a_label_and_a_redirect_uri() {
    let config = load(&[], TWO_PROVIDERS).unwrap();
    let [npsp, vneid] = config.providers() else {
        panic!("two providers");
    };
    assert_eq!(npsp.id().as_str(), "npsp");
    assert_eq!(npsp.profile(), ProviderProfile::Npsp);
    assert!(matches!(npsp.provider(), Provider::Simulator { .. }));
    assert_eq!(npsp.label().en, "National Public Service Portal");
    assert_eq!(
        npsp.redirect_uri().as_str(),
        "http://127.0.0.1:8080/auth/callback/npsp"
    );
    assert_eq!(config.redirect_uri(), npsp.redirect_uri());
    assert_eq!(
        vneid.label(),
        &LocalText::new("Ứng dụng VNeID", "The VNeID app")
    );
    assert_eq!(vneid.hint().en, "Use a phone with VNeID.");
    assert_eq!(
        vneid.redirect_uri().as_str(),
        "http://127.0.0.1:8080/auth/callback/vneid"
    );
    let Provider::External(external) = vneid.provider() else {
        panic!("vneid has an issuer");
    };
    assert_eq!(external.issuer(), "https://sso.example.vn");
    assert_eq!(
        external.level_source(),
        &ProviderProfile::VneidDirect.default_level_source()
    );
    assert!(!format!("{config:?}").contains("vneid-s3cret"));
}

#[test]
fn several_providers_are_validated() {
    // The environment, the file, and the expected error.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );
    let cases: [Case; 11] = [
        (
            &[],
            "[provider]\nprofile = \"npsp\"\n\n[[providers]]\nid = \"a\"\n",
            "gateway.toml: provider: cannot be combined with [[providers]] in the config file: \
             configure one provider with [provider] and the environment, or several with \
             [[providers]]",
        ),
        (
            &[("WARDGATE_ISSUER", "https://sso.example.vn")],
            "[[providers]]\nid = \"a\"\n",
            "WARDGATE_ISSUER: cannot be combined with [[providers]] in the config file: \
             configure one provider with [provider] and the environment, or several with \
             [[providers]]",
        ),
        (
            &[],
            "providers = []\n",
            "gateway.toml: providers: lists no provider: add a [[providers]] table, or use \
             [provider]",
        ),
        (
            &[],
            "[[providers]]\nprofile = \"npsp\"\n",
            "gateway.toml: providers[0].id: is required",
        ),
        (
            &[],
            "[[providers]]\nid = \"NPSP\"\n",
            "gateway.toml: providers[0].id: provider id `NPSP` is not a short slug: use 1 to 32 \
             of `a`-`z`, `0`-`9` and `-`, starting with a letter",
        ),
        (
            &[],
            "[[providers]]\nid = \"a\"\nprofile = \"npsp\"\n\n[[providers]]\nid = \"a\"\n",
            "gateway.toml: providers[1].id: id `a` is used by two providers",
        ),
        (
            &[],
            "[[providers]]\nid = \"a\"\nprofile = \"npsp\"\n\n[[providers]]\nid = \"b\"\nprofile = \"npsp\"\n",
            "gateway.toml: providers[1].label: is the same as provider `a`'s: residents could \
             not tell them apart",
        ),
        (
            &[],
            "[[providers]]\nid = \"a\"\nlabel = { vi = \"Cổng\", en = \" \" }\n",
            "gateway.toml: providers[0].label: is empty",
        ),
        (
            &[],
            "[[providers]]\nid = \"a\"\nclient_id = \"c\"\n",
            "gateway.toml: providers[0].client_id: is set but the provider has no issuer: set \
             issuer too, or remove it to use a built-in provider simulator",
        ),
        (
            &[],
            "[[providers]]\nid = \"a\"\nissuer = \"https://sso.example.vn\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            "gateway.toml: providers[0].acr_level2: is required for a `standard` provider with \
             an issuer, unless the table sets level_source or level_claim",
        ),
        (
            &[],
            "[[providers]]\nid = \"v\"\nprofile = \"vneid-direct\"\nissuer = \"https://sso.example.vn\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            "gateway.toml: providers[0].profile: a `vneid-direct` provider with an issuer sends \
             encrypted responses, and no envelope decryptor is configured: the envelope format \
             is not public, so none can be built from configuration; in your own gateway pass \
             one to ClientConfig::envelope_decryptor and declare it with \
             ConfigLoader::supplies_decryptor, or set encrypted_responses = false if this \
             provider answers in plain JSON",
        ),
    ];
    for (env, toml, expected) in cases {
        assert_eq!(error(env, toml), expected, "{toml}");
    }
    // Missing client settings and bad acr values name the table's field.
    assert_eq!(
        error(
            &[],
            "[[providers]]\nid = \"a\"\nissuer = \"https://sso.example.vn\"\nclient_secret = \"s\"\n"
        ),
        "gateway.toml: providers[0].client_id: is required when the provider has an issuer"
    );
    assert_eq!(
        error(
            &[],
            "[[providers]]\nid = \"a\"\nacr_level1 = [\"0\", \"0\"]\nacr_level2 = [\"LoA2\"]\n"
        ),
        "gateway.toml: providers[0].acr_level1: value `0` appears more than once"
    );
    // A decryptor supplied for the table's id lifts the refusal.
    let toml = "[[providers]]\nid = \"v\"\nprofile = \"vneid-direct\"\nissuer = \"https://sso.example.vn\"\nclient_id = \"c\"\nclient_secret = \"s\"\n";
    assert!(
        loader(&[])
            .supplies_decryptor("v")
            .load_str("gateway.toml", toml)
            .is_ok()
    );
}

#[test]
fn rate_limits_default_to_a_busy_help_desk() {
    let config = load(&[], "").unwrap();
    let limits = config.rate_limits();
    assert_eq!(limits.login, RateLimit::DEFAULT_LOGIN);
    assert_eq!(limits.login.burst(), 120);
    assert_eq!(limits.login.per_minute(), 60);
    assert_eq!(limits.submit, RateLimit::DEFAULT_SUBMIT);
    assert_eq!(limits.max_tracked, 100_000);
    assert!(limits.trusted_proxies.is_empty());
    assert_eq!(config.request_limits(), &RequestLimits::DEFAULT);
}

#[test]
fn rate_limits_from_the_file_and_the_environment() {
    let toml = "[rate_limit]\nlogin_per_minute = 30\nlogin_burst = 300\nsubmit_per_minute = 0\n\
                max_tracked_addresses = 5000\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
                [limits]\nattachment_max_files = 3\nattachment_max_bytes = 1048576\n\
                attachments_max_total_bytes = 2097152\n";
    let config = load(&[], toml).unwrap();
    let limits = config.rate_limits();
    assert_eq!(limits.login, RateLimit::new(30, 300));
    assert_eq!(limits.submit, RateLimit::OFF);
    assert_eq!(limits.max_tracked, 5000);
    assert_eq!(
        limits
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["10.0.0.0/8", "::1/128"]
    );
    assert_eq!(
        config.request_limits().attachments,
        AttachmentLimits::new(3, 1024 * 1024, 2 * 1024 * 1024)
    );

    let env = [
        (ENV_RATE_LIMIT_LOGIN_PER_MINUTE, "600"),
        (ENV_RATE_LIMIT_LOGIN_BURST, "1000"),
        (ENV_RATE_LIMIT_SUBMIT_PER_MINUTE, "10"),
        (ENV_RATE_LIMIT_SUBMIT_BURST, "20"),
        (ENV_RATE_LIMIT_MAX_TRACKED, "20000"),
        (ENV_TRUSTED_PROXIES, "127.0.0.1, 192.168.0.0/16"),
    ];
    let config = load(&env, toml).unwrap();
    let limits = config.rate_limits();
    assert_eq!(limits.login, RateLimit::new(600, 1000));
    assert_eq!(limits.submit, RateLimit::new(10, 20));
    assert_eq!(limits.max_tracked, 20_000);
    assert_eq!(limits.trusted_proxies.len(), 2);
}

#[test]
fn bad_limit_values_name_the_variable_or_field() {
    assert_eq!(
        error(&[(ENV_RATE_LIMIT_LOGIN_PER_MINUTE, "many")], ""),
        "WARDGATE_RATE_LIMIT_LOGIN_PER_MINUTE: `many` is not a whole number"
    );
    assert_eq!(
        error(&[(ENV_RATE_LIMIT_LOGIN_BURST, "0")], ""),
        "WARDGATE_RATE_LIMIT_LOGIN_BURST: 0 is out of range: use 1 to 1000000"
    );
    assert_eq!(
        error(&[(ENV_RATE_LIMIT_SUBMIT_PER_MINUTE, "-1")], ""),
        "WARDGATE_RATE_LIMIT_SUBMIT_PER_MINUTE: -1 is out of range: use 0 to 1000000"
    );
    assert_eq!(
        error(&[(ENV_RATE_LIMIT_MAX_TRACKED, "10")], ""),
        "WARDGATE_RATE_LIMIT_MAX_TRACKED: 10 is out of range: use 1000 to 10000000"
    );
    assert_eq!(
        error(&[(ENV_TRUSTED_PROXIES, "10.0.0.0/8, proxy.local")], ""),
        "WARDGATE_TRUSTED_PROXIES: `proxy.local` is not an IP address or network such as \
         `10.0.0.0/8`"
    );
    assert_eq!(
        error(&[], "[rate_limit]\nsubmit_burst = 0\n"),
        "gateway.toml: rate_limit.submit_burst: 0 is out of range: use 1 to 1000000"
    );
    assert_eq!(
        error(&[], "[rate_limit]\ntrusted_proxies = [\"10.0.0.0/40\"]\n"),
        "gateway.toml: rate_limit.trusted_proxies: `10.0.0.0/40` is not an IP address or \
         network such as `10.0.0.0/8`"
    );
    assert_eq!(
        error(&[], "[limits]\nattachment_max_files = 21\n"),
        "gateway.toml: limits.attachment_max_files: 21 is out of range: use 0 to 20"
    );
    assert_eq!(
        error(&[], "[limits]\nattachments_max_total_bytes = 9000000\n"),
        "gateway.toml: limits.attachments_max_total_bytes: 9000000 is out of range: use 1 to \
         8388608"
    );
    assert!(error(&[], "[rate_limit]\nlogin_per_second = 1\n").contains("unknown field"));
}

#[test]
fn configured_endpoints_from_the_environment_and_the_file() {
    // Without endpoints the provider is discovered.
    let config = load(&EXTERNAL, "").unwrap();
    assert_eq!(external(&config).endpoints(), None);

    let env = with(&[
        (
            "WARDGATE_AUTHORIZATION_ENDPOINT",
            "https://sso.example.vn/auth",
        ),
        ("WARDGATE_TOKEN_ENDPOINT", " https://sso.example.vn/token "),
        ("WARDGATE_USERINFO_ENDPOINT", "https://sso.example.vn/me"),
        ("WARDGATE_JWKS_URI", "https://sso.example.vn/certs"),
        ("WARDGATE_PAR_ENDPOINT", "https://sso.example.vn/par"),
        ("WARDGATE_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post"),
    ]);
    let toml = "[provider]\n\
                authorization_endpoint = \"https://ignored.example.vn/auth\"\n\
                require_pushed_authorization_requests = true\n\
                authorization_response_iss_parameter_supported = true\n";
    let config = load(&env, toml).unwrap();
    // The environment wins; values are trimmed.
    let expected = ProviderEndpoints::new(
        "https://sso.example.vn/auth",
        "https://sso.example.vn/token",
    )
    .userinfo_endpoint("https://sso.example.vn/me")
    .jwks_uri("https://sso.example.vn/certs")
    .pushed_authorization_request_endpoint("https://sso.example.vn/par")
    .require_pushed_authorization_requests(true)
    .authorization_response_iss_parameter_supported(true)
    .token_endpoint_auth_method("client_secret_post");
    assert_eq!(external(&config).endpoints(), Some(&expected));

    // The file alone; an endpoint may carry a query, and http is fine on loopback.
    let toml = "[provider]\n\
                issuer = \"http://127.0.0.1:9000\"\n\
                authorization_endpoint = \"http://127.0.0.1:9000/auth?realm=citizen\"\n\
                token_endpoint = \"http://127.0.0.1:9000/token\"\n";
    let env = with(&[("WARDGATE_ISSUER", "")]);
    let config = load(&env, toml).unwrap();
    assert_eq!(
        external(&config).endpoints(),
        Some(&ProviderEndpoints::new(
            "http://127.0.0.1:9000/auth?realm=citizen",
            "http://127.0.0.1:9000/token",
        ))
    );
}

#[test]
fn configured_endpoints_in_a_providers_table() {
    let toml = "[[providers]]\n\
                id = \"vneid\"\n\
                profile = \"vneid-direct\"\n\
                issuer = \"https://sso.dancuquocgia.gov.vn\"\n\
                client_id = \"ward-portal\"\n\
                client_secret = \"s\"\n\
                authorization_endpoint = \"https://sso.dancuquocgia.gov.vn/auth\"\n\
                token_endpoint = \"https://sso.dancuquocgia.gov.vn/token\"\n\
                userinfo_endpoint = \"https://sso.dancuquocgia.gov.vn/userinfo\"\n\
                token_endpoint_auth_method = \"client_secret_basic\"\n\n\
                [[providers]]\n\
                id = \"npsp\"\n\
                profile = \"npsp\"\n";
    let config = loader(&[])
        .supplies_decryptor("vneid")
        .load_str("gateway.toml", toml)
        .unwrap();
    let [vneid, npsp] = config.providers() else {
        panic!("two providers")
    };
    let Provider::External(vneid) = vneid.provider() else {
        panic!("an external provider")
    };
    assert_eq!(
        vneid.endpoints(),
        Some(
            &ProviderEndpoints::new(
                "https://sso.dancuquocgia.gov.vn/auth",
                "https://sso.dancuquocgia.gov.vn/token",
            )
            .userinfo_endpoint("https://sso.dancuquocgia.gov.vn/userinfo")
        )
    );
    assert!(matches!(npsp.provider(), Provider::Simulator { .. }));
}

#[test]
fn endpoint_settings_are_validated_and_named() {
    let auth = (
        "WARDGATE_AUTHORIZATION_ENDPOINT",
        "https://sso.example.vn/auth",
    );
    let token = ("WARDGATE_TOKEN_ENDPOINT", "https://sso.example.vn/token");
    // The environment, the file, and the expected error.
    type Case = (
        Vec<(&'static str, &'static str)>,
        &'static str,
        &'static str,
    );
    let cases: [Case; 11] = [
        (
            with(&[token]),
            "",
            "WARDGATE_AUTHORIZATION_ENDPOINT: is required when WARDGATE_TOKEN_ENDPOINT is set: a \
             provider without a discovery document is configured with both its authorization \
             and token endpoints",
        ),
        (
            EXTERNAL.to_vec(),
            "[provider]\nauthorization_endpoint = \"https://sso.example.vn/auth\"\n",
            "WARDGATE_TOKEN_ENDPOINT: is required when gateway.toml: \
             provider.authorization_endpoint is set: a provider without a discovery document is \
             configured with both its authorization and token endpoints",
        ),
        (
            with(&[("WARDGATE_JWKS_URI", "https://sso.example.vn/certs")]),
            "",
            "WARDGATE_JWKS_URI: is set but authorization_endpoint and token_endpoint are not: \
             without them the provider's discovery document is used and this setting would be \
             ignored",
        ),
        (
            EXTERNAL.to_vec(),
            "[provider]\nauthorization_response_iss_parameter_supported = true\n",
            "gateway.toml: provider.authorization_response_iss_parameter_supported: is set but \
             authorization_endpoint and token_endpoint are not: without them the provider's \
             discovery document is used and this setting would be ignored",
        ),
        (
            with(&[
                auth,
                ("WARDGATE_TOKEN_ENDPOINT", "http://sso.example.vn/token"),
            ]),
            "",
            "WARDGATE_TOKEN_ENDPOINT: plain http is accepted only on a loopback host, not \
             `sso.example.vn`: use https",
        ),
        (
            with(&[auth, ("WARDGATE_TOKEN_ENDPOINT", "/token")]),
            "",
            "WARDGATE_TOKEN_ENDPOINT: `/token` is not an absolute URL",
        ),
        (
            with(&[auth, token]),
            "[provider]\nuserinfo_endpoint = \"https://sso.example.vn/userinfo#me\"\n",
            "gateway.toml: provider.userinfo_endpoint: `https://sso.example.vn/userinfo#me` must \
             not have a query or fragment",
        ),
        (
            with(&[auth, token]),
            "[provider]\nrequire_pushed_authorization_requests = true\n",
            "gateway.toml: provider.require_pushed_authorization_requests: is true but no \
             pushed_authorization_request_endpoint is set",
        ),
        (
            with(&[auth, token, ("WARDGATE_TOKEN_ENDPOINT_AUTH_METHOD", "none")]),
            "",
            "WARDGATE_TOKEN_ENDPOINT_AUTH_METHOD: `none` is not supported: use \
             client_secret_basic or client_secret_post (the gateway is a confidential client)",
        ),
        (
            vec![auth, token],
            "",
            "WARDGATE_AUTHORIZATION_ENDPOINT: is set but no issuer is: set `WARDGATE_ISSUER` \
             too, or remove it to use the built-in provider simulator",
        ),
        (
            vec![("WARDGATE_PAR_ENDPOINT", "https://sso.example.vn/par")],
            "[[providers]]\nid = \"a\"\n",
            "WARDGATE_PAR_ENDPOINT: cannot be combined with [[providers]] in the config file: \
             configure one provider with [provider] and the environment, or several with \
             [[providers]]",
        ),
    ];
    for (env, toml, expected) in cases {
        assert_eq!(error(&env, toml), expected, "{env:?} {toml}");
    }

    // In a table, the table's fields are named.
    let table = "[[providers]]\nid = \"a\"\nissuer = \"https://sso.example.vn\"\n\
                 client_id = \"c\"\nclient_secret = \"s\"\nacr_level2 = [\"LoA2\"]\n";
    assert_eq!(
        error(
            &[],
            &format!("{table}token_endpoint = \"https://sso.example.vn/token\"\n")
        ),
        "gateway.toml: providers[0].authorization_endpoint: is required when gateway.toml: \
         providers[0].token_endpoint is set: a provider without a discovery document is \
         configured with both its authorization and token endpoints"
    );
    assert_eq!(
        error(
            &[],
            "[[providers]]\nid = \"a\"\nrequire_pushed_authorization_requests = false\n"
        ),
        "gateway.toml: providers[0].require_pushed_authorization_requests: is set but the \
         provider has no issuer: set issuer too, or remove it to use a built-in provider \
         simulator"
    );
    assert_eq!(
        error(
            &[],
            "[[providers]]\nid = \"a\"\njwks_uri = \"https://sso.example.vn/certs\"\n"
        ),
        "gateway.toml: providers[0].jwks_uri: is set but the provider has no issuer: set issuer \
         too, or remove it to use a built-in provider simulator"
    );
    assert_eq!(
        error(
            &[],
            &format!(
                "{table}authorization_endpoint = \"https://sso.example.vn/auth\"\n\
                 token_endpoint = \"https://sso.example.vn/token\"\n\
                 token_endpoint_auth_method = \"private_key_jwt\"\n"
            )
        ),
        "gateway.toml: providers[0].token_endpoint_auth_method: `private_key_jwt` is not \
         supported: use client_secret_basic or client_secret_post (the gateway is a \
         confidential client)"
    );
}

#[test]
fn the_simulator_runs_off_loopback_only_when_asked() {
    let public = (
        "WARDGATE_PUBLIC_URL",
        "https://dichvucong.phuong.example.vn",
    );
    assert_eq!(
        error(&[public], ""),
        "WARDGATE_ISSUER: is required when the public URL `https://dichvucong.phuong.example.vn/` \
         is not a loopback address: without an issuer the built-in provider simulator would sign \
         anyone in. Set the provider's issuer, client_id and client_secret (or \
         WARDGATE_SIMULATOR=1 for a test deployment)"
    );
    assert!(
        error(&[public], "[[providers]]\nid = \"a\"\n")
            .starts_with("gateway.toml: providers[0].issuer: is required when the public URL"),
    );
    assert!(matches!(
        load(&[public, ("WARDGATE_SIMULATOR", "1")], "")
            .unwrap()
            .provider(),
        Provider::Simulator { .. }
    ));
    assert!(load(&[("WARDGATE_PUBLIC_URL", "http://localhost:8080")], "").is_ok());
    // An external provider needs no permission.
    assert!(load(&with(&[public]), "").is_ok());
}

#[cfg(feature = "devidp")]
#[tokio::test]
async fn the_simulator_grants_no_staff_role_off_loopback() {
    let has_staff = |config: &GatewayConfig| {
        let provider = config.providers()[0].clone();
        async move {
            let (idp, _) = provider.start_simulator(true).await.unwrap().unwrap();
            idp.personas().iter().any(|persona| {
                matches!(&persona.outcome, crate::devidp::PersonaOutcome::Authenticates { identity, .. }
                    if identity.roles().iter().any(|r| r == crate::devidp::STAFF_ROLE))
            })
        }
    };
    let loopback = load(&[], "").unwrap();
    assert!(has_staff(&loopback).await);
    let public = load(
        &[
            ("WARDGATE_PUBLIC_URL", "https://test.phuong.example.vn"),
            ("WARDGATE_SIMULATOR", "1"),
        ],
        "",
    )
    .unwrap();
    assert!(!has_staff(&public).await);
}

#[test]
fn the_stats_token_is_read_from_the_environment_or_the_file_and_checked() {
    assert!(load(&[], "").unwrap().stats_token().is_none());
    let token = "a3f1c9e07b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f";
    let from_env = load(&[("WARDGATE_STATS_TOKEN", token)], "").unwrap();
    assert!(from_env.stats_token().is_some());
    let from_file = load(&[], &format!("stats_token = \"{token}\"\n")).unwrap();
    assert!(from_file.stats_token().is_some());
    assert_eq!(
        error(&[("WARDGATE_STATS_TOKEN", "secret")], ""),
        "WARDGATE_STATS_TOKEN: is too weak: use at least 32 characters of visible ASCII (for \
         example 32 random bytes in hex)"
    );
    // The token never shows in the configuration's debug output.
    assert!(!format!("{from_env:?}").contains(token));
}

#[test]
fn metrics_bind_and_token_are_read_and_checked() {
    let config = load(&[], "").unwrap();
    assert_eq!(config.metrics_bind(), None);
    assert!(config.metrics_token().is_none());
    let token = "0f6c1b5e9a8d4c3b2a1f0e9d8c7b6a5f4e3d2c1b";
    let config = load(
        &[
            ("WARDGATE_METRICS_BIND", "127.0.0.1:9090"),
            ("WARDGATE_METRICS_TOKEN", token),
        ],
        "",
    )
    .unwrap();
    assert_eq!(
        config.metrics_bind(),
        Some(SocketAddr::from(([127, 0, 0, 1], 9090)))
    );
    assert!(config.metrics_token().is_some());
    let from_file = load(&[], "metrics_bind = \"10.0.0.5:9090\"\n").unwrap();
    assert_eq!(
        from_file.metrics_bind(),
        Some(SocketAddr::from(([10, 0, 0, 5], 9090)))
    );
    assert_eq!(
        error(&[("WARDGATE_METRICS_TOKEN", "secret")], ""),
        "WARDGATE_METRICS_TOKEN: is too weak: use at least 32 characters of visible ASCII (for \
         example 32 random bytes in hex)"
    );
    assert_eq!(
        error(&[("WARDGATE_METRICS_BIND", "metrics")], ""),
        "WARDGATE_METRICS_BIND: `metrics` is not a socket address such as `127.0.0.1:8080`"
    );
}

#[test]
fn back_office_status_keys_are_hex_of_32_bytes() {
    assert!(load(&[], "").unwrap().backoffice_status_keys().is_empty());
    let key = "2a".repeat(32);
    let old = "07".repeat(40);
    let both = format!("{key},{old}");
    let config = load(&[("WARDGATE_BACKOFFICE_STATUS_KEYS", both.as_str())], "").unwrap();
    assert_eq!(config.backoffice_status_keys().len(), 2);
    let from_file = load(&[], &format!("backoffice_status_keys = [\"{key}\"]\n")).unwrap();
    assert_eq!(from_file.backoffice_status_keys().len(), 1);
    let refused = "WARDGATE_BACKOFFICE_STATUS_KEYS: is not a back-office status key: use at \
                   least 64 hex digits (32 random bytes), comma-separated during a rotation";
    let short = "2a".repeat(31);
    assert_eq!(
        error(&[("WARDGATE_BACKOFFICE_STATUS_KEYS", short.as_str())], ""),
        refused
    );
    let not_hex = format!("{}zz", "2a".repeat(32));
    assert_eq!(
        error(&[("WARDGATE_BACKOFFICE_STATUS_KEYS", not_hex.as_str())], ""),
        refused
    );
    assert!(
        error(&[], "backoffice_status_keys = [\"abc\"]\n")
            .contains("is not a back-office status key")
    );
}

#[test]
fn booking_limits_default_to_three_active_bookings_and_read_the_file() {
    let limits = load(&[], "").unwrap().rate_limits().clone();
    assert_eq!(limits.booking, RateLimit::DEFAULT_BOOKING);
    assert_eq!(limits.active_bookings_per_address, 3);
    let toml = "[rate_limit]\nbooking_per_minute = 2\nbooking_burst = 4\n\
                active_bookings_per_address = 0\n";
    let limits = load(&[], toml).unwrap().rate_limits().clone();
    assert_eq!(limits.booking, RateLimit::new(2, 4));
    assert_eq!(limits.active_bookings_per_address, 0);
    assert_eq!(
        error(&[], "[rate_limit]\nactive_bookings_per_address = 500\n"),
        "gateway.toml: rate_limit.active_bookings_per_address: 500 is out of range: use 0 to 100"
    );
}

#[test]
fn the_assisted_idle_time_defaults_to_5_minutes_and_reads_the_file_then_the_environment() {
    assert_eq!(load(&[], "").unwrap().staff().assisted_idle_minutes(), 5);
    let toml = "[assisted]\nidle_minutes = 3\n";
    assert_eq!(load(&[], toml).unwrap().staff().assisted_idle_minutes(), 3);
    let env = [("WARDGATE_ASSISTED_IDLE_MINUTES", "10")];
    assert_eq!(
        load(&env, toml).unwrap().staff().assisted_idle_minutes(),
        10
    );
    assert_eq!(
        error(&[], "[assisted]\nidle_minutes = 0\n"),
        "gateway.toml: assisted.idle_minutes: 0 is out of range: use 1 to 60"
    );
    let env = [("WARDGATE_ASSISTED_IDLE_MINUTES", "600")];
    assert_eq!(
        error(&env, ""),
        "WARDGATE_ASSISTED_IDLE_MINUTES: 600 is out of range: use 1 to 60"
    );
    assert!(error(&[], "[assisted]\nidle = 3\n").contains("unknown field"));
}

#[test]
fn staff_session_settings_are_validated_and_default_to_15_minutes_and_8_hours() {
    let config = load(&[], "").unwrap();
    let staff = config.staff();
    assert_eq!(staff.idle_minutes(), 15);
    assert_eq!(staff.absolute_minutes(), 480);
    assert_eq!(staff.max_auth_age_minutes(), 5);
    assert_eq!(staff.role_provider_id(), None);
    assert!(!staff.role_trusts_userinfo());

    let config = load(
        &[],
        "[staff]\nidle_minutes = 10\nabsolute_minutes = 60\nmax_auth_age_minutes = 0\n\
         role_provider = \"default\"\nrole_from_userinfo = true\n",
    )
    .unwrap();
    let staff = config.staff();
    assert_eq!(
        (
            staff.idle_minutes(),
            staff.absolute_minutes(),
            staff.max_auth_age_minutes()
        ),
        (10, 60, 0)
    );
    assert_eq!(staff.role_provider_id(), Some("default"));
    assert_eq!(
        error(&[], "[staff]\nrole_provider = \"vneid\"\n"),
        "gateway.toml: staff.role_provider: `vneid` is not the id of a configured provider"
    );
    assert!(staff.role_trusts_userinfo());

    assert_eq!(
        error(&[], "[staff]\nidle_minutes = 0\n"),
        "gateway.toml: staff.idle_minutes: 0 minutes is out of range: use 1 to 10080"
    );
    assert_eq!(
        error(&[], "[staff]\nidle_minutes = 90\nabsolute_minutes = 60\n"),
        error(&[], "[session]\nidle_minutes = 90\nabsolute_minutes = 60\n")
            .replace("session.", "staff.")
    );
    assert_eq!(
        error(&[], "[staff]\nrole_provider = \" \"\n"),
        "gateway.toml: staff.role_provider: is empty"
    );
}

#[test]
fn the_outbox_lease_defaults_to_five_minutes_and_reads_the_environment_and_the_file() {
    use std::time::Duration;
    assert_eq!(
        load(&[], "").unwrap().outbox_lease(),
        Duration::from_secs(300)
    );
    let from_env = load(&[("WARDGATE_OUTBOX_LEASE_SECONDS", "45")], "").unwrap();
    assert_eq!(from_env.outbox_lease(), Duration::from_secs(45));
    let from_file = load(&[], "outbox_lease_seconds = 600\n").unwrap();
    assert_eq!(from_file.outbox_lease(), Duration::from_secs(600));
    assert_eq!(
        error(&[], "outbox_lease_seconds = 5\n"),
        "gateway.toml: outbox_lease_seconds: 5 is out of range: use 30 to 3600"
    );
    assert_eq!(
        error(&[("WARDGATE_OUTBOX_LEASE_SECONDS", "7200")], ""),
        "WARDGATE_OUTBOX_LEASE_SECONDS: 7200 is out of range: use 30 to 3600"
    );
}

#[test]
fn the_anonymous_ticket_allowance_defaults_to_10_and_reads_the_file_then_the_environment() {
    assert_eq!(
        load(&[], "").unwrap().anonymous_tickets_per_hour().get(),
        10
    );
    let toml = "[limits]\nanonymous_tickets_per_hour = 200\n";
    assert_eq!(
        load(&[], toml).unwrap().anonymous_tickets_per_hour().get(),
        200
    );
    let env = [(ENV_ANONYMOUS_TICKETS_PER_HOUR, "3")];
    assert_eq!(
        load(&env, toml).unwrap().anonymous_tickets_per_hour().get(),
        3
    );
    let env = [(ENV_ANONYMOUS_TICKETS_PER_HOUR, "10000")];
    assert_eq!(
        load(&env, "").unwrap().anonymous_tickets_per_hour().get(),
        10_000
    );
    // The other limits of the section are not touched.
    assert_eq!(
        load(&[], toml).unwrap().request_limits(),
        &RequestLimits::DEFAULT
    );
}

#[test]
fn a_refused_anonymous_ticket_allowance_names_the_variable_or_field() {
    assert_eq!(
        error(&[], "[limits]\nanonymous_tickets_per_hour = 0\n"),
        "gateway.toml: limits.anonymous_tickets_per_hour: 0 would mean a referral never carries \
         a ticket for a resident who is not signed in, which is never what a ward wants: use 1 \
         to 10000 (more when many residents share one address)"
    );
    assert_eq!(
        error(&[(ENV_ANONYMOUS_TICKETS_PER_HOUR, "0")], ""),
        "WARDGATE_ANONYMOUS_TICKETS_PER_HOUR: 0 would mean a referral never carries a ticket \
         for a resident who is not signed in, which is never what a ward wants: use 1 to 10000 \
         (more when many residents share one address)"
    );
    assert_eq!(
        error(&[(ENV_ANONYMOUS_TICKETS_PER_HOUR, "10001")], ""),
        "WARDGATE_ANONYMOUS_TICKETS_PER_HOUR: 10001 is out of range: use 1 to 10000"
    );
    assert_eq!(
        error(&[], "[limits]\nanonymous_tickets_per_hour = -1\n"),
        "gateway.toml: limits.anonymous_tickets_per_hour: -1 is out of range: use 1 to 10000"
    );
    assert_eq!(
        error(&[(ENV_ANONYMOUS_TICKETS_PER_HOUR, "many")], ""),
        "WARDGATE_ANONYMOUS_TICKETS_PER_HOUR: `many` is not a whole number"
    );
    // The variable wins over the file, also over a refused value there.
    let env = [(ENV_ANONYMOUS_TICKETS_PER_HOUR, "5")];
    let toml = "[limits]\nanonymous_tickets_per_hour = 0\n";
    assert_eq!(
        load(&env, toml).unwrap().anonymous_tickets_per_hour().get(),
        5
    );
}

const UPSTREAM: &str = "[upstream]\nurl = \"http://127.0.0.1:9000\"\n";

#[test]
fn the_upstream_connect_and_response_timeouts_read_the_file_then_the_environment() {
    use std::time::Duration;
    let upstream = |env: &[(&str, &str)], toml: &str| {
        let config = load(env, toml).unwrap();
        let upstream = config.upstream().unwrap();
        (upstream.connect_timeout(), upstream.response_timeout())
    };
    assert_eq!(
        upstream(&[], UPSTREAM),
        (
            crate::portal::upstream::DEFAULT_CONNECT_TIMEOUT,
            crate::portal::upstream::DEFAULT_RESPONSE_TIMEOUT
        )
    );
    let toml = format!("{UPSTREAM}connect_timeout_seconds = 2\nresponse_timeout_seconds = 120\n");
    assert_eq!(
        upstream(&[], &toml),
        (Duration::from_secs(2), Duration::from_secs(120))
    );
    let env = [
        (ENV_UPSTREAM_CONNECT_TIMEOUT, "3"),
        (ENV_UPSTREAM_RESPONSE_TIMEOUT, "900"),
    ];
    assert_eq!(
        upstream(&env, &toml),
        (Duration::from_secs(3), Duration::from_secs(900))
    );
    // One variable set, the other field still from the file.
    assert_eq!(
        upstream(&[(ENV_UPSTREAM_RESPONSE_TIMEOUT, "900")], &toml),
        (Duration::from_secs(2), Duration::from_secs(900))
    );
    // Without an upstream the variables configure nothing and are not read.
    assert!(
        load(&[(ENV_UPSTREAM_CONNECT_TIMEOUT, "0")], "")
            .unwrap()
            .upstream()
            .is_none()
    );
}

#[test]
fn a_refused_upstream_connect_or_response_timeout_names_the_variable_or_field() {
    assert_eq!(
        error(&[(ENV_UPSTREAM_CONNECT_TIMEOUT, "0")], UPSTREAM),
        "WARDGATE_UPSTREAM_CONNECT_TIMEOUT_SECONDS: 0 is out of range: use 1 to 300"
    );
    assert_eq!(
        error(&[(ENV_UPSTREAM_RESPONSE_TIMEOUT, "-30")], UPSTREAM),
        "WARDGATE_UPSTREAM_RESPONSE_TIMEOUT_SECONDS: -30 is out of range: use 1 to 86400"
    );
    assert_eq!(
        error(&[(ENV_UPSTREAM_RESPONSE_TIMEOUT, "30s")], UPSTREAM),
        "WARDGATE_UPSTREAM_RESPONSE_TIMEOUT_SECONDS: `30s` is not a whole number"
    );
    assert_eq!(
        error(&[], &format!("{UPSTREAM}connect_timeout_seconds = 0\n")),
        "gateway.toml: upstream.connect_timeout_seconds: 0 is out of range: use 1 to 300"
    );
    assert_eq!(
        error(&[], &format!("{UPSTREAM}response_timeout_seconds = 0\n")),
        "gateway.toml: upstream.response_timeout_seconds: 0 is out of range: use 1 to 86400"
    );
    // The variable wins over a refused file value.
    let toml = format!("{UPSTREAM}response_timeout_seconds = 0\n");
    let config = load(&[(ENV_UPSTREAM_RESPONSE_TIMEOUT, "60")], &toml).unwrap();
    assert_eq!(
        config.upstream().unwrap().response_timeout(),
        std::time::Duration::from_secs(60)
    );
}
