//! Every provider profile end to end: wardgate's relying party against the simulator behaving
//! like that profile (its quirks included), over real HTTP on loopback.

use std::sync::Arc;

use url::Url;
use wardgate::Level;
use wardgate::assurance::{AcrTable, LevelSource, LevelSourceError, SourceKind};
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle, RecordedRequest, RequestChannel};
use wardgate::oidc::{
    Callback, ClientConfig, DiscoveryError, EnvelopeError, EnvelopePart, LoginError,
    LoginErrorKind, LoginRequest, PendingLogin, ProviderProfile, RelyingParty, ReqwestHttp,
    VerifiedLogin,
};

use crate::support::devidp::choose_persona;

const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";
/// The default `level2` persona's fake identifiers.
const LEVEL2_SUB: &str = "devidp-p2-7f3a91c4e0b25d68";
const LEVEL2_PID: &str = "000187004821";

async fn simulator(config: DevIdpConfig) -> DevIdpHandle {
    DevIdp::start(config.client("portal", Some("portal-secret"), [REDIRECT]))
        .await
        .expect("simulator starts")
}

/// The relying-party configuration an operator writes for `profile` against `idp`.
fn client(profile: ProviderProfile, idp: &DevIdpHandle) -> ClientConfig {
    let config = ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .profile(profile);
    match profile {
        // A standard provider is configured with its own acr vocabulary.
        ProviderProfile::Standard => config.level_source(LevelSource::acr(
            AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap(),
        )),
        ProviderProfile::VneidDirect => config.envelope_decryptor(idp.test_decryptor()),
        ProviderProfile::Npsp | ProviderProfile::KeycloakBroker => config,
    }
}

async fn relying_party(idp: &DevIdpHandle, config: ClientConfig) -> RelyingParty {
    RelyingParty::discover(
        idp.issuer().as_str(),
        config,
        ReqwestHttp::new().unwrap(),
        Arc::new(wardgate::SystemClock),
        Arc::new(SystemRandom::new()),
    )
    .await
    .expect("discovery")
}

/// A simulator in `profile` and a relying party configured for it.
async fn setup(profile: ProviderProfile) -> (DevIdpHandle, RelyingParty) {
    let idp = simulator(DevIdpConfig::new().profile(profile)).await;
    let rp = relying_party(&idp, client(profile, &idp)).await;
    (idp, rp)
}

/// What the gateway asks for: level 2. The standard profile sends it as a voluntary `acr`
/// so that a level-1 resident comes back with level 1 rather than an error.
fn level_two_request(profile: ProviderProfile) -> LoginRequest {
    LoginRequest::new(Level::Two).essential_acr(profile != ProviderProfile::Standard)
}

/// Starts a login, picks `persona` at the provider, returns the pending login and the raw
/// callback query.
async fn authorize(
    rp: &RelyingParty,
    request: &LoginRequest,
    persona: &str,
) -> (PendingLogin, String) {
    let (url, pending) = rp.begin(request).await.unwrap();
    let callback = choose_persona(&url, persona).await;
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    (pending, callback.query().unwrap_or("").to_owned())
}

async fn sign_in(
    rp: &RelyingParty,
    request: &LoginRequest,
    persona: &str,
) -> Result<VerifiedLogin, LoginError> {
    let (pending, query) = authorize(rp, request, persona).await;
    rp.complete(pending, &Callback::from_query(&query)).await
}

