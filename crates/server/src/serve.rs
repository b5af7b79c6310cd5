//! `palaver serve`: opens the store, makes first-run credentials, and runs every listener until a
//! shutdown signal.
//!
//! Secrets (the admin token, the default application's auth secret) never go through the log, which ends up
//! in journald or a container's log store: when one is first made it is printed once on stdout, for the
//! person at the terminal, and the log only says where to find it again.

use crate::config::Config;
use crate::logging::LogControl;
use crate::{http, metrics, tls, token_key};
use anyhow::Context;
use palaver_api::ApiState;
use palaver_core::Core;
use palaver_xmpp::stream::{serve_tcp, serve_websocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// `config_file` is the file the configuration came from (SIGHUP reads it again); `log` changes the log
/// filter then.
pub async fn run(config: Config, config_file: Option<PathBuf>, log: LogControl) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let metrics_handle = metrics::install()?;
    let render = metrics::renderer(metrics_handle.clone());
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let database_url = config.database_url();
    let cluster_config = config.cluster_config()?;
    let store = palaver_store::open(&database_url).await?;
    if let Some(journal) = palaver_store::history_journal_dir(&database_url) {
        let replayed = store
            .start_history_journal(&journal)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if replayed > 0 {
            tracing::warn!(
                replayed,
                "history: committed the journaled messages a crash had left behind"
            );
        }
    }
    store.check_private_dialog_ids();
    let mut core = Core::new(Arc::new(store.clone()), config.core_settings());
    if let Some(sealer) = token_key::token_sealer(&config, cluster_config.is_some())? {
        core = core.with_token_sealer(sealer);
    }
    // File storage (blobs).
    let core = core.with_blobs(config.blob_config()?);
    let files = core.blob_config.storage.describe();
    tracing::info!(%files, max_size = core.blob_config.max_size, "file storage ready");
    tracing::info!(data_dir = %config.data_dir.display(), database = %describe_database(&database_url), "storage ready");

    let admin_token = admin_token(&config)?;
    first_run_app(&core).await?;
    let tls_files = tls::ensure_certificate(
        config.tls_cert.as_deref(),
        config.tls_key.as_deref(),
        &config.data_dir,
        &config.domain,
    )?;
    if tls_files.generated {
        tracing::info!(cert = %tls_files.cert.display(), "generated a self-signed TLS certificate; clients must trust it");
    }
    let (tls_config, certificate) = tls::server_config(&tls_files)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config.clone());

    let readiness = palaver_api::health::Readiness::default();
    let state = ApiState {
        core: core.clone(),
        admin_token,
        domain: config.domain.clone(),
        // With a listener of its own, the page is not on the public REST ports.
        metrics: config.metrics_addr.is_none().then(|| render.clone()),
        readiness: readiness.clone(),
        live: palaver_api::live::Live::new(Some(render.clone())),
        limits: palaver_api::limits::RestLimits::new(config.rest_limits()),
    };
    // With PALAVER_ADMIN_ADDR the admin API has its own listener and the REST ports do not serve it.
    let (service, admin_service) = match config.admin_addr {
        Some(_) => (
            palaver_api::normalized(palaver_api::public_router(state.clone())),
            Some(palaver_api::normalized(palaver_api::admin_router(state))),
        ),
        None => (palaver_api::normalized(palaver_api::router(state)), None),
    };
    let admin_listener = match config.admin_addr {
        Some(addr) => Some(bind(addr, "the admin API").await?),
        None => None,
    };
    let http_listener = bind(config.http_addr, "HTTP").await?;
    let https_listener = bind(config.https_addr, "HTTPS").await?;
    let ws_listener = bind(config.ws_addr, "XMPP over WebSocket").await?;
    let wss_listener = bind(config.wss_addr, "XMPP over secure WebSocket").await?;
    let c2s_listener = bind(config.c2s_addr, "XMPP over TCP").await?;
    let c2s_tls_listener = bind(config.c2s_tls_addr, "XMPP over TLS").await?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(bind(addr, "metrics").await?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);

    let xmpp = palaver_xmpp::XmppServer::new(
        core.clone(),
        config.xmpp_config(),
        Some(palaver_xmpp::stream::starttls_acceptor(&tls_config)),
        stopped.clone(),
    );
    let limits = palaver_xmpp::stream::ListenerLimits {
        max_connections_per_ip: config.xmpp_max_connections_per_ip,
        ..Default::default()
    };
    // A cluster member announces its sessions and reaches the other nodes' through NATS.
    let cluster = match cluster_config {
        Some(cluster_config) => {
            let cluster = palaver_cluster::Cluster::connect(cluster_config).await?;
            xmpp.join_cluster(cluster.clone());
            Some(cluster)
        }
        None => None,
    };
    xmpp.register_online_directory();
    palaver_xmpp::metrics::register_gauges();
    let handler = xmpp.handler();
    let mut tasks = tokio::task::JoinSet::new();
    // The node leaves the cluster only after its sessions have closed (their last presences and
    // deliveries still reach the other nodes).
    let (leave, leaving) = watch::channel(false);
    let membership = match &cluster {
        Some(cluster) => Some(
            cluster
                .start(Arc::new(xmpp.clone()), core.store.clone(), leaving)
                .await?,
        ),
        None => None,
    };
    tasks.spawn(listening(
        &readiness,
        "http",
        http::serve(http_listener, None, service.clone(), stopped.clone()),
    ));
    tasks.spawn(listening(
        &readiness,
        "https",
        http::serve(https_listener, Some(acceptor), service, stopped.clone()),
    ));
    if let (Some(listener), Some(admin_service)) = (admin_listener, admin_service) {
        tasks.spawn(listening(
            &readiness,
            "admin",
            http::serve(listener, None, admin_service, stopped.clone()),
        ));
    }
    tasks.spawn(purge_loop(core.clone(), stopped.clone()));
    tasks.spawn(reload_on_hangup(config_file, log, certificate, stopped.clone()));
    tasks.spawn(metrics::upkeep(metrics_handle, stopped.clone()));
    if let Some(listener) = metrics_listener {
        tasks.spawn(listening(
            &readiness,
            "metrics",
            metrics::serve(listener, render, stopped.clone()),
        ));
    }
    tasks.spawn(xmpp.clone().follow_events());
    // Push: chat alerts and REST push events to FCM, APNs and the webhook.
    tasks.spawn(palaver_push::Dispatcher::new(core.clone(), config.push_config()).run(stopped.clone()));
    tasks.spawn(listening(
        &readiness,
        "xmpp-websocket",
        serve_websocket(
            ws_listener,
            None,
            limits.clone(),
            handler.clone(),
            stopped.clone(),
        ),
    ));
    tasks.spawn(listening(
        &readiness,
        "xmpp-websocket-tls",
        serve_websocket(
            wss_listener,
            Some(tls_config.clone()),
            limits.clone(),
            handler.clone(),
            stopped.clone(),
        ),
    ));
    tasks.spawn(listening(
        &readiness,
        "xmpp-tcp",
        serve_tcp(
            c2s_listener,
            None,
            limits.clone(),
            handler.clone(),
            stopped.clone(),
        ),
    ));
    tasks.spawn(listening(
        &readiness,
        "xmpp-tls",
        serve_tcp(
            c2s_tls_listener,
            Some(tls_config),
            limits,
            handler,
            stopped.clone(),
        ),
    ));
    tracing::info!(
        http = %config.http_addr,
        https = %config.https_addr,
        ws = %config.ws_addr,
        wss = %config.wss_addr,
        c2s = %config.c2s_addr,
        c2s_tls = %config.c2s_tls_addr,
        metrics = %config.metrics_addr.map_or("/metrics on the HTTP ports".to_owned(), |a| a.to_string()),
        domain = %config.domain,
        admin = %config.admin_addr.map_or("on the HTTP ports".to_owned(), |a| a.to_string()),
        cert = %tls_files.cert.display(),
        "palaver is ready"
    );

    shutdown.await;
    tracing::info!("shutting down");
    readiness.stopping();
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    // Sessions close their streams on the signal and put what they could not deliver in the store.
    if !xmpp.drained(Duration::from_secs(10)).await {
        tracing::warn!("some XMPP sessions did not finish within 10 s");
    }
    // The other nodes forget this one's sessions at once instead of after the node timeout.
    let _ = leave.send(true);
    if let Some(membership) = membership {
        let _ = membership.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// A listener's accept loop, counted by `/ready` as serving from now until it ends.
fn listening<F>(
    readiness: &palaver_api::health::Readiness,
    name: &'static str,
    task: F,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let serving = readiness.serving(name);
    async move {
        task.await;
        drop(serving);
    }
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// The configured admin token, or the one stored in the data directory (made on first run).
fn admin_token(config: &Config) -> anyhow::Result<String> {
    if let Some(token) = config.admin_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(token.clone());
    }
    let path = config.data_dir.join("admin_token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        if !token.trim().is_empty() {
            return Ok(token.trim().to_owned());
        }
    }
    let token = palaver_proto::random_hex_token(24);
    tls::write_private(&path, token.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    println!("Admin API token (generated; also in {}): {token}", path.display());
    tracing::info!(file = %path.display(), "generated the admin API token (printed on stdout, kept in the file)");
    Ok(token)
}

/// On a fresh database, creates a default application and prints its credentials once.
async fn first_run_app(core: &Core) -> anyhow::Result<()> {
    if !core.apps().list().await?.is_empty() {
        return Ok(());
    }
    let app = core.apps().create("Default").await?;
    println!(
        "Default application created: application_id {}, auth_key {}, auth_secret {}",
        app.id, app.auth_key, app.auth_secret
    );
    tracing::info!(
        application_id = app.id,
        "created the default application (credentials printed on stdout; `palaver app list` shows them again)"
    );
    Ok(())
}

async fn purge_loop(core: Core, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = core.sessions().purge_expired().await {
                    tracing::warn!(%error, "purging expired sessions failed");
                }
                // File storage: uploads never completed.
                if let Err(error) = core.blobs().purge_orphans().await {
                    tracing::warn!(%error, "purging abandoned uploads failed");
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

/// SIGHUP: reads the configuration again and applies what can change while running, the log filter and
/// the TLS certificate (the same files, read again: a renewed certificate). Anything that fails to load
/// is logged and the old setting stays.
async fn reload_on_hangup(
    config_file: Option<PathBuf>,
    log: LogControl,
    certificate: Arc<tls::ServerCertificate>,
    mut stopped: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return tracing::warn!("cannot listen for SIGHUP; reloading is off");
        };
        loop {
            tokio::select! {
                _ = hangup.recv() => {}
                _ = stopped.changed() => return,
            }
            match Config::load(config_file.as_deref()) {
                Ok(config) => match log.reload(&config) {
                    Ok(()) => tracing::info!(filter = %config.log, "log filter reloaded"),
                    Err(error) => tracing::warn!(%error, "log filter not reloaded"),
                },
                Err(error) => tracing::warn!(%error, "configuration not reloaded"),
            }
            match certificate.reload() {
                Ok(()) => {
                    tracing::info!(cert = %certificate.files().cert.display(), "TLS certificate reloaded")
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "TLS certificate not reloaded; the old one stays")
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (config_file, log, certificate);
        let _ = stopped.changed().await;
    }
}

fn describe_database(url: &str) -> String {
    match url.split_once('@') {
        // Keep credentials out of the log.
        Some((_, host)) if url.starts_with("postgres") => format!("postgres://…@{host}"),
        _ => url.to_owned(),
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is called (a signal that came while the listeners
/// start would otherwise get the default action and end the process without a clean shutdown); the future
/// resolves on the first.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).expect("cannot listen for SIGINT");
        let mut term = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
