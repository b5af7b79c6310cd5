//! Domain events that end in stanzas: what REST does to messages shows up in real time.

use crate::server::Shared;
use palaver_core::events::Event;

/// Turns an event into deliveries. Events without a real-time side are ignored.
pub async fn apply(shared: &Shared, event: Event) {
    let _ = (shared, event);
}