/// Replaces the value of `name` in a raw query, keeping every other byte.
fn replace_param(query: &str, name: &str, value: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, _)) if n == name => format!("{n}={value}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The latest pushed authorization request the simulator received.
fn pushed_request(idp: &DevIdpHandle) -> RecordedRequest {
    idp.recorded_authorization_requests()
        .into_iter()
        .rev()
        .find(|r| r.channel() == RequestChannel::Pushed)
        .expect("a pushed authorization request")
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn every_profile_signs_a_level_two_resident_in_at_level_two() {
    for profile in ProviderProfile::ALL {
        let (_idp, rp) = setup(profile).await;
        let login = sign_in(&rp, &level_two_request(profile), "level2")
            .await
            .unwrap_or_else(|e| panic!("{profile}: {e:?}"));
        let assurance = login.assurance();
        assert_eq!(assurance.level(), Some(Level::Two), "{profile}");
        assert_eq!(login.profile(), profile);
        let (source, signed, subject, acr) = match profile {
            ProviderProfile::Standard => (
                SourceKind::IdTokenAcr,
                true,
                LEVEL2_SUB,
                Some(devidp::ACR_LEVEL_2),
            ),
            ProviderProfile::Npsp => (SourceKind::UserinfoClaim, true, LEVEL2_SUB, None),
            ProviderProfile::VneidDirect => (SourceKind::UserinfoClaim, false, LEVEL2_PID, None),
            // Keycloak's own acr is recorded as returned, but the level came from the claim.
            ProviderProfile::KeycloakBroker => {
                (SourceKind::IdTokenAcr, true, LEVEL2_SUB, Some("1"))
            }
        };
        assert_eq!(assurance.source(), source, "{profile}");
        assert_eq!(assurance.has_signed_id_token(), signed, "{profile}");
        assert_eq!(login.subject(), subject, "{profile}");
        assert_eq!(assurance.acr(), acr, "{profile}");
        // Without an ID token, the authentication time is when the login started.
        assert!(assurance.auth_time().is_some(), "{profile}");
        assert_eq!(
            login.userinfo().is_some(),
            profile != ProviderProfile::Standard,
            "{profile}"
        );
        // The identity attributes, whatever each provider calls them.
        if let Some(identity) = login.identity() {
            assert_eq!(
                identity.personal_id.as_deref(),
                Some(LEVEL2_PID),
                "{profile}"
            );
            assert_eq!(
                identity.full_name.as_deref(),
                Some("Nguyễn Thị Thu Hà"),
                "{profile}"
            );
            assert_eq!(
                identity.birth_date,
                chrono::NaiveDate::from_ymd_opt(1987, 3, 14),
                "{profile}"
            );
        }
    }
}

#[tokio::test]
async fn every_profile_gives_a_level_one_resident_level_one() {
    for profile in ProviderProfile::ALL {
        let (_idp, rp) = setup(profile).await;
        let login = sign_in(&rp, &level_two_request(profile), "level1")
            .await
            .unwrap_or_else(|e| panic!("{profile}: {e:?}"));
        assert_eq!(login.assurance().level(), Some(Level::One), "{profile}");
        assert!(!login.assurance().meets(Level::Two), "{profile}");
    }
}

#[tokio::test]
async fn every_profile_types_cancellation_and_provider_errors() {
    for profile in ProviderProfile::ALL {
        let (_idp, rp) = setup(profile).await;
        for (persona, kind, code) in [
            ("cancel", LoginErrorKind::Cancelled, "access_denied"),
            ("no_eid", LoginErrorKind::Cancelled, "access_denied"),
            (
                "error",
                LoginErrorKind::ProviderUnavailable,
                "temporarily_unavailable",
            ),
        ] {
            let err = sign_in(&rp, &level_two_request(profile), persona)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), kind, "{profile} {persona}");
            assert_eq!(err.provider_error(), Some(code), "{profile} {persona}");
        }
    }
}

#[tokio::test]
async fn vneid_direct_envelope_without_a_decryptor_is_refused() {
    let idp = simulator(DevIdpConfig::new().profile(ProviderProfile::VneidDirect)).await;
    let config = ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .profile(ProviderProfile::VneidDirect);
    let rp = relying_party(&idp, config).await;
    let err = sign_in(&rp, &LoginRequest::new(Level::Two), "level2")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::EnvelopeWithoutDecryptor);
    assert_eq!(
        err.to_string(),
        "the provider sent an encrypted response and no envelope decryptor is configured"
    );
}

#[tokio::test]
async fn vneid_direct_envelope_from_another_key_is_refused() {
    let idp = simulator(DevIdpConfig::new().profile(ProviderProfile::VneidDirect)).await;
    let other = simulator(DevIdpConfig::new().profile(ProviderProfile::VneidDirect)).await;
    let config = ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .profile(ProviderProfile::VneidDirect)
        .envelope_decryptor(other.test_decryptor());
    let rp = relying_party(&idp, config).await;
    let err = sign_in(&rp, &LoginRequest::new(Level::Two), "level2")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::Envelope);
    let source = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<EnvelopeError>())
        .expect("the envelope error is the source");
    assert!(
        matches!(
            source,
            EnvelopeError::Decryption {
                part: EnvelopePart::TokenResponse
            }
        ),
        "{source:?}"
    );
}

