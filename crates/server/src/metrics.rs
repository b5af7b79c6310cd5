//! Prometheus metrics for the whole process: installs the recorder every crate records into (names in
//! `palaver_core::metrics`), with histogram buckets, describes every metric, runs the exporter's
//! upkeep, and serves the page on a listener of its own when `metrics_addr` is set (otherwise the REST
//! API serves it at `/metrics`).

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use palaver_api::metrics::MetricsRenderer;
use palaver_core::metrics as names;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Buckets of every `_seconds` histogram: 1 ms to 10 s.
const SECONDS_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of the store's batch sizes.
const BATCH_SIZE_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
/// How often the exporter drops stale histogram samples.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder and describes every metric. Once per process.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut builder = PrometheusBuilder::new();
    for name in names::SECONDS_HISTOGRAMS {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), &SECONDS_BUCKETS)?;
    }
    let handle = builder
        .set_buckets_for_metric(
            Matcher::Full(names::STORE_BATCH_SIZE.to_owned()),
            &BATCH_SIZE_BUCKETS,
        )?
        .install_recorder()
        .context("installing the metrics recorder")?;
    names::describe();
    Ok(handle)
}

/// What the HTTP service calls to render the page.
pub fn renderer(handle: PrometheusHandle) -> MetricsRenderer {
    Arc::new(move || handle.render())
}

/// Runs the exporter's upkeep until shutdown.
pub async fn upkeep(handle: PrometheusHandle, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = stopped.changed() => return,
        }
    }
}

/// Serves only `/metrics` on its own listener (plain HTTP), until shutdown.
pub async fn serve(listener: TcpListener, render: MetricsRenderer, stopped: watch::Receiver<bool>) {
    let router = Router::new().route(
        "/metrics",
        get(move || async move { palaver_api::metrics::page(&render) }),
    );
    crate::http::serve(listener, None, router, stopped).await
}
