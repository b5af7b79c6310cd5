//! One module per feature, as Prosody and ejabberd do it. A module reads typed stanzas (`crate::parsers`),
//! answers through the `Context` its handler gets (`crate::context`), delivers through `crate::router`,
//! and never imports another module: the dispatcher (`crate::dispatch`) registers the handlers and
//! sequences what one module's outcome means for another.

pub mod domain_events;
pub mod groupchat;
pub mod iq;
pub mod last;
pub mod message;
pub mod muc;
pub mod presence;
pub mod privacy;
pub mod roster;
