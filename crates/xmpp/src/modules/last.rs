//! Last activity (XEP-0012, answered for the queried user) and ConnectyCube's status streaming: sessions
//! subscribe to users and are pushed each change between online and offline.

use crate::context::Context;
use crate::envelope;
use crate::parsers::last::LastQuery;
use crate::parsers::status_streaming::Subscribe;
use crate::parsers::{Iq, IqType};
use crate::policy;
use crate::router;
use crate::shared::Shared;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use crate::watchers::StatusWatchers;
use palaver_core::{CoreError, CoreResult};
use palaver_proto::{new_object_id, UserJid};

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
pub async fn query(mut ctx: Context<'_>, iq: Iq, target: UserJid) {
    let shared = ctx.shared;
    // A user who blocked the asker does not tell it when it was last seen.
    let answer = if policy::blocks(shared, target, ctx.user(), policy::Kind::Iq).await {
        stanza::refuse(&iq, Condition::Forbidden, "Not allowed")
    } else {
        match seconds_idle(shared, target).await {
            Ok(Some(seconds)) => iq.result(Some(LastQuery::answer(seconds).into())).into(),
            Ok(None) => stanza::refuse(&iq, Condition::ItemNotFound, "The user has never been seen"),
            Err(error) => StanzaError::from(&error).refuse(&iq),
        }
    };
    ctx.reply(answer).await
}

/// `<subscribe xmlns="https://connectycube.com/protocol/status_streaming" user_jid="…" enable="…"/>`.
pub async fn subscribe(mut ctx: Context<'_>, iq: Iq) {
    let shared = ctx.shared;
    let request = iq.payload().cloned().and_then(|p| Subscribe::try_from(p).ok());
    let target = match request
        .as_ref()
        .and_then(|r| r.user_jid.as_deref())
        .map(|jid| stanza::classify(jid, &shared.config))
    {
        Some(stanza::Target::User(target, _)) if target.app_id == ctx.user().app_id => target,
        _ => {
            let refusal = stanza::refuse(&iq, Condition::BadRequest, "user_jid must name a user");
            return ctx.reply(refusal).await;
        }
    };
    let enable = request.is_some_and(|r| r.enable);
    ctx.state
        .watchers
        .set(target, (ctx.user(), ctx.sender.handle.id), enable);
    ctx.reply(iq.result(None)).await
}

/// Pushes a user's status to its watchers on every node.
fn notify(shared: &Shared, watchers: &StatusWatchers, user: UserJid, seconds: i64) {
    notify_here(shared, watchers, user, seconds);
    envelope::status_everywhere(shared, user, seconds);
}

/// Pushes a user's status to its watchers on this node: `type="result"` so the SDKs answer nothing.
pub fn notify_here(shared: &Shared, watchers: &StatusWatchers, user: UserJid, seconds: i64) {
    for (watcher, session) in watchers.of(user) {
        let Some(handle) = shared
            .registry
            .sessions(watcher)
            .into_iter()
            .find(|s| s.id == session)
        else {
            continue;
        };
        let mut push = Iq::new(IqType::Result, format!("status-{}", new_object_id()))
            .with_payload(LastQuery::answer(seconds));
        push.head.from = Some(user.bare(&shared.config.domain));
        router::deliver_to_resource_here(shared, watcher, &handle.resource, &push.into());
    }
}

/// The user's first session became available.
pub fn went_online(shared: &Shared, watchers: &StatusWatchers, user: UserJid) {
    notify(shared, watchers, user, 0);
}

/// The user's last available session went away: remember when, and tell the watchers.
pub async fn went_offline(shared: &Shared, watchers: &StatusWatchers, user: UserJid) {
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
    notify(shared, watchers, user, 1);
}
