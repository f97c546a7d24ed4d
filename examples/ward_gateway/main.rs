//! The bundled ward portal: `cargo run --example ward_gateway`.
//!
//! Thin on purpose: it reads the configuration, builds the gateway state and serves
//! `wardgate::integrations::axum::gateway_router`. See `examples/ward_gateway/README.md`.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{Random, SystemRandom};
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::fallback::{Directory, WardCode};
use wardgate::integrations::axum::config::{
    GatewayConfig, Provider, StaffConfig, config_file_from_args,
};
use wardgate::integrations::axum::data_dir::GatewayKeys;
use wardgate::integrations::axum::{Gateway, GatewayParts, gateway_router};
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::policy::Catalog;
use wardgate::store::Store;
use wardgate::submission::{DossierSealer, Outbox};
use wardgate::{Clock, SystemClock};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wardgate=info".into()),
        )
        .with_target(false)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wardgate: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let config = GatewayConfig::loader(|name| std::env::var(name).ok())
        .optional_file(config_file_from_args(std::env::args().skip(1))?)
        .defaults_base(env!("CARGO_MANIFEST_DIR"))
        .load()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let random: Arc<dyn Random> = Arc::new(SystemRandom::new());

    let catalog = Catalog::load(config.ward().catalog())?;
    let directory = Directory::load(config.ward().directory())?;
    let default_ward = match config.ward().code() {
        Some(code) => WardCode::parse(code)?,
        None => directory
            .wards()
            .first()
            .map(|w| w.code)
            .ok_or("the directory has no ward")?,
    };

    // Who is staff; a role claim is read from userinfo, so the client then fetches it.
    let staff = match (config.provider(), config.staff().is_empty()) {
        (Provider::Simulator { .. }, true) => StaffConfig::new(
            Vec::new(),
            Some(("roles".to_owned(), devidp::STAFF_ROLE.to_owned())),
        ),
        _ => config.staff().clone(),
    };

    // With no provider configured, the built-in simulator plays the identity provider.
    let mut _simulator: Option<DevIdpHandle> = None;
    let (issuer, client) = match config.provider() {
        Provider::Simulator { level_source } => {
            let redirect = config.redirect_uri().as_str();
            let idp = DevIdp::start(DevIdpConfig::new().client(
                devidp::DEFAULT_CLIENT_ID,
                Some(devidp::DEFAULT_CLIENT_SECRET),
                [redirect],
            ))
            .await?;
            let source = match level_source {
                Some(source) => source.clone(),
                None => {
                    LevelSource::acr(AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2])?)
                }
            };
            let issuer = idp.issuer().to_string();
            tracing::info!(%issuer, "started the built-in provider simulator");
            _simulator = Some(idp);
            let client =
                ClientConfig::new(devidp::DEFAULT_CLIENT_ID, config.redirect_uri().clone())
                    .client_secret(devidp::DEFAULT_CLIENT_SECRET)
                    .level_source(source)
                    .fetch_userinfo(staff.role_claim().is_some());
            (issuer, client)
        }
        Provider::External(provider) => {
            let client = ClientConfig::new(provider.client_id(), config.redirect_uri().clone())
                .client_secret(provider.client_secret().secret())
                .level_source(provider.level_source().clone())
                .fetch_userinfo(staff.role_claim().is_some());
            (provider.issuer().to_owned(), client)
        }
        _ => return Err("unsupported provider configuration".into()),
    };
    let relying_party = discover(&issuer, client, &clock, &random).await?;

    // Keys first: this also creates the data directory that holds the default SQLite file.
    let keys = GatewayKeys::load_or_create(config.data_dir(), random.as_ref())?;
    let store: Arc<dyn Store> = wardgate::store::open(config.database().url())
        .await
        .map_err(|e| format!("database (WARDGATE_DATABASE_URL): {e}"))?;
    let signing_key = Arc::new(keys.signing_key);
    let sealer = Arc::new(DossierSealer::from_bytes(
        &keys.dossier_key,
        Arc::clone(&random),
    )?);

    // Dossiers wait in the outbox until the back office takes them; without a back office
    // configured they stay there, safe.
    let outbox = match config.backoffice_url() {
        Some(url) => {
            let http: Arc<dyn wardgate::oidc::HttpClient> = Arc::new(ReqwestHttp::new()?);
            let outbox = Outbox::new(
                Arc::clone(&store),
                http,
                url.clone(),
                sealer,
                Arc::clone(&clock),
                Arc::clone(&random),
            );
            Some(Arc::new(outbox).spawn(Duration::from_secs(5)))
        }
        None => {
            tracing::warn!(
                "no back office configured (WARDGATE_BACKOFFICE_URL): dossiers stay in the outbox"
            );
            None
        }
    };
    // Expired drafts, tickets and old bookings are deleted every hour.
    let retention = wardgate::store::retention::spawn(
        Arc::clone(&store),
        Arc::clone(&clock),
        wardgate::store::retention::INTERVAL,
    );
    let parts = GatewayParts::new(
        relying_party,
        catalog,
        directory,
        default_ward,
        store,
        keys.key_ring,
        config.session().session_config(),
        config.public_url().clone(),
        signing_key,
        keys.pseudonym_key.to_vec(),
        keys.dossier_key.to_vec(),
        staff,
        Arc::clone(&clock),
        Arc::clone(&random),
    );
    let router = gateway_router(Gateway::new(parts)?);

    let listener = tokio::net::TcpListener::bind(config.bind())
        .await
        .map_err(|e| format!("cannot listen on {} (WARDGATE_BIND): {e}", config.bind()))?;
    println!("wardgate ward portal: {}", config.public_url());
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    retention.stop().await;
    if let Some(outbox) = outbox {
        outbox.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Discovers the provider, retrying for a short while (it may still be starting).
async fn discover(
    issuer: &str,
    client: ClientConfig,
    clock: &Arc<dyn Clock>,
    random: &Arc<dyn Random>,
) -> Result<RelyingParty, Box<dyn Error>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match RelyingParty::discover(
            issuer,
            client.clone(),
            ReqwestHttp::new()?,
            Arc::clone(clock),
            Arc::clone(random),
        )
        .await
        {
            Ok(rp) => return Ok(rp),
            Err(error) if attempt < 5 => {
                tracing::warn!(%error, attempt, "provider discovery failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => {
                return Err(
                    format!("identity provider `{issuer}` (WARDGATE_ISSUER): {error}").into(),
                );
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
