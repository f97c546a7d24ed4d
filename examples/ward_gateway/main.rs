//! The bundled ward portal: `cargo run --example ward_gateway`.
//!
//! Thin on purpose: it reads the configuration, builds the gateway state and serves
//! `wardgate::portal::gateway_router`. See `examples/ward_gateway/README.md`.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use wardgate::clock::{Random, SystemRandom};
use wardgate::devidp::{self, DevIdpHandle};
use wardgate::fallback::{Directory, WardCode};
use wardgate::oidc::{
    BreakerConfig, CircuitBreaker, CircuitMonitor, ClientConfig, DiscoveryError, RelyingParty,
    ReqwestHttp,
};
use wardgate::policy::Catalog;
use wardgate::portal::config::{
    GatewayConfig, Provider, ProviderConfig, StaffConfig, config_file_from_args,
};
use wardgate::portal::data_dir::GatewayKeys;
use wardgate::portal::{DEFAULT_PROVIDER_ID, Gateway, LoginProvider, gateway_router};
use wardgate::store::Store;
use wardgate::submission::Outbox;
use wardgate::{Clock, SystemClock};

// Requests allocate many small short-lived buffers; mimalloc serves them in a fraction of the
// instructions glibc's malloc needs (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wardgate=info".into()),
        )
        .with_target(false)
        // Colour codes only on a terminal: in a log file they are noise, and per request span.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
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

    // A provider without an issuer is played by a built-in simulator in its profile; the
    // handles keep the simulators running.
    let mut simulators: Vec<DevIdpHandle> = Vec::new();
    let mut providers = Vec::with_capacity(config.providers().len());
    for provider in config.providers() {
        let staff_userinfo = staff.role_claim().is_some();
        let (issuer, client) = match provider.start_simulator(staff_userinfo).await? {
            Some((idp, client)) => {
                let issuer = idp.issuer().to_string();
                tracing::info!(
                    %issuer,
                    provider = %provider.id(),
                    profile = provider.profile().as_str(),
                    "started a built-in provider simulator"
                );
                simulators.push(idp);
                (issuer, client)
            }
            // An external provider. Encrypted responses were refused by the configuration
            // loader: this example supplies no envelope decryptor.
            None => match (provider.provider(), provider.client_config(staff_userinfo)) {
                (Provider::External(external), Some(client)) => {
                    (external.issuer().to_owned(), client)
                }
                _ => return Err("unsupported provider configuration".into()),
            },
        };
        let (relying_party, circuit) = discover(&issuer, provider, client, &clock, &random).await?;
        providers.push(
            LoginProvider::new(provider.id().clone(), relying_party)
                .label(provider.label().clone())
                .hint(provider.hint().clone())
                .circuit(circuit),
        );
    }
    if providers.is_empty() {
        return Err("no identity provider is configured".into());
    }

    // Keys first: this also creates the data directory that holds the default SQLite file.
    let keys = GatewayKeys::load_or_create(config.data_dir(), random.as_ref())?;
    let store: Arc<dyn Store> = wardgate::store::open(config.database().url())
        .await
        .map_err(|e| format!("database (WARDGATE_DATABASE_URL): {e}"))?;
    let gateway = Gateway::builder(config.public_url().clone())
        .providers(providers)
        .catalog(catalog)
        .directory(directory, default_ward)
        .store(Arc::clone(&store))
        .keys(keys)
        .with_sessions(config.session().session_config())
        .with_staff(staff)
        .with_clock(Arc::clone(&clock))
        .with_random(Arc::clone(&random))
        .with_rate_limits(config.rate_limits().clone())
        .with_limits(*config.request_limits());
    // Gateway mode: the upstream portal behind the gateway, when one is configured.
    let gateway = match config.upstream() {
        Some(upstream) => gateway.with_upstream(upstream.clone()),
        None => gateway,
    };
    let gateway = match config.metrics_token() {
        Some(token) => gateway.with_metrics_token(token.clone()),
        None => gateway,
    }
    .build()?;
    let sealer = Arc::clone(gateway.dossier_sealer());

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
    let router = gateway_router(Arc::clone(&gateway));
    // Decisions are audited in aggregate; this keeps the trail current when traffic is quiet.
    let (stop_audit_flush, audit_flush) = spawn_audit_flush(Arc::clone(&gateway));

    // `/metrics` on a listener of its own (WARDGATE_METRICS_BIND), for the monitoring network.
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = match config.metrics_bind() {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|e| format!("cannot listen on {bind} (WARDGATE_METRICS_BIND): {e}"))?;
            let router = wardgate::portal::metrics_router(Arc::clone(&gateway));
            Some(tokio::spawn(wardgate::portal::serve(
                listener,
                router,
                wardgate::portal::ServeOptions::new(),
                async move {
                    let _ = metrics_stopped.await;
                },
            )))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.bind())
        .await
        .map_err(|e| format!("cannot listen on {} (WARDGATE_BIND): {e}", config.bind()))?;
    println!("wardgate ward portal: {}", config.public_url());
    // Header-read and whole-request timeouts against slow clients; the peer address keys the
    // rate limits of sign-in and submission.
    wardgate::portal::serve(
        listener,
        router,
        wardgate::portal::ServeOptions::new(),
        shutdown_signal(),
    )
    .await?;
    let _ = stop_metrics.send(());
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    retention.stop().await;
    // The flusher finishes the write it is in, then writes the decisions of the last second.
    let _ = stop_audit_flush.send(());
    if let Err(error) = audit_flush.await {
        tracing::error!(%error, "the audit flush task failed");
    }
    if let Some(outbox) = outbox {
        outbox.stop().await;
    }
    drop(simulators);
    tracing::info!("stopped");
    Ok(())
}

