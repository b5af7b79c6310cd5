//! XEP-0199 ping: xmpp-parsers' `Ping`.

pub use xmpp_parsers::ping::Ping;
