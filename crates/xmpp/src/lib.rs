//! Palaver's XMPP server: transports (WebSocket RFC 7395, TCP with STARTTLS, direct TLS), the XML stream,
//! SASL, resource binding, stream management, the session registry and router, and the feature modules.

pub mod auth;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod envelope;
pub mod fuzzing;
pub mod metrics;
pub mod modules;
pub mod ns;
pub mod parsers;
pub mod policy;
pub mod queue;
pub mod registry;
pub mod remote;
pub mod rooms;
pub mod router;
pub mod sasl;
pub mod server;
pub mod session;
pub mod shared;
pub mod stanza;
pub mod stanza_error;
pub mod stream;
pub mod watchers;
pub mod xml;
mod xml_write;

pub use config::XmppConfig;
pub use server::XmppServer;
