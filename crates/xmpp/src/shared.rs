//! What every session and every part of the server reaches: the domain's services, the configuration,
//! the session registry and the shutdown signal. No feature module keeps its state here: that is the
//! dispatcher's (`dispatch.rs`).

use crate::config::XmppConfig;
use crate::registry::Registry;
use palaver_core::Core;
use std::sync::atomic::AtomicUsize;
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;

pub struct Shared {
    pub core: Core,
    pub config: XmppConfig,
    pub registry: Registry,
    /// For STARTTLS on plain TCP.
    pub starttls: Option<TlsAcceptor>,
    pub shutdown: watch::Receiver<bool>,
    /// Sessions running, and a wake-up for when there are none left (the server's drain).
    pub(crate) active: AtomicUsize,
    pub(crate) idle: Notify,
}

impl Shared {
    pub fn new(
        core: Core,
        config: XmppConfig,
        starttls: Option<TlsAcceptor>,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        Shared {
            core,
            config,
            registry: Registry::default(),
            starttls,
            shutdown,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }
}
