//! The identity providers: `[provider]` with the provider variables, or `[[providers]]`.

use std::fmt;

use url::Url;
use zeroize::Zeroizing;

use super::CALLBACK_PATH;
use super::env::{
    ENV_ACR_LEVEL1, ENV_ACR_LEVEL2, ENV_AUTHORIZATION_ENDPOINT, ENV_CLIENT_ID, ENV_CLIENT_SECRET,
    ENV_ISSUER, ENV_JWKS_URI, ENV_PAR_ENDPOINT, ENV_PROVIDER_PROFILE, ENV_PUBLIC_URL,
    ENV_TOKEN_ENDPOINT, ENV_TOKEN_ENDPOINT_AUTH_METHOD, ENV_USERINFO_ENDPOINT, Lookup, Setting,
};
use super::error::{ConfigError, Origin, SettingError, invalid};
use super::file::{RawProvider, RawProviderTable};
use super::values::{parse_endpoint, parse_web_url};
use crate::assurance::{AcrTable, LevelSource, LevelSourceError};
use crate::i18n::LocalText;
use crate::oidc::{ClientConfig, ProviderEndpoints, ProviderProfile, UnknownProfile};
use crate::portal::providers::{ProviderId, profile_texts};

/// The identity provider the gateway logs residents in with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Provider {
    /// No issuer is configured: the built-in provider simulator runs.
    Simulator {
        /// How to read the level, when configured; `None` uses the simulator's own.
        level_source: Option<LevelSource>,
    },
    /// An external OpenID Provider.
    External(ExternalProvider),
}

/// An external OpenID Provider, registered as a confidential client.
#[derive(Clone, Debug)]
pub struct ExternalProvider {
    issuer: String,
    client_id: String,
    client_secret: ClientSecret,
    level_source: LevelSource,
    /// Boxed: most providers are discovered, and this keeps [`Provider`]'s variants close in size.
    endpoints: Option<Box<ProviderEndpoints>>,
}

impl ExternalProvider {
    /// The issuer, exactly as configured (compared exactly with the provider's `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret (`client_secret_basic`, or `client_secret_post` when that is all the
    /// provider supports).
    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }

    /// Where the provider states the level.
    pub fn level_source(&self) -> &LevelSource {
        &self.level_source
    }

    /// The configured endpoints of a provider that publishes no discovery document; `None`
    /// discovers them at the issuer.
    pub fn endpoints(&self) -> Option<&ProviderEndpoints> {
        self.endpoints.as_deref()
    }
}

/// One identity provider of the configuration: `[provider]` (with the environment) or one
/// `[[providers]]` table.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    id: ProviderId,
    label: LocalText,
    hint: LocalText,
    profile: ProviderProfile,
    provider: Provider,
    redirect_uri: Url,
    encrypted_responses: bool,
    /// The field to name when the encrypted responses cannot be opened.
    encrypted_origin: Origin,
}

impl ProviderConfig {
    /// The id: `default` for `[provider]`, the table's `id` for `[[providers]]`.
    pub fn id(&self) -> &ProviderId {
        &self.id
    }

    /// The name on the chooser (the table's `label`, else the profile's).
    pub fn label(&self) -> &LocalText {
        &self.label
    }

    /// Who should choose this provider, in plain words (the table's `hint`, else the
    /// profile's).
    pub fn hint(&self) -> &LocalText {
        &self.hint
    }

    /// The provider's profile.
    pub fn profile(&self) -> ProviderProfile {
        self.profile
    }

    /// The built-in simulator (in [`profile`](Self::profile)) or an external provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Whether the provider encrypts its token and userinfo responses (`encrypted_responses`;
    /// `true` by default for `vneid-direct`).
    pub fn encrypted_responses(&self) -> bool {
        self.encrypted_responses
    }

