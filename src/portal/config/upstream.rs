//! Gateway mode's section: the upstream portal and the gate rules of its paths.

use url::Url;

use super::env::{ENV_UPSTREAM, Lookup};
use super::error::{ConfigError, SettingError, invalid};
use crate::portal::upstream::{GateRuleToml, Upstream, UpstreamToml};

/// The upstream when `WARDGATE_UPSTREAM` or `upstream.url` is set; its rules from `[[gate]]`.
pub(super) fn build_upstream(
    cx: &Lookup<'_>,
    table: Option<UpstreamToml>,
    rules: &[GateRuleToml],
) -> Result<Option<Upstream>, ConfigError> {
    let table = table.unwrap_or_default();
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
    Upstream::from_toml(url, &table, rules)
        .map(Some)
        .map_err(|error| invalid(setting.origin, SettingError::Upstream(error)))
}

#[cfg(test)]
mod tests {
    use crate::portal::config::GatewayConfig;
    use crate::portal::upstream::Requirement;

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
}
