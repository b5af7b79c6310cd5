//! The log: `tracing` events on stderr, as text lines or (`log_format = "json"`) one JSON object per
//! event with the spans it happened in. The filter (`log`, or `RUST_LOG` when set) can be changed while
//! the server runs: SIGHUP re-reads the configuration and applies the new one.

use crate::config::Config;
use anyhow::bail;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// Changes the filter of the installed subscriber.
#[derive(Clone)]
pub struct LogControl {
    filter: reload::Handle<EnvFilter, Registry>,
}

impl LogControl {
    /// Applies the filter `config` names (`RUST_LOG` still wins); a filter that does not parse leaves
    /// the old one in place.
    pub fn reload(&self, config: &Config) -> anyhow::Result<()> {
        let filter = filter_of(config)?;
        self.filter.reload(filter)?;
        Ok(())
    }
}

/// Installs the global subscriber.
pub fn init(config: &Config) -> anyhow::Result<LogControl> {
    let json = match config.log_format.trim().to_ascii_lowercase().as_str() {
        "" | "text" => false,
        "json" => true,
        other => bail!("unknown log_format {other:?} (use text or json)"),
    };
    // A bad filter at start is not fatal: the default one is used and the problem logged.
    let (filter, problem) = match filter_of(config) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        use std::io::IsTerminal;
        registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init();
    }
    if let Some(error) = problem {
        tracing::warn!(%error, "the log filter does not parse; using info");
    }
    Ok(LogControl { filter: handle })
}

fn filter_of(config: &Config) -> anyhow::Result<EnvFilter> {
    let text = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| config.log.clone());
    match EnvFilter::try_new(&text) {
        Ok(filter) => Ok(filter),
        Err(error) => bail!("the log filter {text:?} does not parse: {error}"),
    }
}