#[tokio::test]
async fn vneid_direct_codes_containing_plus_survive_the_callback() {
    let (_idp, rp) = setup(ProviderProfile::VneidDirect).await;
    let request = LoginRequest::new(Level::Two);

    let (pending, query) = authorize(&rp, &request, "level2").await;
    let code = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("a code");
    // The simulator writes the base64 code raw, as observed: `+`, `/` and `=` unescaped.
    assert!(code.starts_with('+'), "{code}");
    assert!(code.contains('/') && code.ends_with('='), "{code}");
    assert!(
        !query.contains("iss="),
        "VNeID direct sends no iss: {query}"
    );
    let login = rp
        .complete(pending, &Callback::from_query(&query))
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));

    // A gateway that form-decoded the query would turn `+` into a space and lose the code.
    let (pending, query) = authorize(&rp, &request, "level2").await;
    let decoded: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mangled = decoded
        .iter()
        .map(|(name, value)| format!("{name}={}", form_encode(value).replace('+', "%20")))
        .collect::<Vec<_>>()
        .join("&");
    let err = rp
        .complete(pending, &Callback::from_query(&mangled))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::CodeRejected);
}

#[tokio::test]
async fn vneid_direct_encrypted_codes_are_opened_with_the_decryptor() {
    let idp = simulator(
        DevIdpConfig::new()
            .profile(ProviderProfile::VneidDirect)
            .encrypt_codes(true),
    )
    .await;
    let rp = relying_party(&idp, client(ProviderProfile::VneidDirect, &idp)).await;
    let request = LoginRequest::new(Level::Two);
    let (pending, query) = authorize(&rp, &request, "level2").await;
    assert!(query.contains("&encrypt_key="), "{query}");
    let login = rp
        .complete(pending, &Callback::from_query(&query))
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));

    // A tampered encrypt_key does not decrypt: the login fails before any token request.
    let (pending, query) = authorize(&rp, &request, "level2").await;
    let tampered = replace_param(&query, "encrypt_key", "AAAA");
    let err = rp
        .complete(pending, &Callback::from_query(&tampered))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::Envelope);

    // Without a decryptor, an encrypted code is refused with the same kind as an envelope.
    let plain = ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .profile(ProviderProfile::VneidDirect);
    let rp = relying_party(&idp, plain).await;
    let err = sign_in(&rp, &request, "level2").await.unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::EnvelopeWithoutDecryptor);
}

#[tokio::test]
async fn vneid_direct_still_requires_pkce_state_and_the_exact_redirect() {
    let (idp, rp) = setup(ProviderProfile::VneidDirect).await;
    let request = LoginRequest::new(Level::Two);
    let (pending, query) = authorize(&rp, &request, "level2").await;
    let sent = pushed_request(&idp);
    assert_eq!(sent.get("code_challenge_method"), Some("S256"));
    assert!(sent.get("state").is_some_and(|s| s.len() >= 43));

    // Another state: refused before the code is used.
    let forged = replace_param(&query, "state", "forged-state");
    let err = rp
        .complete(pending.clone(), &Callback::from_query(&forged))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::StateMismatch);

    // Another PKCE verifier (a stolen code replayed from another browser): the provider
    // refuses the code.
    let mut tampered = serde_json::to_value(&pending).unwrap();
    tampered["v"] = "x".repeat(43).into();
    let tampered: PendingLogin = serde_json::from_value(tampered).unwrap();
    let err = rp
        .complete(tampered, &Callback::from_query(&query))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::CodeRejected);

    // A relying party with an unregistered redirect URI never gets a code: its pushed
    // request is refused.
    let wrong = ClientConfig::new(
        "portal",
        Url::parse("http://127.0.0.1:9/elsewhere").unwrap(),
    )
    .client_secret("portal-secret")
    .profile(ProviderProfile::VneidDirect)
    .envelope_decryptor(idp.test_decryptor());
    let wrong = relying_party(&idp, wrong).await;
    let err = wrong.begin(&request).await.unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::ProviderError);
    assert_eq!(err.provider_error(), Some("invalid_request"));
}

#[tokio::test]
async fn npsp_asks_for_loa2_and_reads_the_level_never_the_account_type() {
    let (idp, rp) = setup(ProviderProfile::Npsp).await;
    for (persona, level) in [("level2", Level::Two), ("level1", Level::One)] {
        let login = sign_in(&rp, &LoginRequest::new(Level::Two), persona)
            .await
            .unwrap();
        assert_eq!(login.assurance().level(), Some(level), "{persona}");
        let userinfo = login.userinfo().expect("userinfo");
        // `LoaiTaiKhoan` is "1" for both: it is the account type, not the level.
        assert_eq!(userinfo["LoaiTaiKhoan"], "1");
        for attribute in ["HoVaTen", "SoDinhDanh", "NgayThangNamSinh"] {
            assert!(userinfo.contains_key(attribute), "{attribute}");
        }
    }
    let pushed = pushed_request(&idp);
    assert_eq!(pushed.get("acr_values"), Some("LoA2"));
    assert_eq!(pushed.get("claims"), None, "the level is not read from acr");
}

