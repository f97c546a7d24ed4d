//! wardgate's relying party against an independent, OpenID Certified provider (panva's
//! `oidc-provider` 9, see `interop/README.md`).
//!
//! Ignored by default because they need Node.js and the npm packages:
//! `npm ci --prefix interop`, then
//! `cargo test --all-features --locked --test it -- --ignored interop::`.

use std::error::Error;
use std::sync::Arc;

use pretty_assertions::assert_eq;
use url::Url;
use wardgate::Level;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{Clock, Random, SystemClock, SystemRandom};
use wardgate::oidc::{
    Callback, ClientConfig, LoginErrorKind, LoginRequest, RelyingParty, ReqwestHttp,
};

use crate::support::oidc_provider::{
    ACR_LEVEL_1, ACR_LEVEL_2, ES256_CLIENT, OidcProvider, POST_CLIENT, RS256_CLIENT,
};

const REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/callback";

type TestResult = Result<(), Box<dyn Error>>;

/// The configuration of `client_id`; confidential clients get their secret.
fn client_config(
    provider: &OidcProvider,
    client_id: &str,
    confidential: bool,
) -> Result<ClientConfig, Box<dyn Error>> {
    let mut config = ClientConfig::new(client_id, Url::parse(REDIRECT_URI)?).level_source(
        LevelSource::acr(AcrTable::new([ACR_LEVEL_1], [ACR_LEVEL_2])?),
    );
    if confidential {
        config = config.client_secret(provider.client_secret(client_id));
    }
    Ok(config)
}

/// The relying party for `config`, discovered from the provider.
async fn relying_party(
    provider: &OidcProvider,
    config: ClientConfig,
) -> Result<RelyingParty, Box<dyn Error>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let random: Arc<dyn Random> = Arc::new(SystemRandom::new());
    let rp = RelyingParty::discover(
        provider.issuer_str(),
        config,
        ReqwestHttp::new()?,
        clock,
        random,
    )
    .await?;
    Ok(rp)
}

/// Asserts that the provider's redirect carries RFC 9207 `iss` naming the provider.
fn assert_iss(provider: &OidcProvider, callback: &Url) {
    let iss = callback
        .query_pairs()
        .find(|(name, _)| name == "iss")
        .map(|(_, value)| value.into_owned());
    assert_eq!(
        iss.as_deref(),
        Some(provider.issuer_str()),
        "callback {callback}"
    );
}

fn query(url: &Url) -> &str {
    url.query().unwrap_or("")
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn provider_advertises_what_the_interop_tests_rely_on() -> TestResult {
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    let discovery = provider.issuer().join(".well-known/openid-configuration")?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&reqwest::get(discovery).await?.bytes().await?)?;

    assert_eq!(metadata["issuer"], provider.issuer_str());
    assert_eq!(
        metadata["acr_values_supported"],
        serde_json::json!([ACR_LEVEL_1, ACR_LEVEL_2])
    );
    assert_eq!(metadata["claims_parameter_supported"], true);
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert!(metadata["pushed_authorization_request_endpoint"].is_string());
    assert!(metadata["userinfo_endpoint"].is_string());
    Ok(())
}

