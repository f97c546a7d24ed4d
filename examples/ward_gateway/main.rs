//! The bundled ward portal: `cargo run --example ward_gateway`.
//!
//! Thin on purpose: it reads the configuration, builds the gateway state and serves
//! `wardgate::portal::gateway_router`. Its command line also checks the configuration and
//! manages the keys of the data directory (`--help`). See `examples/ward_gateway/README.md`.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use wardgate::clock::{Random, SystemRandom};
use wardgate::devidp::{self, DevIdpHandle};
use wardgate::fallback::{Directory, WardCode};
use wardgate::oidc::{
    BreakerConfig, CircuitBreaker, CircuitMonitor, ClientConfig, DiscoveryError, RelyingParty,
    ReqwestHttp,
};
use wardgate::policy::Catalog;
use wardgate::portal::config::{GatewayConfig, Provider, ProviderConfig, StaffConfig};
use wardgate::portal::data_dir::{self, GatewayKeys, KeyKind, KeyPolicy};
use wardgate::portal::{DEFAULT_PROVIDER_ID, Gateway, LoginProvider, gateway_router};
use wardgate::store::Store;
use wardgate::submission::{DeliveryObserver, Outbox};
use wardgate::{Clock, SystemClock};

mod log_fields;

// Requests allocate many small short-lived buffers; mimalloc serves them in a fraction of the
// instructions glibc's malloc needs (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The ward portal: serves residents' online filings behind a level-2 electronic identity and
/// routes everyone else to their ward centre.
///
/// Settings come from WARDGATE_* environment variables and, with --config, a TOML file
/// (the environment wins). Logs: RUST_LOG filters them (default `info`);
/// WARDGATE_LOG_FORMAT=json writes one JSON object per line for log collectors.
#[derive(Debug, Parser)]
#[command(name = "ward_gateway", version)]
struct Cli {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the portal (what the gateway does without a command).
    Serve,
    /// Check the configuration, the catalog and the ward directory, then exit: 0 when they are
    /// valid, 1 with the file and field at fault otherwise.
    CheckConfig,
    /// The keys in the data directory (WARDGATE_DATA_DIR). Running instances read them at
    /// start: restart every instance after a change.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Every key: kind, id, when added, whether current, until when it is needed.
    List,
    /// Add a new current key of a kind; the older ones stay to open or verify what they
    /// sealed or signed.
    Rotate {
        /// Which key.
        kind: KindArg,
    },
    /// Remove an older key that nothing needs any more; refused, with the reason, otherwise.
    Retire {
        /// The key's id, as `keys list` shows it.
        kid: String,
        /// Retire it although it is still needed (a leaked key): cookies it sealed stop
        /// opening, receipts and tickets it signed stop verifying. Never for a current or a
        /// dossier key.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum KindArg {
    /// Seals session, login-flow and staff cookies.
    Session,
    /// Signs receipts and tickets (published in the JWKS).
    Signing,
    /// Seals dossiers, drafts and outbox envelopes at rest.
    Dossier,
}

impl From<KindArg> for KeyKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Session => Self::Session,
            KindArg::Signing => Self::Signing,
            KindArg::Dossier => Self::Dossier,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = init_logs();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run(cli.config, json_logs).await,
        Command::CheckConfig => check_config(cli.config),
        Command::Keys { action } => keys(cli.config, action),
    };
    match result {
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

/// Human-readable lines on a terminal or a journal; one JSON object per line with
/// `WARDGATE_LOG_FORMAT=json` (returns whether it is JSON). `RUST_LOG` filters either.
fn init_logs() -> bool {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,wardgate=info".into());
    let json = std::env::var("WARDGATE_LOG_FORMAT").is_ok_and(|format| format == "json");
    if json {
        let subscriber = log_fields::json_subscriber(filter, std::io::stdout);
        tracing_subscriber::util::SubscriberInitExt::init(subscriber);
    } else {
        // Colour codes only on a terminal: in a log file they are noise, and per request span.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let subscriber = log_fields::text_subscriber(filter, ansi, std::io::stdout);
        tracing_subscriber::util::SubscriberInitExt::init(subscriber);
    }
    json
}

fn load_config(file: Option<PathBuf>) -> Result<GatewayConfig, Box<dyn Error>> {
    Ok(GatewayConfig::loader(|name| std::env::var(name).ok())
        .optional_file(file)
        .defaults_base(env!("CARGO_MANIFEST_DIR"))
        .load()?)
}

/// `check-config`: everything the gateway reads before it contacts a provider.
fn check_config(file: Option<PathBuf>) -> Result<(), Box<dyn Error>> {
    let config = load_config(file)?;
    let catalog = Catalog::load(config.ward().catalog())?;
    let directory = Directory::load(config.ward().directory())?;
    if let Some(code) = config.ward().code() {
        let code = WardCode::parse(code)?;
        if directory.ward(code).is_none() {
            return Err(
                format!("ward `{code}` (WARDGATE_WARD) is not in the ward directory").into(),
            );
        }
    } else if directory.wards().is_empty() {
        return Err("the ward directory has no ward".into());
    }
    println!(
        "configuration valid: {} procedures, {} wards, {} identity providers, data in {}",
        catalog.procedures().len(),
        directory.wards().len(),
        config.providers().len(),
        config.data_dir().display()
    );
    Ok(())
}

/// `keys …`: lists, rotates or retires the keys of the data directory.
fn keys(file: Option<PathBuf>, action: KeysCommand) -> Result<(), Box<dyn Error>> {
    let config = load_config(file)?;
    let dir = config.data_dir();
    let random = SystemRandom::new();
    let now = chrono::Utc::now();
    let policy = KeyPolicy::new(config.session().session_config().absolute_timeout);
    match action {
        KeysCommand::List => {
            let records = data_dir::list_keys(dir, &random)?;
            println!(
                "KIND     ID                                           ADDED                 STATE"
            );
            for record in records {
                let state = match (record.superseded_at, policy.needed_until(&record)) {
                    (None, _) => "current".to_owned(),
                    (Some(_), None) => "older, kept for good".to_owned(),
                    (Some(_), Some(until)) if until > now => {
                        format!("older, needed until {}", until.format("%Y-%m-%d %H:%M UTC"))
                    }
                    (Some(_), Some(_)) => "older, can be retired".to_owned(),
                };
                println!(
                    "{:<8} {:<44} {} {state}",
                    record.kind.as_str(),
                    record.id,
                    record.added_at.format("%Y-%m-%d %H:%M UTC"),
                );
            }
        }
        KeysCommand::Rotate { kind } => {
            let record = data_dir::rotate_key(dir, kind.into(), &random, now)?;
            println!(
                "new current {} key: {} (restart every instance to use it)",
                record.kind, record.id
            );
        }
        KeysCommand::Retire { kid, force } => {
            let record = data_dir::retire_key(dir, &kid, &policy, force, &random, now)?;
            println!(
                "retired {} key {} (restart every instance to drop it)",
                record.kind, record.id
            );
        }
    }
    Ok(())
}

async fn run(config_file: Option<PathBuf>, json_logs: bool) -> Result<(), Box<dyn Error>> {
    let config = load_config(config_file)?;
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
        // The simulator's userinfo (on loopback) is trusted for the role in every profile.
        (Provider::Simulator { .. }, true) => StaffConfig::new(
            Vec::new(),
            Some(("roles".to_owned(), devidp::STAFF_ROLE.to_owned())),
        )
        .role_from_userinfo(true)
        .timeouts(
            config.staff().idle_minutes(),
            config.staff().absolute_minutes(),
            config.staff().max_auth_age_minutes(),
        )
        .assisted_idle(config.staff().assisted_idle_minutes()),
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
        .with_limits(*config.request_limits())
        .with_anonymous_tickets_per_hour(config.anonymous_tickets_per_hour())
        .with_backoffice_keys(config.backoffice_status_keys().to_vec());
    // Gateway mode: the upstream portal behind the gateway, when one is configured.
    let gateway = match config.upstream() {
        Some(upstream) => gateway.with_upstream(upstream.clone()),
        None => gateway,
    };
    let gateway = match config.metrics_token() {
        Some(token) => gateway.with_metrics_token(token.clone()),
        None => gateway,
    };
    let gateway = match config.stats_token() {
        Some(token) => gateway.with_stats_token(token.clone()),
        None => gateway,
    }
    .build()?;
    let sealer = Arc::clone(gateway.dossier_sealer());

    // Dossiers wait in the outbox until the back office takes them; without a back office
    // configured they stay there, safe.
    let outbox = match config.backoffice_url() {
        Some(url) => {
            let http: Arc<dyn wardgate::oidc::HttpClient> = Arc::new(ReqwestHttp::new()?);
            // The lease covers a whole round: a batch of deliveries, each bounded by the HTTP
            // client's 10 s timeout, so a short lease claims fewer entries at a time.
            let lease = config.outbox_lease();
            let batch = usize::try_from(lease.as_secs() / 10)
                .unwrap_or(32)
                .clamp(1, 32);
            let outbox = Outbox::new(
                Arc::clone(&store),
                http,
                url.clone(),
                sealer,
                Arc::clone(&clock),
                Arc::clone(&random),
            )
            .lease(chrono::Duration::from_std(lease)?)
            .batch_size(batch)
            // Each attempt's outcome is counted in `wardgate_outbox_deliveries_total`.
            .observer(Arc::clone(gateway.metrics()) as Arc<dyn DeliveryObserver>);
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
    // A log collector reading JSON lines gets the address as a log event, not a bare line.
    if json_logs {
        tracing::info!(public_url = %config.public_url(), "wardgate ward portal serving");
    } else {
        println!("wardgate ward portal: {}", config.public_url());
    }
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
