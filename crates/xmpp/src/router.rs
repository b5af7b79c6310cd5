//! Delivering stanzas to users: every available session, one resource, or — for 1-1 messages nobody is
//! online for — the offline store.

use crate::registry::Delivery;
use crate::server::Shared;
use crate::xml::{self, Element};
use palaver_core::CoreResult;
use palaver_proto::UserJid;

/// Sends `stanza` to every available session of `user` (except `exclude`), each with its own `to`.
/// Returns how many sessions took it.
pub fn to_available(shared: &Shared, user: UserJid, stanza: &Element, exclude: Option<u64>) -> usize {
    let domain = &shared.config.domain;
    shared.registry.with_sessions(user, |sessions| {
        let mut delivered = 0;
        for session in sessions {
            if Some(session.id) == exclude || !session.is_available() {
                continue;
            }
            let mut copy = stanza.clone();
            xml::set_attr(&mut copy, "to", session.full_jid(domain));
            if let Delivery::Queued = session.deliver(copy) {
                delivered += 1;
            }
        }
        delivered
    })
}

/// Sends `stanza` to one bound session. False when there is no such session or it cannot take it.
pub fn to_resource(shared: &Shared, user: UserJid, resource: &str, stanza: &Element) -> bool {
    let Some(session) = shared.registry.session(user, resource) else {
        return false;
    };
    let mut copy = stanza.clone();
    xml::set_attr(&mut copy, "to", session.full_jid(&shared.config.domain));
    matches!(session.deliver(copy), Delivery::Queued)
}

/// A 1-1 message for `user`: to every available session, or kept for the next one when there is none.
/// It is never lost: either some session queued it or it is durable in the store when this returns.
pub async fn deliver_or_store(
    shared: &Shared,
    user: UserJid,
    stanza: &Element,
    exclude: Option<u64>,
) -> CoreResult<()> {
    if to_available(shared, user, stanza, exclude) > 0 {
        return Ok(());
    }
    let mut kept = stanza.clone();
    xml::set_attr(&mut kept, "to", user.bare(&shared.config.domain));
    shared
        .core
        .offline()
        .store(user.app_id, user.user_id, &xml::to_string(&kept))
        .await
}