    /// The relying party's configuration for this provider when it has an issuer: the
    /// profile's defaults, the client id and secret, the level source; `None` for a simulator
    /// (with the `devidp` feature, `ProviderConfig::start_simulator` starts one).
    ///
    /// `staff_userinfo` fetches userinfo even when the profile would not (a staff role claim
    /// lives there). A provider whose responses are encrypted still needs
    /// [`ClientConfig::envelope_decryptor`](crate::oidc::ClientConfig::envelope_decryptor).
    pub fn client_config(&self, staff_userinfo: bool) -> Option<ClientConfig> {
        let Provider::External(external) = &self.provider else {
            return None;
        };
        Some(
            ClientConfig::new(external.client_id(), self.redirect_uri.clone())
                .profile(self.profile)
                .client_secret(external.client_secret().secret())
                .level_source(external.level_source().clone())
                .fetch_userinfo(self.profile.fetches_userinfo() || staff_userinfo),
        )
    }

    /// Whether an external provider's encrypted responses need a decryptor from the caller.
    fn needs_decryptor(&self) -> bool {
        self.encrypted_responses && matches!(self.provider, Provider::External(_))
    }
}

/// Refuses an external provider whose encrypted responses nobody opens: `supplied` lists the
/// provider ids the caller supplies an envelope decryptor for.
pub(super) fn check_decryptors(
    providers: &[ProviderConfig],
    supplied: &[String],
) -> Result<(), ConfigError> {
    for provider in providers {
        let supplied = supplied.iter().any(|id| id == provider.id.as_str());
        if provider.needs_decryptor() && !supplied {
            return Err(invalid(
                provider.encrypted_origin.clone(),
                SettingError::NeedsDecryptor {
                    profile: provider.profile,
                },
            ));
        }
    }
    Ok(())
}

/// The client secret; its `Debug` output is redacted and it is zeroed when dropped.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// The secret.
    ///
    /// # Security
    ///
    /// Hand it only to the relying party; never log it or put it in an error.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

