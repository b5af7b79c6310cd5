//! STARTTLS (RFC 6120 §5): xmpp-parsers' `Request` (the client's `<starttls/>`), `Proceed` and `Failure`
//! (the server's answers) and `StartTls` (the feature, with its `<required/>` flag).

pub use xmpp_parsers::starttls::{Failure, Proceed, Request, StartTls};
