//! XEP-0352 client state indication: xmpp-parsers' `Active` and `Inactive`.

pub use xmpp_parsers::csi::{Active, Inactive};
