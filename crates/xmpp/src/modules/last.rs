//! Last activity (XEP-0012, answered for the queried user) and ConnectyCube's status streaming: sessions
//! subscribe to users and are pushed each change between online and offline.

use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use crate::xml::{self, Element};
use palaver_core::{CoreError, CoreResult};
use palaver_proto::{new_object_id, UserJid};
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

pub const STATUS_STREAMING: &str = "https://connectycube.com/protocol/status_streaming";
pub const LAST: &str = "jabber:iq:last";

/// Who follows whose status: target → (watcher, watcher's session).
#[derive(Default)]
pub struct StatusWatchers {
    watchers: RwLock<HashMap<UserJid, HashSet<(UserJid, u64)>>>,
}

impl StatusWatchers {
    fn set(&self, target: UserJid, watcher: (UserJid, u64), enable: bool) {
        let mut map = self.watchers.write().expect("lock poisoned");
        if enable {
            map.entry(target).or_default().insert(watcher);
        } else if let Some(set) = map.get_mut(&target) {
            set.remove(&watcher);
            if set.is_empty() {
                map.remove(&target);
            }
        }
    }

    fn of(&self, target: UserJid) -> Vec<(UserJid, u64)> {
        self.watchers
            .read()
            .expect("lock poisoned")
            .get(&target)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Subscriptions are per session: they go when it does.
    pub fn session_ended(&self, session: u64) {
        let mut map = self.watchers.write().expect("lock poisoned");
        map.retain(|_, set| {
            set.retain(|(_, s)| *s != session);
            !set.is_empty()
        });
    }
}

/// `<query xmlns="jabber:iq:last" seconds="…"/>`.
fn last_query(seconds: i64) -> Element {
    xml::with_attr(xml::element("query", LAST), "seconds", seconds.max(0).to_string())
}

/// Seconds since the user was last in chat: 0 while online, None for a user never seen.
async fn seconds_idle(shared: &Shared, user: UserJid) -> CoreResult<Option<i64>> {
    let exists = shared.core.store.user(user.app_id, user.user_id).await?;
    let Some(account) = exists else {
        return Err(CoreError::NotFound);
    };
    if shared.registry.is_online(user) {
        return Ok(Some(0));
    }
    let last = shared.core.store.last_logout(user.app_id, user.user_id).await?;
    let now = shared.core.clock.now_millis();
    Ok(last
        .or(account.last_request_at)
        .map(|at| ((now - at) / 1000).max(1)))
}

/// A last-activity query to a user's bare JID, answered on the user's behalf with `from` = the user
/// (the SDKs read the user id from it).
pub async fn query(shared: &Shared, iq: &Element, asker: UserJid, target: UserJid) -> Element {
    // A user who blocked the asker does not tell it when it was last seen.
    if super::privacy::blocks(shared, target, asker, super::privacy::Kind::Iq).await {
        return stanza::error_reply(iq, Condition::Forbidden, "Not allowed");
    }
    match seconds_idle(shared, target).await {
        Ok(Some(seconds)) => stanza::iq_result(iq, Some(last_query(seconds))),
        Ok(None) => stanza::error_reply(iq, Condition::ItemNotFound, "The user has never been seen"),
        Err(error) => StanzaError::from(&error).reply_to(iq),
    }
}

/// `<subscribe xmlns="https://connectycube.com/protocol/status_streaming" user_jid="…" enable="…"/>`.
pub fn subscribe(session: &Online, iq: &Element, request: &Element) -> Element {
    let shared = &session.shared;
    let target = match request
        .attr("user_jid")
        .map(|jid| stanza::classify(jid, &shared.config))
    {
        Some(stanza::Target::User(target, _)) if target.app_id == session.auth.user.app_id => target,
        _ => return stanza::error_reply(iq, Condition::BadRequest, "user_jid must name a user"),
    };
    let enable = request.attr("enable") != Some("false");
    shared
        .status_watchers
        .set(target, (session.auth.user, session.handle.id), enable);
    stanza::iq_result(iq, None)
}

/// Pushes a user's status to its watchers on every node.
fn notify(shared: &Shared, user: UserJid, seconds: i64) {
    notify_local(shared, user, seconds);
    crate::remote::status_everywhere(shared, user, seconds);
}

/// Pushes a user's status to its watchers on this node: `type="result"` so the SDKs answer nothing.
pub fn notify_local(shared: &Shared, user: UserJid, seconds: i64) {
    for (watcher, session) in shared.status_watchers.of(user) {
        let Some(handle) = shared
            .registry
            .sessions(watcher)
            .into_iter()
            .find(|s| s.id == session)
        else {
            continue;
        };
        let mut push = xml::element("iq", ns::CLIENT);
        xml::set_attr(&mut push, "type", "result");
        xml::set_attr(&mut push, "id", format!("status-{}", new_object_id()));
        xml::set_attr(&mut push, "from", user.bare(&shared.config.domain));
        push.append_child(last_query(seconds));
        router::local_to_resource(shared, watcher, &handle.resource, &push);
    }
}

/// The user's first session became available.
pub fn went_online(shared: &Shared, user: UserJid) {
    notify(shared, user, 0);
}

/// The user's last available session went away: remember when, and tell the watchers.
pub async fn went_offline(shared: &Shared, user: UserJid) {
    let now = shared.core.clock.now_millis();
    if let Err(error) = shared
        .core
        .store
        .set_last_logout(user.app_id, user.user_id, now)
        .await
    {
        tracing::warn!(%error, "recording the last logout failed");
    }
    // One second rather than zero: zero reads as "online" to the apps.
    notify(shared, user, 1);
}