/// The harness and provider without wardgate: a hand-built code flow (RFC 7636 appendix B's
/// PKCE pair), so a failure below can be told apart from a harness failure.
#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn provider_completes_a_hand_built_code_flow() -> TestResult {
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    let mut authorize = provider.issuer().join("auth")?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", RS256_CLIENT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", "hand-built-state")
        .append_pair("acr_values", ACR_LEVEL_2)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");

    let callback = provider.drive_login(&authorize, "level2").await;
    assert_iss(&provider, &callback);
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .ok_or("no code in the callback")?;
    let http = reqwest::Client::new();
    let tokens = http
        .post(provider.issuer().join("token")?)
        .basic_auth(RS256_CLIENT, Some(provider.client_secret(RS256_CLIENT)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let tokens: serde_json::Value = serde_json::from_slice(&tokens)?;
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let access_token = tokens["access_token"].as_str().ok_or("no access token")?;
    let userinfo = http
        .get(provider.issuer().join("me")?)
        .bearer_auth(access_token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let userinfo: serde_json::Value = serde_json::from_slice(&userinfo)?;

    assert_eq!(
        userinfo,
        serde_json::json!({"sub": "level2", "name": "Nguyễn Thị Thu Hà", "accountLevel": 2})
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn level_2_resident_reaches_level_2_through_acr_values_with_client_secret_basic() -> TestResult
{
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    let config = client_config(&provider, RS256_CLIENT, true)?
        .scopes(["profile"])
        .fetch_userinfo(true);
    let rp = relying_party(&provider, config).await?;

    let (redirect_url, pending) = rp
        .begin(&LoginRequest::new(Level::Two).essential_acr(false))
        .await?;
    let callback = provider.drive_login(&redirect_url, "level2").await;
    assert_iss(&provider, &callback);
    let login = rp
        .complete(pending, &Callback::from_query(query(&callback)))
        .await?;

    assert_eq!(login.assurance().level(), Some(Level::Two));
    assert_eq!(login.assurance().acr(), Some(ACR_LEVEL_2));
    assert_eq!(login.assurance().issuer(), provider.issuer_str());
    assert_eq!(login.assurance().amr(), ["pwd".to_owned()]);
    assert!(login.assurance().auth_time().is_some());
    let userinfo = login.userinfo().ok_or("no userinfo")?;
    assert_eq!(userinfo["name"], "Nguyễn Thị Thu Hà");
    assert_eq!(userinfo["accountLevel"], 2);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn level_2_resident_meets_essential_acr_with_public_es256_client_and_pkce() -> TestResult {
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    let rp = relying_party(&provider, client_config(&provider, ES256_CLIENT, false)?).await?;

    let (redirect_url, pending) = rp
        .begin(&LoginRequest::new(Level::Two).essential_acr(true))
        .await?;
    let callback = provider.drive_login(&redirect_url, "level2").await;
    assert_iss(&provider, &callback);
    let login = rp
        .complete(pending, &Callback::from_query(query(&callback)))
        .await?;

    assert_eq!(login.assurance().level(), Some(Level::Two));
    assert_eq!(login.assurance().acr(), Some(ACR_LEVEL_2));
    Ok(())
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn level_1_resident_asked_for_level_2_by_acr_values_logs_in_at_level_1() -> TestResult {
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    // Front channel only, so the request travels in the browser's URL rather than by PAR.
    let config = client_config(&provider, POST_CLIENT, true)?.pushed_authorization_requests(false);
    let rp = relying_party(&provider, config).await?;

    // acr_values is only a wish: the provider answers with the level the resident has, and
    // the policy decides later.
    let (redirect_url, pending) = rp
        .begin(&LoginRequest::new(Level::Two).essential_acr(false))
        .await?;
    let callback = provider.drive_login(&redirect_url, "level1").await;
    assert_iss(&provider, &callback);
    let login = rp
        .complete(pending, &Callback::from_query(query(&callback)))
        .await?;

    assert_eq!(login.assurance().level(), Some(Level::One));
    assert_eq!(login.assurance().acr(), Some(ACR_LEVEL_1));
    assert!(!login.assurance().meets(Level::Two));
    // The provider answered a level-2 request with level 1: the account's level.
    assert!(login.assurance().is_account_level());
    Ok(())
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn level_1_resident_asked_for_essential_level_2_acr_is_level_unreachable() -> TestResult {
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    let rp = relying_party(&provider, client_config(&provider, RS256_CLIENT, true)?).await?;

    let (redirect_url, pending) = rp
        .begin(&LoginRequest::new(Level::Two).essential_acr(true))
        .await?;
    let callback = provider.drive_login(&redirect_url, "level1").await;
    assert_iss(&provider, &callback);
    assert!(
        callback
            .query_pairs()
            .any(|(name, value)| name == "error" && value == "unmet_authentication_requirements"),
        "callback {callback}"
    );
    let error = rp
        .complete(pending, &Callback::from_query(query(&callback)))
        .await
        .err()
        .ok_or("a level-1 resident completed an essential level-2 login")?;

    assert!(
        matches!(error.kind(), LoginErrorKind::LevelUnreachable),
        "{:?}",
        error.kind()
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn level_1_resident_asked_for_essential_level_1_acr_logs_in_with_client_secret_post()
-> TestResult {
    // Offering only client_secret_post (and none) makes the relying party send its secret in
    // the request body, to the PAR and token endpoints.
    let provider =
        OidcProvider::start_with_client_auth_methods(&[REDIRECT_URI], &["client_secret_post"]);
    let rp = relying_party(&provider, client_config(&provider, POST_CLIENT, true)?).await?;
    assert_eq!(
        rp.metadata().token_endpoint_auth_methods_supported,
        ["client_secret_post".to_owned()]
    );

    let (redirect_url, pending) = rp
        .begin(&LoginRequest::new(Level::One).essential_acr(true))
        .await?;
    let callback = provider.drive_login(&redirect_url, "level1").await;
    let login = rp
        .complete(pending, &Callback::from_query(query(&callback)))
        .await?;

    assert_eq!(login.assurance().level(), Some(Level::One));
    assert_eq!(login.assurance().acr(), Some(ACR_LEVEL_1));
    // Level 1 was all it asked for: the level of this login, which a step-up may raise.
    assert!(!login.assurance().is_account_level());
    Ok(())
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn resident_who_cancels_at_the_provider_is_cancelled() -> TestResult {
    let provider = OidcProvider::start(&[REDIRECT_URI]);
    let rp = relying_party(&provider, client_config(&provider, ES256_CLIENT, false)?).await?;

    let (redirect_url, pending) = rp
        .begin(&LoginRequest::new(Level::Two).essential_acr(false))
        .await?;
    let callback = provider.drive_login(&redirect_url, "cancel").await;
    assert_iss(&provider, &callback);
    let error = rp
        .complete(pending, &Callback::from_query(query(&callback)))
        .await
        .err()
        .ok_or("a cancelled login completed")?;

    assert!(
        matches!(error.kind(), LoginErrorKind::Cancelled),
        "{:?}",
        error.kind()
    );
    Ok(())
}
