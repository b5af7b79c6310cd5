//! XML namespaces used on the wire.

pub const CLIENT: &str = "jabber:client";
pub const STREAM: &str = "http://etherx.jabber.org/streams";
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
pub const STREAMS_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const SASL2: &str = "urn:xmpp:sasl:2";
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const BIND2: &str = "urn:xmpp:bind:0";
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
pub const SM: &str = "urn:xmpp:sm:3";
pub const PING: &str = "urn:xmpp:ping";
pub const CARBONS: &str = "urn:xmpp:carbons:2";
pub const FORWARD: &str = "urn:xmpp:forward:0";
pub const DELAY: &str = "urn:xmpp:delay";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const ROSTER: &str = "jabber:iq:roster";
pub const CHAT_MARKERS: &str = "urn:xmpp:chat-markers:0";
pub const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
pub const CSI: &str = "urn:xmpp:csi:0";
pub const VERSION: &str = "jabber:iq:version";