/// Writes the counted decisions to the audit trail every second, and once more when told to
/// stop; returns the sender that stops it and the task to await.
fn spawn_audit_flush(
    gateway: Arc<Gateway>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticker.tick() => gateway.flush_audit().await,
                _ = &mut stopped => break,
            }
        }
        gateway.flush_audit().await;
    });
    (stop, task)
}

/// Builds the provider's relying party: by discovery, or from its configured endpoints when it
/// publishes no discovery document ([`ProviderConfig::relying_party`]). A provider that cannot
/// be reached is retried for a short while (it may still be starting). Provider calls go
/// through a circuit breaker (timeouts, fail fast while the provider is down); its monitor
/// feeds `/readyz` and sign-in.
async fn discover(
    issuer: &str,
    provider: &ProviderConfig,
    client: ClientConfig,
    clock: &Arc<dyn Clock>,
    random: &Arc<dyn Random>,
) -> Result<(RelyingParty, CircuitMonitor), Box<dyn Error>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let http = CircuitBreaker::new(
            ReqwestHttp::new()?,
            BreakerConfig::default(),
            Arc::clone(clock),
        );
        let monitor = http.monitor();
        match provider
            .relying_party(
                issuer,
                client.clone(),
                http,
                Arc::clone(clock),
                Arc::clone(random),
            )
            .await
        {
            Ok(rp) => return Ok((rp, monitor)),
            // Only an unreachable provider is worth retrying; a wrong setting stays wrong.
            Err(error @ (DiscoveryError::Http { .. } | DiscoveryError::Status { .. }))
                if attempt < 5 =>
            {
                tracing::warn!(%error, attempt, "identity provider unreachable; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => {
                // Name the settings the operator wrote the provider in.
                let configured = matches!(
                    provider.provider(),
                    Provider::External(external) if external.endpoints().is_some()
                );
                let setting = match (provider.id().as_str() == DEFAULT_PROVIDER_ID, configured) {
                    (true, false) => "WARDGATE_ISSUER".to_owned(),
                    (true, true) => "WARDGATE_ISSUER and the provider's endpoints".to_owned(),
                    (false, false) => format!("issuer of provider `{}`", provider.id()),
                    (false, true) => {
                        format!("issuer and endpoints of provider `{}`", provider.id())
                    }
                };
                return Err(format!("identity provider `{issuer}` ({setting}): {error}").into());
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