pub(super) fn build_providers(
    cx: &Lookup<'_>,
    single: Option<RawProvider>,
    tables: Option<Vec<RawProviderTable>>,
    public_url: &Url,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let Some(tables) = tables else {
        return Ok(vec![build_single_provider(
            cx,
            single.unwrap_or_default(),
            public_url,
        )?]);
    };
    if single.is_some() {
        return Err(invalid(
            cx.file("provider"),
            SettingError::ProviderFormsCombined,
        ));
    }
    for variable in [
        ENV_PROVIDER_PROFILE,
        ENV_ISSUER,
        ENV_CLIENT_ID,
        ENV_CLIENT_SECRET,
        ENV_ACR_LEVEL1,
        ENV_ACR_LEVEL2,
        ENV_AUTHORIZATION_ENDPOINT,
        ENV_TOKEN_ENDPOINT,
        ENV_USERINFO_ENDPOINT,
        ENV_JWKS_URI,
        ENV_PAR_ENDPOINT,
        ENV_TOKEN_ENDPOINT_AUTH_METHOD,
    ] {
        if cx.is_set(variable) {
            return Err(invalid(
                Origin::env(variable),
                SettingError::ProviderFormsCombined,
            ));
        }
    }
    if tables.is_empty() {
        return Err(invalid(cx.file("providers"), SettingError::NoProviders));
    }
    let mut providers: Vec<ProviderConfig> = Vec::with_capacity(tables.len());
    for (index, table) in tables.into_iter().enumerate() {
        let provider = build_table_provider(cx, index, table, public_url)?;
        for earlier in &providers {
            if earlier.id == provider.id {
                return Err(invalid(
                    cx.table(index, "id"),
                    SettingError::DuplicateProviderId {
                        id: provider.id.to_string(),
                    },
                ));
            }
            if earlier.label.vi == provider.label.vi || earlier.label.en == provider.label.en {
                return Err(invalid(
                    cx.table(index, "label"),
                    SettingError::DuplicateLabel {
                        other: earlier.id.to_string(),
                    },
                ));
            }
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// `[provider]` and the provider variables: the single provider, id `default`.
fn build_single_provider(
    cx: &Lookup<'_>,
    raw: RawProvider,
    public_url: &Url,
) -> Result<ProviderConfig, ConfigError> {
    let profile_setting = cx.lookup(ENV_PROVIDER_PROFILE, raw.profile, "provider.profile");
    let (profile, profile_origin) =
        parse_profile(profile_setting, Origin::env(ENV_PROVIDER_PROFILE))?;
    let issuer = cx.lookup(ENV_ISSUER, raw.issuer, "provider.issuer");
    let client_id = cx.lookup(ENV_CLIENT_ID, raw.client_id, "provider.client_id");
    let client_secret = cx.lookup(
        ENV_CLIENT_SECRET,
        raw.client_secret,
        "provider.client_secret",
    );
    if raw.level_claim.is_some()
        && (raw.acr_level1.is_some() || raw.acr_level2.is_some() || raw.level_source.is_some())
    {
        return Err(invalid(
            cx.file("provider.level_claim"),
            SettingError::ConflictingLevelClaim,
        ));
    }
    let explicit = build_level_source(cx, raw.acr_level1, raw.acr_level2, raw.level_source)?;
    let level_claim = raw.level_claim.map(|value| Setting {
        value,
        origin: cx.file("provider.level_claim"),
    });
    let level_source = with_level_claim(profile, &profile_origin, explicit, level_claim)?;
    let encrypted = raw.encrypted_responses.map(|value| Setting {
        value,
        origin: cx.file("provider.encrypted_responses"),
    });
    let flag = |value: Option<bool>, field| {
        value.map(|value| Setting {
            value,
            origin: cx.file(field),
        })
    };
    let endpoints = EndpointSettings {
        authorization: cx.lookup(
            ENV_AUTHORIZATION_ENDPOINT,
            raw.authorization_endpoint,
            "provider.authorization_endpoint",
        ),
        token: cx.lookup(
            ENV_TOKEN_ENDPOINT,
            raw.token_endpoint,
            "provider.token_endpoint",
        ),
        userinfo: cx.lookup(
            ENV_USERINFO_ENDPOINT,
            raw.userinfo_endpoint,
            "provider.userinfo_endpoint",
        ),
        jwks: cx.lookup(ENV_JWKS_URI, raw.jwks_uri, "provider.jwks_uri"),
        pushed: cx.lookup(
            ENV_PAR_ENDPOINT,
            raw.pushed_authorization_request_endpoint,
            "provider.pushed_authorization_request_endpoint",
        ),
        require_pushed: flag(
            raw.require_pushed_authorization_requests,
            "provider.require_pushed_authorization_requests",
        ),
        iss_supported: flag(
            raw.authorization_response_iss_parameter_supported,
            "provider.authorization_response_iss_parameter_supported",
        ),
        auth_method: cx.lookup(
            ENV_TOKEN_ENDPOINT_AUTH_METHOD,
            raw.token_endpoint_auth_method,
            "provider.token_endpoint_auth_method",
        ),
    };
    let (provider, encrypted_responses, encrypted_origin) = resolve_provider(
        ProviderSettings {
            profile,
            profile_origin,
            issuer,
            client_id,
            client_secret,
            level_source,
            encrypted,
            endpoints,
        },
        &Wording {
            missing_client_id: Origin::env(ENV_CLIENT_ID),
            missing_client_secret: Origin::env(ENV_CLIENT_SECRET),
            missing_level: Origin::env(ENV_ACR_LEVEL2),
            missing_authorization_endpoint: Origin::env(ENV_AUTHORIZATION_ENDPOINT),
            missing_token_endpoint: Origin::env(ENV_TOKEN_ENDPOINT),
            needs_issuer: SettingError::NeedsIssuer,
            required: SettingError::RequiredWithIssuer,
            no_level: SettingError::NoLevelSource,
        },
    )?;
    let redirect_uri = callback_uri(public_url, CALLBACK_PATH)?;
    let (label, hint) = profile_texts(profile);
    Ok(ProviderConfig {
        id: ProviderId::default_id(),
        label,
        hint,
        profile,
        provider,
        redirect_uri,
        encrypted_responses,
        encrypted_origin,
    })
}

/// One `[[providers]]` table (the environment does not reach into it).
fn build_table_provider(
    cx: &Lookup<'_>,
    index: usize,
    raw: RawProviderTable,
    public_url: &Url,
) -> Result<ProviderConfig, ConfigError> {
    let at = |field| cx.table(index, field);
    let setting = |value: Option<String>, field| {
        value.map(|value| Setting {
            value,
            origin: at(field),
        })
    };
    let id = match raw.id {
        Some(id) => ProviderId::new(id.trim()).map_err(|error| invalid(at("id"), error.into()))?,
        None => return Err(invalid(at("id"), SettingError::Required)),
    };
    let (profile, profile_origin) = parse_profile(setting(raw.profile, "profile"), at("profile"))?;
    let text = |value: Option<LocalText>, field, default: LocalText| match value {
        Some(text) if text.is_incomplete() => Err(invalid(at(field), SettingError::Empty)),
        Some(text) => Ok(text),
        None => Ok(default),
    };
    let (default_label, default_hint) = profile_texts(profile);
    let label = text(raw.label, "label", default_label)?;
    let hint = text(raw.hint, "hint", default_hint)?;

    if raw.level_source.is_some() && (raw.acr_level1.is_some() || raw.acr_level2.is_some()) {
        return Err(invalid(
            at("level_source"),
            SettingError::ConflictingLevelSource,
        ));
    }
    if raw.level_claim.is_some()
        && (raw.acr_level1.is_some() || raw.acr_level2.is_some() || raw.level_source.is_some())
    {
        return Err(invalid(
            at("level_claim"),
            SettingError::ConflictingLevelClaim,
        ));
    }
    let explicit = match (raw.acr_level1, raw.acr_level2) {
        (None, None) => raw.level_source,
        (level1, level2) => {
            let level1 = level1.unwrap_or_default();
            let table =
                AcrTable::new(level1.clone(), level2.unwrap_or_default()).map_err(|error| {
                    let in_level1 = match &error {
                        LevelSourceError::MalformedValue { value }
                        | LevelSourceError::KeycloakDefaultAcr { value } => level1.contains(value),
                        LevelSourceError::DuplicateValue { value } => {
                            level1.iter().filter(|v| *v == value).count() > 1
                        }
                        _ => false,
                    };
                    let field = if in_level1 {
                        "acr_level1"
                    } else {
                        "acr_level2"
                    };
                    invalid(at(field), SettingError::AcrValues(error))
                })?;
            Some(LevelSource::acr(table))
        }
    };
    let level_source = with_level_claim(
        profile,
        &profile_origin,
        explicit,
        setting(raw.level_claim, "level_claim"),
    )?;
    let encrypted = raw.encrypted_responses.map(|value| Setting {
        value,
        origin: at("encrypted_responses"),
    });
    let flag = |value: Option<bool>, field| {
        value.map(|value| Setting {
            value,
            origin: at(field),
        })
    };
    let endpoints = EndpointSettings {
        authorization: setting(raw.authorization_endpoint, "authorization_endpoint"),
        token: setting(raw.token_endpoint, "token_endpoint"),
        userinfo: setting(raw.userinfo_endpoint, "userinfo_endpoint"),
        jwks: setting(raw.jwks_uri, "jwks_uri"),
        pushed: setting(
            raw.pushed_authorization_request_endpoint,
            "pushed_authorization_request_endpoint",
        ),
        require_pushed: flag(
            raw.require_pushed_authorization_requests,
            "require_pushed_authorization_requests",
        ),
        iss_supported: flag(
            raw.authorization_response_iss_parameter_supported,
            "authorization_response_iss_parameter_supported",
        ),
        auth_method: setting(raw.token_endpoint_auth_method, "token_endpoint_auth_method"),
    };
    let (provider, encrypted_responses, encrypted_origin) = resolve_provider(
        ProviderSettings {
            profile,
            profile_origin,
            issuer: setting(raw.issuer, "issuer"),
            client_id: setting(raw.client_id, "client_id"),
            client_secret: setting(raw.client_secret, "client_secret"),
            level_source,
            encrypted,
            endpoints,
        },
        &Wording {
            missing_client_id: at("client_id"),
            missing_client_secret: at("client_secret"),
            missing_level: at("acr_level2"),
            missing_authorization_endpoint: at("authorization_endpoint"),
            missing_token_endpoint: at("token_endpoint"),
            needs_issuer: SettingError::NeedsTableIssuer,
            required: SettingError::RequiredWithTableIssuer,
            no_level: SettingError::NoTableLevelSource,
        },
    )?;
    let redirect_uri = callback_uri(public_url, &id.callback_path())?;
    Ok(ProviderConfig {
        id,
        label,
        hint,
        profile,
        provider,
        redirect_uri,
        encrypted_responses,
        encrypted_origin,
    })
}

/// The profile named by `setting` (`standard` when unset) and the origin to name for it.
fn parse_profile(
    setting: Option<Setting<String>>,
    unset: Origin,
) -> Result<(ProviderProfile, Origin), ConfigError> {
    match setting {
        Some(setting) => {
            let profile = setting
                .value
                .trim()
                .parse()
                .map_err(|error: UnknownProfile| invalid(setting.origin.clone(), error.into()))?;
            Ok((profile, setting.origin))
        }
        None => Ok((ProviderProfile::default(), unset)),
    }
}

/// `level_claim` renames the claim of the profile's own level source; an explicit source
/// (`acr_level*`, `level_source`) is kept as it is.
fn with_level_claim(
    profile: ProviderProfile,
    profile_origin: &Origin,
    explicit: Option<LevelSource>,
    level_claim: Option<Setting<String>>,
) -> Result<Option<LevelSource>, ConfigError> {
    // A `keycloak-broker` must not map Keycloak's own "0"/"1"; other profiles may (numeric
    // levels), and the relying party warns about them at start-up.
    if let Some(source) = &explicit {
        profile
            .check_level_source(source)
            .map_err(|error| invalid(profile_origin.clone(), SettingError::AcrValues(error)))?;
    }
    let Some(claim) = level_claim else {
        return Ok(explicit);
    };
    if explicit.is_some() {
        return Ok(explicit);
    }
    let name = claim.value.trim();
    if name.is_empty() {
        return Err(invalid(claim.origin, SettingError::Empty));
    }
    Ok(Some(match profile.default_level_source() {
        LevelSource::IdTokenClaim { table, .. } => LevelSource::IdTokenClaim {
            claim: name.to_owned(),
            table,
        },
        LevelSource::UserinfoClaim { table, .. } => LevelSource::UserinfoClaim {
            claim: name.to_owned(),
            table,
        },
        // Every profile reads a claim today; should one not, the name has nothing to rename.
        other => other,
    }))
}

/// The settings of one provider, whichever form they came from.
struct ProviderSettings {
    profile: ProviderProfile,
    profile_origin: Origin,
    issuer: Option<Setting<String>>,
    client_id: Option<Setting<String>>,
    client_secret: Option<Setting<String>>,
    level_source: Option<LevelSource>,
    encrypted: Option<Setting<bool>>,
    endpoints: EndpointSettings,
}

/// The endpoint settings of one provider, for a provider without a discovery document.
struct EndpointSettings {
    authorization: Option<Setting<String>>,
    token: Option<Setting<String>>,
    userinfo: Option<Setting<String>>,
    jwks: Option<Setting<String>>,
    pushed: Option<Setting<String>>,
    require_pushed: Option<Setting<bool>>,
    iss_supported: Option<Setting<bool>>,
    auth_method: Option<Setting<String>>,
}

impl EndpointSettings {
    /// Where the first endpoint setting that is set came from, if any.
    fn first_origin(&self) -> Option<Origin> {
        [
            &self.authorization,
            &self.token,
            &self.userinfo,
            &self.jwks,
            &self.pushed,
        ]
        .into_iter()
        .flatten()
        .map(|s| &s.origin)
        .chain(self.require_pushed.iter().map(|s| &s.origin))
        .chain(self.iss_supported.iter().map(|s| &s.origin))
        .chain(self.auth_method.iter().map(|s| &s.origin))
        .next()
        .cloned()
    }

    /// The validated endpoints; `None` when neither endpoint is set (the provider is
    /// discovered).
    fn build(self, wording: &Wording) -> Result<Option<ProviderEndpoints>, ConfigError> {
        // With neither endpoint set, this is the first optional setting, if any.
        let first = self.first_origin();
        let (authorization, token) = match (self.authorization, self.token) {
            (Some(authorization), Some(token)) => (authorization, token),
            (None, None) => {
                return match first {
                    Some(origin) => Err(invalid(origin, SettingError::NeedsEndpoints)),
                    None => Ok(None),
                };
            }
            (Some(set), None) => {
                return Err(invalid(
                    wording.missing_token_endpoint.clone(),
                    SettingError::EndpointPair {
                        set: set.origin.to_string(),
                    },
                ));
            }
            (None, Some(set)) => {
                return Err(invalid(
                    wording.missing_authorization_endpoint.clone(),
                    SettingError::EndpointPair {
                        set: set.origin.to_string(),
                    },
                ));
            }
        };
        let mut endpoints =
            ProviderEndpoints::new(parse_endpoint(&authorization)?, parse_endpoint(&token)?);
        if let Some(setting) = &self.userinfo {
            endpoints = endpoints.userinfo_endpoint(parse_endpoint(setting)?);
        }
        if let Some(setting) = &self.jwks {
            endpoints = endpoints.jwks_uri(parse_endpoint(setting)?);
        }
        if let Some(setting) = &self.pushed {
            endpoints = endpoints.pushed_authorization_request_endpoint(parse_endpoint(setting)?);
        }
        if let Some(setting) = self.require_pushed {
            if setting.value && self.pushed.is_none() {
                return Err(invalid(setting.origin, SettingError::NeedsParEndpoint));
            }
            endpoints = endpoints.require_pushed_authorization_requests(setting.value);
        }
        if let Some(setting) = self.iss_supported {
            endpoints = endpoints.authorization_response_iss_parameter_supported(setting.value);
        }
        if let Some(setting) = self.auth_method {
            let method = setting.value.trim();
            // The gateway always has a client secret, so `none` cannot work.
            if !matches!(method, "client_secret_basic" | "client_secret_post") {
                return Err(invalid(
                    setting.origin.clone(),
                    SettingError::UnsupportedAuthMethod {
                        value: method.to_owned(),
                    },
                ));
            }
            endpoints = endpoints.token_endpoint_auth_method(method);
        }
        Ok(Some(endpoints))
    }
}

/// What to name, and say, when a setting is missing (the two forms word it differently).
struct Wording {
    missing_client_id: Origin,
    missing_client_secret: Origin,
    missing_level: Origin,
    missing_authorization_endpoint: Origin,
    missing_token_endpoint: Origin,
    needs_issuer: SettingError,
    required: SettingError,
    no_level: SettingError,
}

/// The simulator or an external provider, whether its responses are encrypted, and the field
/// to name if nobody can open them.
fn resolve_provider(
    settings: ProviderSettings,
    wording: &Wording,
) -> Result<(Provider, bool, Origin), ConfigError> {
    let ProviderSettings {
        profile,
        profile_origin,
        issuer,
        client_id,
        client_secret,
        level_source,
        encrypted,
        endpoints,
    } = settings;
    let encrypted_responses = encrypted
        .as_ref()
        .map_or(profile == ProviderProfile::VneidDirect, |s| s.value);
    let encrypted_origin = encrypted.map_or(profile_origin, |s| s.origin);

    let Some(issuer) = issuer else {
        let set = client_id
            .or(client_secret)
            .map(|s| s.origin)
            .or_else(|| endpoints.first_origin());
        if let Some(origin) = set {
            return Err(invalid(origin, wording.needs_issuer.clone()));
        }
        let provider = Provider::Simulator { level_source };
        return Ok((provider, encrypted_responses, encrypted_origin));
    };
    if issuer.value.trim().is_empty() {
        return Err(invalid(issuer.origin, SettingError::Empty));
    }
    // The issuer is kept exactly as written: OIDC compares it character for character.
    parse_web_url(&issuer)?;
    let client_id = match client_id {
        Some(setting) if !setting.value.trim().is_empty() => setting.value.trim().to_owned(),
        Some(setting) => return Err(invalid(setting.origin, SettingError::Empty)),
        None => {
            return Err(invalid(
                wording.missing_client_id.clone(),
                wording.required.clone(),
            ));
        }
    };
    let client_secret = match client_secret {
        Some(setting) if !setting.value.is_empty() => ClientSecret(Zeroizing::new(setting.value)),
        Some(setting) => return Err(invalid(setting.origin, SettingError::Empty)),
        None => {
            return Err(invalid(
                wording.missing_client_secret.clone(),
                wording.required.clone(),
            ));
        }
    };
    // A profiled provider brings its own level source; a standard one must be told.
    let level_source = match level_source {
        Some(source) => source,
        None if profile != ProviderProfile::Standard => profile.default_level_source(),
        None => {
            return Err(invalid(
                wording.missing_level.clone(),
                wording.no_level.clone(),
            ));
        }
    };
    let endpoints = endpoints.build(wording)?.map(Box::new);
    let provider = Provider::External(ExternalProvider {
        issuer: issuer.value.trim().to_owned(),
        client_id,
        client_secret,
        level_source,
        endpoints,
    });
    Ok((provider, encrypted_responses, encrypted_origin))
}

fn callback_uri(public_url: &Url, path: &str) -> Result<Url, ConfigError> {
    public_url.join(path).map_err(|_| {
        invalid(
            Origin::env(ENV_PUBLIC_URL),
            SettingError::InvalidUrl {
                value: public_url.to_string(),
            },
        )
    })
}

fn build_level_source(
    cx: &Lookup<'_>,
    file_level1: Option<Vec<String>>,
    file_level2: Option<Vec<String>>,
    file_source: Option<LevelSource>,
) -> Result<Option<LevelSource>, ConfigError> {
    if file_source.is_some() && (file_level1.is_some() || file_level2.is_some()) {
        return Err(invalid(
            cx.file("provider.level_source"),
            SettingError::ConflictingLevelSource,
        ));
    }
    let level1 = cx.lookup_list(ENV_ACR_LEVEL1, file_level1, "provider.acr_level1")?;
    let level2 = cx.lookup_list(ENV_ACR_LEVEL2, file_level2, "provider.acr_level2")?;
    if level1.is_none() && level2.is_none() {
        return Ok(file_source);
    }
    let level2_origin = level2
        .as_ref()
        .map_or_else(|| Origin::env(ENV_ACR_LEVEL2), |s| s.origin.clone());
    let level1_origin = level1
        .as_ref()
        .map_or_else(|| Origin::env(ENV_ACR_LEVEL1), |s| s.origin.clone());
    let level1 = level1.map(|s| s.value).unwrap_or_default();
    let level2 = level2.map(|s| s.value).unwrap_or_default();
    let table = AcrTable::new(level1.clone(), level2).map_err(|error| {
        // Name the list that holds the offending value; a value repeated across both lists is
        // reported where it repeats, in level 2.
        let in_level1 = match &error {
            LevelSourceError::MalformedValue { value }
            | LevelSourceError::KeycloakDefaultAcr { value } => level1.contains(value),
            LevelSourceError::DuplicateValue { value } => {
                level1.iter().filter(|v| *v == value).count() > 1
            }
            _ => false,
        };
        let origin = if in_level1 {
            level1_origin.clone()
        } else {
            level2_origin.clone()
        };
        invalid(origin, SettingError::AcrValues(error))
    })?;
    Ok(Some(LevelSource::acr(table)))
}
