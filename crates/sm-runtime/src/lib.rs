//! The thin tokio shell of the stream manager.
//!
//! This crate owns everything that touches the outside world: the TCP server
//! ([`server`]), the files of the store ([`store`]), the clock ([`clock`]), configuration from
//! flags and environment ([`config`]), logging and shutdown. All protocol and storage logic is
//! in the sans-IO crates: `sm-wire` decodes and encodes frames, `sm-model` validates and fills
//! defaults, `sm-log` plans every append, read, retention and recovery, and this crate executes
//! those plans. The export manager ([`export`]) runs `sm-export`'s engine with real time and
//! carries out its actions: reads from the store, calls with reqwest, checkpoints.
//!
//! The optional metrics and health endpoint ([`metrics`]) reads the counters kept by the
//! store, the export manager and [`telemetry`].
//!
//! Driven by [`main`] (the binary's entry point): parse configuration, open the store
//! (recovering every File stream), apply the declared streams file ([`declared`]; again on
//! each SIGHUP), start the export manager, bind, serve until SIGTERM or Ctrl-C, then fsync
//! and exit.

pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod declared;
pub mod export;
pub mod greengrass;
pub mod handlers;
pub mod metrics;
pub mod net;
pub mod server;
pub mod store;
pub mod telemetry;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing::{error, info, warn};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use auth::Authenticator;
use config::{Args, AuthSource, Config};
use server::Shared;

/// How often TTL retention runs.
const EXPIRE_EVERY: Duration = Duration::from_secs(5);

/// The daemon's entry point.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let filter = config::log_filter(&args.log_level).unwrap_or("info");
    // `Targets`, not `EnvFilter`: no regular expressions in the daemon (W4).
    let t = format!(
        "warn,sm_runtime={filter},sm_store={filter},sm_export={filter},stream_manager={filter}"
    );
    let targets: Targets = t.parse().unwrap_or_default();
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    tracing_subscriber::registry()
        .with(log.with_filter(targets))
        .init();
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            error!("configuration error: {e:#}");
            eprintln!("stream-manager: {e:#}");
            return ExitCode::from(2);
        }
    };
    server::raise_open_file_limit(config.connection_limits.max_connections);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stream-manager: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("fatal: {e:#}");
            eprintln!("stream-manager: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the daemon until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let telemetry = Arc::new(telemetry::Counters::default());
    // Under Greengrass, connect to the nucleus first: token validation needs it.
    let nucleus = config
        .greengrass
        .clone()
        .map(|g| greengrass::Nucleus::start(g, telemetry.clone()));
    let auth = match (&config.auth, &nucleus) {
        (AuthSource::Off, _) => Authenticator::Off,
        (AuthSource::Tokens(t), _) => Authenticator::Tokens(t.clone()),
        (AuthSource::Nucleus, Some(n)) => Authenticator::Nucleus(n.clone()),
        (AuthSource::Nucleus, None) => {
            anyhow::bail!("token validation by the nucleus needs its IPC settings")
        }
    };
    net::check_ca_bundle(&config.aws.net)?;
    let store = tokio::task::block_in_place(|| store::open(&config.store_root))?;
    if let Some(path) = &config.streams_file {
        tokio::task::block_in_place(|| declared::apply(&store, path))
            .context("the streams file was not applied")?;
    }
    // Before the port file announces the daemon, so that a SIGHUP sent at once reloads the
    // streams file instead of ending the process (SIGHUP's default action).
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let addr = std::net::SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    if !config.host.is_loopback() {
        warn!(%local, "listening on a non-loopback address: every host that can reach it can use the streams");
    }
    info!(
        %local,
        port = local.port(),
        store = %config.store_root.display(),
        auth = auth.describe(),
        greengrass = nucleus.is_some(),
        "stream manager listening on {local}"
    );
    // Bound before the port file announces the daemon, so its address is logged by then.
    let metrics_listener = match &config.metrics {
        Some(m) => {
            let l = TcpListener::bind(m.address)
                .await
                .with_context(|| format!("cannot listen on {} for metrics", m.address))?;
            let at = l.local_addr()?;
            if !at.ip().is_loopback() {
                warn!(%at, "metrics and health endpoint on a non-loopback address: every host that can reach it can read them");
            }
            info!(metrics_address = %at, "metrics and health endpoint listening on http://{at}/metrics and http://{at}/health");
            Some((l, m.stall_after))
        }
        None => None,
    };
    if let Some(p) = &config.port_file {
        store::fsutil::write_atomic(p, format!("{}\n", local.port()).as_bytes())
            .with_context(|| format!("cannot write port file {}", p.display()))?;
    }
    if let Some(n) = &nucleus {
        n.listening(local.port());
    }
    let store = Arc::new(store);
    let reloader = tokio::spawn(reload_on_hangup(
        hup,
        store.clone(),
        config.streams_file.clone(),
    ));
    let exporter = tokio::spawn(
        export::Manager::new(
            store.clone(),
            telemetry.clone(),
            config.export,
            config.aws.clone(),
        )?
        .run(),
    );
    let shared = Arc::new(
        Shared::new(store, telemetry, auth, config.max_frame_bytes)
            .with_limits(config.connection_limits),
    );
    let metrics = metrics_listener.map(|(listener, stall_after)| {
        let endpoint = Arc::new(metrics::Endpoint::new(shared.clone(), stall_after));
        tokio::task::block_in_place(|| endpoint.probe_now());
        tokio::spawn(metrics::serve(listener, endpoint))
    });
    let expirer = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRE_EVERY);
            loop {
                tick.tick().await;
                let s = shared.clone();
                let _ =
                    tokio::task::spawn_blocking(move || s.store.expire_all(clock::now_ms())).await;
            }
        })
    };
    server::serve(listener, shared.clone(), shutdown).await;
    expirer.abort();
    exporter.abort();
    reloader.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    info!("shutting down: flushing streams");
    tokio::task::block_in_place(|| shared.store.sync_all());
    info!("stopped");
    Ok(())
}

/// Applies the streams file again on each SIGHUP (a bad file is logged and changes nothing).
async fn reload_on_hangup(
    mut hup: tokio::signal::unix::Signal,
    store: Arc<store::Store>,
    path: Option<std::path::PathBuf>,
) {
    while hup.recv().await.is_some() {
        let Some(path) = path.clone() else {
            info!("SIGHUP: no streams file is configured (--streams-file); nothing to reload");
            continue;
        };
        info!(file = %path.display(), "SIGHUP: applying the streams file");
        let s = store.clone();
        match tokio::task::spawn_blocking(move || declared::apply(&s, &path)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                error!("streams file not applied: {e:#}; the streams are kept as they were")
            }
            Err(e) => error!("streams file not applied: {e}"),
        }
    }
}

/// Installs the SIGTERM and Ctrl-C handlers (before the port file announces the daemon, so a
/// supervisor that signals it at once is obeyed) and returns a future that resolves on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => info!("received Ctrl-C"),
            _ = term.recv() => info!("received SIGTERM"),
        }
    })
}
