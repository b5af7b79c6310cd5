//! Typed stanzas: one file per protocol element the server reads or writes. Each type converts from an
//! element (`TryFrom<Element>`) and back (`From<T> for Element`), xmpp-parsers' way; where xmpp-parsers
//! 0.23 covers the XEP and accepts what the SDKs send, the type is xmpp-parsers' own (re-exported), and
//! the rest is written here in the same style (each file says why).
//!
//! The three stanza kinds (`message`, `presence`, `iq`) keep a typed head and their children as
//! elements in the order they came: reading one moves its parts out of the element the stream parser
//! built, writing it moves them back, so a stanza is parsed once and unknown payloads pass through
//! untouched. A module reads a payload with the type of its file (`roster::Roster::try_from(child)`).
//!
//! Adding a XEP: one file here (its types, with round-trip tests from real traffic in `tests.rs`), one
//! handler registered by payload in `crate::dispatch` (see ARCHITECTURE.md).

pub mod bind;
pub mod bind2;
pub mod blocking;
pub mod carbons;
pub mod correction;
pub mod csi;
pub mod delay;
pub mod disco;
pub mod error;
pub mod extra_params;
pub mod head;
pub mod iq;
pub mod last;
pub mod markers;
pub mod message;
pub mod mobile;
pub mod muc;
pub mod ping;
pub mod presence;
pub mod privacy;
pub mod reactions;
pub mod roster;
pub mod sasl;
pub mod sasl2;
pub mod signal;
pub mod sm;
pub mod starttls;
pub mod status_streaming;
pub mod version;

#[cfg(test)]
pub(crate) mod tests;

pub use head::{Head, ParseError};
pub use iq::{Iq, IqType};
pub use message::{Message, MessageType};
pub use presence::{Presence, PresenceType};
pub use signal::Signal;
