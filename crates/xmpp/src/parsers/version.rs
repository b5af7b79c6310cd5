//! XEP-0092 software version: xmpp-parsers' query and answer.

pub use xmpp_parsers::version::{VersionQuery, VersionResult};