#[tokio::test]
async fn keycloak_acr_one_never_yields_a_level() {
    let idp = simulator(DevIdpConfig::new().profile(ProviderProfile::KeycloakBroker)).await;
    // The broker's default values cannot even be configured as levels for this profile.
    let defaults = client(ProviderProfile::KeycloakBroker, &idp)
        .level_source(LevelSource::acr(AcrTable::new(["0"], ["1"]).unwrap()));
    let refused = RelyingParty::discover(
        idp.issuer().as_str(),
        defaults,
        ReqwestHttp::new().unwrap(),
        Arc::new(wardgate::SystemClock),
        Arc::new(SystemRandom::new()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &refused,
            DiscoveryError::LevelSource {
                profile: ProviderProfile::KeycloakBroker,
                error: LevelSourceError::KeycloakDefaultAcr { value },
            } if value == "0"
        ),
        "{refused:?}"
    );
    // An operator who maps a claim the broker does not send gets no level, although every
    // login carries acr "1".
    let unmapped = client(ProviderProfile::KeycloakBroker, &idp).level_source(
        serde_json::from_value(serde_json::json!({
            "source": "id_token_claim",
            "claim": "loa",
            "level1": [1],
            "level2": [2],
        }))
        .unwrap(),
    );
    let rp = relying_party(&idp, unmapped).await;
    let login = sign_in(&rp, &LoginRequest::new(Level::Two), "level2")
        .await
        .unwrap();
    assert_eq!(login.assurance().acr(), Some("1"));
    assert_eq!(login.assurance().level(), None);

    // Reading acr with any valid table gives no level either.
    let by_acr = client(ProviderProfile::KeycloakBroker, &idp)
        .level_source(LevelSource::acr(AcrTable::new(["LoA1"], ["LoA2"]).unwrap()));
    let rp = relying_party(&idp, by_acr).await;
    let login = sign_in(&rp, &LoginRequest::new(Level::Two), "level2")
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), None);
}

#[tokio::test]
async fn a_callback_from_one_provider_is_refused_by_the_others_pending_login() {
    let npsp_idp = simulator(DevIdpConfig::new().profile(ProviderProfile::Npsp)).await;
    let vneid_idp = simulator(DevIdpConfig::new().profile(ProviderProfile::VneidDirect)).await;
    let npsp = relying_party(&npsp_idp, client(ProviderProfile::Npsp, &npsp_idp)).await;
    let vneid = relying_party(&vneid_idp, client(ProviderProfile::VneidDirect, &vneid_idp)).await;
    let request = LoginRequest::new(Level::Two);

    // The resident chose NPSP; a callback from VNeID arrives with VNeID's own state.
    let (npsp_pending, npsp_query) = authorize(&npsp, &request, "level2").await;
    let (vneid_pending, vneid_query) = authorize(&vneid, &request, "level2").await;
    let err = npsp
        .complete(npsp_pending.clone(), &Callback::from_query(&vneid_query))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::StateMismatch);

    // A mix-up attacker relays NPSP's state with VNeID's code: NPSP advertises RFC 9207, so a
    // callback without its iss is refused before the code goes anywhere.
    let relayed = replace_param(&vneid_query, "state", &form_encode(npsp_pending.state()));
    let err = npsp
        .complete(npsp_pending.clone(), &Callback::from_query(&relayed))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::MissingIssuer);

    // The other way round: NPSP's code and iss with VNeID's state. VNeID sends no iss itself,
    // but an iss that is present must be VNeID's.
    let relayed = replace_param(&npsp_query, "state", &form_encode(vneid_pending.state()));
    let err = vneid
        .complete(vneid_pending.clone(), &Callback::from_query(&relayed))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::IssuerMismatch);

    // A pending login handed to the wrong provider's relying party is refused outright.
    let err = vneid
        .complete(npsp_pending.clone(), &Callback::from_query(&npsp_query))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::IssuerMismatch);

    // Both logins still complete with their own callbacks.
    assert!(
        npsp.complete(npsp_pending, &Callback::from_query(&npsp_query))
            .await
            .is_ok()
    );
    assert!(
        vneid
            .complete(vneid_pending, &Callback::from_query(&vneid_query))
            .await
            .is_ok()
    );
}
