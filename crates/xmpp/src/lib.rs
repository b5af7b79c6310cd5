//! Palaver's XMPP server: transports (WebSocket RFC 7395, TCP with STARTTLS, direct TLS), the XML stream,
//! SASL, resource binding, stream management, the session registry and router, and the feature modules.

pub mod ns;
pub mod xml;
pub mod sasl;
pub mod stream;
