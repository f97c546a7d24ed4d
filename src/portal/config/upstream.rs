//! Gateway mode's section: the upstream portal and the gate rules of its paths.

use url::Url;

use super::env::{
    ENV_UPSTREAM, ENV_UPSTREAM_BODY_IDLE_TIMEOUT, ENV_UPSTREAM_BODY_TIMEOUT,
    ENV_UPSTREAM_CONNECT_TIMEOUT, ENV_UPSTREAM_RESPONSE_TIMEOUT, Lookup,
};
use super::error::{ConfigError, SettingError, invalid};
use super::values::number;
use crate::portal::upstream::{GateRuleToml, Upstream, UpstreamToml};

/// The body timeouts, in seconds: up to an hour between two pieces, a day in all.
const BODY_IDLE_RANGE: (i64, i64) = (1, 3_600);
const BODY_TOTAL_RANGE: (i64, i64) = (1, 86_400);
/// The connect timeout, in seconds: up to five minutes (a loopback or LAN upstream answers in
/// milliseconds). The response timeout: up to a day, as the body's.
const CONNECT_RANGE: (i64, i64) = (1, 300);
const RESPONSE_RANGE: (i64, i64) = (1, 86_400);

/// The upstream when `WARDGATE_UPSTREAM` or `upstream.url` is set; its rules from `[[gate]]`.
pub(super) fn build_upstream(
    cx: &Lookup<'_>,
    table: Option<UpstreamToml>,
    rules: &[GateRuleToml],
) -> Result<Option<Upstream>, ConfigError> {
    let mut table = table.unwrap_or_default();
    let Some(setting) = cx.lookup(ENV_UPSTREAM, table.url.clone(), "upstream.url") else {
        return Ok(None);
    };
    let value = setting.value.trim();
    let url = Url::parse(value).map_err(|_| {
        invalid(
            setting.origin.clone(),
            SettingError::InvalidUrl {
                value: value.to_owned(),
            },
        )
    })?;
    // The timeouts also have variables; each is checked here, naming its own field.
    let seconds = |variable, from_file: Option<u64>, field, range| {
        let from_file = from_file.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        number(cx, Some(variable), from_file, field, range)
            .map(|value| value.and_then(|v| u64::try_from(v).ok()))
    };
    table.connect_timeout_seconds = seconds(
        ENV_UPSTREAM_CONNECT_TIMEOUT,
        table.connect_timeout_seconds,
        "upstream.connect_timeout_seconds",
        CONNECT_RANGE,
    )?;
    table.response_timeout_seconds = seconds(
        ENV_UPSTREAM_RESPONSE_TIMEOUT,
        table.response_timeout_seconds,
        "upstream.response_timeout_seconds",
        RESPONSE_RANGE,
    )?;
    table.body_idle_timeout_seconds = seconds(
        ENV_UPSTREAM_BODY_IDLE_TIMEOUT,
        table.body_idle_timeout_seconds,
        "upstream.body_idle_timeout_seconds",
        BODY_IDLE_RANGE,
    )?;
    table.body_timeout_seconds = seconds(
        ENV_UPSTREAM_BODY_TIMEOUT,
        table.body_timeout_seconds,
        "upstream.body_timeout_seconds",
        BODY_TOTAL_RANGE,
    )?;
    Upstream::from_toml(url, &table, rules)
        .map(Some)
        .map_err(|error| invalid(setting.origin, SettingError::Upstream(error)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::portal::config::GatewayConfig;
    use crate::portal::upstream::{DEFAULT_BODY_TIMEOUT, Requirement};

    const FILE: &str = r#"
[upstream]
url = "http://127.0.0.1:9000"
max_body_bytes = 1048576

[[gate]]
path_prefix = "/nop-ho-so/khai-sinh"
procedure = "1.001193"

[[gate]]
default = true
level = 2
"#;

    #[test]
    fn the_file_configures_the_upstream_and_the_environment_wins() {
        let config = GatewayConfig::loader(|_| None)
            .load_str("gateway.toml", FILE)
            .unwrap();
        let upstream = config.upstream().unwrap();
        assert_eq!(upstream.url().as_str(), "http://127.0.0.1:9000/");
        assert_eq!(
            upstream.rule_for("/other").map(|r| r.requirement().clone()),
            Some(Requirement::Level(crate::Level::Two))
        );

        let config = GatewayConfig::loader(|name| {
            (name == "WARDGATE_UPSTREAM").then(|| "http://10.0.0.5:8000".to_owned())
        })
        .load_str("gateway.toml", FILE)
        .unwrap();
        assert_eq!(
            config.upstream().unwrap().url().as_str(),
            "http://10.0.0.5:8000/"
        );
        assert!(
            GatewayConfig::loader(|_| None)
                .load_str("gateway.toml", "")
                .unwrap()
                .upstream()
                .is_none()
        );
    }

    #[test]
    fn a_rule_without_a_requirement_is_refused_naming_the_setting() {
        let error = GatewayConfig::loader(|_| None)
            .load_str(
                "gateway.toml",
                "[upstream]\nurl = \"http://127.0.0.1:9000\"\n[[gate]]\npath_prefix = \"/a\"\n",
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "gateway.toml: upstream.url: the gate rule for \"/a\" needs exactly one of procedure, level or public = true"
        );
    }

    #[test]
    fn the_body_timeouts_come_from_the_file_or_the_environment_and_are_checked() {
        let file = FILE.replace(
            "max_body_bytes = 1048576",
            "max_body_bytes = 1048576\nbody_idle_timeout_seconds = 0",
        );
        let error = GatewayConfig::loader(|_| None)
            .load_str("gateway.toml", &file)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "gateway.toml: upstream.body_idle_timeout_seconds: 0 is out of range: use 1 to 3600"
        );

        let error = GatewayConfig::loader(|name| {
            (name == "WARDGATE_UPSTREAM_BODY_TIMEOUT_SECONDS").then(|| "soon".to_owned())
        })
        .load_str("gateway.toml", FILE)
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "WARDGATE_UPSTREAM_BODY_TIMEOUT_SECONDS: `soon` is not a whole number"
        );

        let config = GatewayConfig::loader(|name| {
            (name == "WARDGATE_UPSTREAM_BODY_IDLE_TIMEOUT_SECONDS").then(|| "7".to_owned())
        })
        .load_str("gateway.toml", FILE)
        .unwrap();
        let upstream = config.upstream().unwrap();
        assert_eq!(upstream.body_idle_timeout(), Duration::from_secs(7));
        assert_eq!(upstream.body_timeout(), DEFAULT_BODY_TIMEOUT);
    }
}
