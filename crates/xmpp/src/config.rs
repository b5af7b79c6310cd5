//! Tunables of the XMPP server.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct XmppConfig {
    /// The domain of every JID.
    pub domain: String,
    /// Other names clients may put in the stream header's `to` (the WebSocket host, an IP...).
    pub aliases: Vec<String>,
    /// Largest stanza accepted before / after authentication, in bytes.
    pub max_stanza_before_auth: usize,
    pub max_stanza_after_auth: usize,
    /// A connection must finish authenticating and binding within this time.
    pub auth_timeout: Duration,
    /// After this much silence the server pings the client…
    pub ping_interval: Duration,
    /// …and drops it if nothing arrives within this time after the ping.
    pub ping_timeout: Duration,
    /// How long a stream-management session waits for its client to resume after the connection is lost.
    pub resume_window: Duration,
    /// Stanzas a session may hold unacknowledged (stream management) or queued for sending before it is
    /// treated as a slow consumer and closed.
    pub max_unacked: usize,
    pub outbound_queue: usize,
    /// Inbound stanzas per second per connection (sustained) and the burst allowed above it.
    pub stanza_rate: f64,
    pub stanza_burst: f64,
    /// Inbound bytes per second per connection after login (sustained) and the burst above it.
    pub byte_rate: f64,
    pub byte_burst: f64,
    /// Chat sessions one user may have at once; 0 = unlimited.
    pub max_sessions_per_user: usize,
    /// Whether plain TCP connections from non-loopback addresses may skip STARTTLS.
    pub allow_plaintext: bool,
}

impl XmppConfig {
    pub fn new(domain: &str) -> XmppConfig {
        XmppConfig {
            domain: domain.to_owned(),
            aliases: vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "[::1]".into(),
            ],
            max_stanza_before_auth: 10 * 1024,
            max_stanza_after_auth: 256 * 1024,
            auth_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            resume_window: Duration::from_secs(300),
            max_unacked: 1000,
            outbound_queue: 512,
            stanza_rate: 50.0,
            stanza_burst: 200.0,
            byte_rate: 1024.0 * 1024.0,
            byte_burst: 4.0 * 1024.0 * 1024.0,
            max_sessions_per_user: 100,
            allow_plaintext: false,
        }
    }

    /// True when a stream may name this host.
    pub fn serves(&self, host: &str) -> bool {
        host.eq_ignore_ascii_case(&self.domain) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(host))
    }

    /// The dialog rooms' domain.
    pub fn muc_domain(&self) -> String {
        palaver_proto::jid::muc_domain(&self.domain)
    }

    /// True when `host` is the dialog rooms' domain (`muc_domain`, any case), without building it: every
    /// stanza's address is checked.
    pub fn is_muc_domain(&self, host: &str) -> bool {
        palaver_proto::jid::is_muc_domain(&self.domain, host)
    }
}
