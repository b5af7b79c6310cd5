//! XEP-0198 stream management nonzas the server reads: xmpp-parsers' `A`, `R` and `Enable`.

pub use xmpp_parsers::sm::{Enable, A, R};
