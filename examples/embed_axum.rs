//! An ordinary axum application with one route behind the wardgate gate.
//!
//! ```text
//! cargo run --example embed_axum
//! ```
//!
//! `/` is public; `/dossiers/new` needs a level 2 electronic identity. Signed out, it starts the
//! sign-in; at level 2 it answers with the verified level; at level 1 it refers the resident to
//! the ward's one-stop desk. Without `WARDGATE_ISSUER` the built-in provider simulator plays the
//! identity provider (choose a persona in the browser). Variables, as for the bundled portal:
//! `WARDGATE_BIND` (default `127.0.0.1:8081`), `WARDGATE_PUBLIC_URL` (default `http://` + bind),
//! `WARDGATE_ISSUER`, `WARDGATE_CLIENT_ID` and `WARDGATE_CLIENT_SECRET`. Keys are generated at
//! each start, so sessions end with the process.

use std::error::Error;
use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::fallback::Directory;
use wardgate::integrations::axum::{Gate, Granted, OptionalSession, Require, auth_router};
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::pseudonym::PseudonymKey;
use wardgate::session::KeyRing;
use wardgate::{Level, SystemClock};

/// The application: its own routes, the guard on the gated ones, the gate's auth routes and
/// the session layer around everything.
pub(crate) fn app(gate: &Arc<Gate>) -> Router {
    Router::new()
        .route("/dossiers/new", get(new_dossier))
        .route_layer(Require::level(Level::Two))
        .route("/", get(home))
        .nest(gate.auth_prefix(), auth_router(gate))
        .layer(gate.session_layer())
}

async fn home(OptionalSession(session): OptionalSession) -> Html<String> {
    let status = match session {
        Some(session) => format!(
            "Signed in. <form method=\"post\" action=\"/auth/logout\"><input type=\"hidden\" \
             name=\"csrf_token\" value=\"{}\"><button>Sign out</button></form>",
            session.csrf_token().secret()
        ),
        None => "Signed out.".to_owned(),
    };
    Html(format!(
        "<h1>Ward portal</h1><p>{status}</p><p><a href=\"/dossiers/new\">File a new dossier \
         (needs level 2)</a></p>"
    ))
}

/// Runs only for a resident the guard let through: the grant holds the verified level.
async fn new_dossier(Granted(grant): Granted) -> Html<String> {
    Html(format!(
        "<h1>New dossier</h1><p>Verified level {}; file before {}.</p>",
        grant.level.number(),
        grant.expires_at.format("%H:%M UTC")
    ))
}

/// The gate on `relying_party`, with generated keys and the sample wards for referrals.
pub(crate) fn gate(
    public_url: Url,
    relying_party: RelyingParty,
) -> Result<Arc<Gate>, Box<dyn Error>> {
    let random = SystemRandom::new();
    let directory = Directory::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/wards.toml"))?;
    let ward = directory.wards().first().ok_or("no ward")?.code;
    let gate = Gate::builder(
        public_url,
        KeyRing::generate(&random)?,
        &PseudonymKey::generate(&random)?,
    )
    .relying_party(relying_party)
    .with_directory(directory, ward)
    .build()?;
    Ok(gate)
}

/// The built-in simulator on loopback, registered for `redirect_uri`, and a relying party on it.
pub(crate) async fn simulator(
    redirect_uri: Url,
) -> Result<(DevIdpHandle, RelyingParty), Box<dyn Error>> {
    let idp = DevIdp::start(DevIdpConfig::new().client(
        devidp::DEFAULT_CLIENT_ID,
        Some(devidp::DEFAULT_CLIENT_SECRET),
        [redirect_uri.as_str()],
    ))
    .await?;
    let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, redirect_uri)
        .client_secret(devidp::DEFAULT_CLIENT_SECRET)
        .level_source(LevelSource::acr(AcrTable::new(
            [devidp::ACR_LEVEL_1],
            [devidp::ACR_LEVEL_2],
        )?));
    let rp = discover(idp.issuer().as_str(), client).await?;
    Ok((idp, rp))
}

async fn discover(issuer: &str, client: ClientConfig) -> Result<RelyingParty, Box<dyn Error>> {
    let random = Arc::new(SystemRandom::new());
    Ok(RelyingParty::discover(
        issuer,
        client,
        ReqwestHttp::new()?,
        Arc::new(SystemClock),
        random,
    )
    .await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let bind = env("WARDGATE_BIND").unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let public_url: Url = env("WARDGATE_PUBLIC_URL")
        .unwrap_or_else(|| format!("http://{bind}/"))
        .parse()
        .map_err(|e| format!("WARDGATE_PUBLIC_URL: {e}"))?;
    let redirect_uri = public_url.join("auth/callback")?;
    let (_simulator, relying_party) = match env("WARDGATE_ISSUER") {
        Some(issuer) => {
            let id = env("WARDGATE_CLIENT_ID")
                .ok_or("WARDGATE_CLIENT_ID is required with WARDGATE_ISSUER")?;
            let mut client = ClientConfig::new(&id, redirect_uri);
            if let Some(secret) = env("WARDGATE_CLIENT_SECRET") {
                client = client.client_secret(secret);
            }
            (None, discover(&issuer, client).await?)
        }
        None => {
            let (idp, rp) = simulator(redirect_uri).await?;
            println!("provider simulator: {}", idp.issuer());
            (Some(idp), rp)
        }
    };
    let app = app(&gate(public_url.clone(), relying_party)?);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind} (WARDGATE_BIND): {e}"))?;
    println!("embed_axum: {public_url}");
    axum::serve(listener, app).await?;
    Ok(())
}
