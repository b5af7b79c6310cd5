//! Privacy lists (XEP-0016 as ConnectyCube profiles it, docs/protocol.md#xmpp-privacy-lists) and the
//! XEP-0191 blocking command on the same lists: managing them. Enforcing them is `crate::policy`'s.
//!
//! Managing: `jabber:iq:privacy` iqs to the server — names, a list by name (an unknown name gets an empty
//! `<list name="…"/>`, not `item-not-found`: v3's `getList` never settles on an error), create/replace (a
//! new list needs at least one item: one without is a `bad-request`), delete (a list without items), the
//! default list (declined with an empty `<default/>`) and the session's active list (`<active/>`). Editing
//! or deleting the default list is allowed; deleting it leaves no default. An active list is kept and
//! reported for the session but not enforced (the SDKs never set one).
//! Nothing is pushed to other sessions: the SDKs answer `iq type="set"` pushes with errors and mistake any
//! iq carrying a `<query>` for a last-activity push (docs/protocol.md#quirk-iq-query-is-last-activity).

use crate::context::Context;
use crate::parsers::blocking::Blocking;
use crate::parsers::privacy::{ItemError, List, Query, QueryChild};
use crate::parsers::{Iq, IqType};
use crate::router;
use crate::shared::Shared;
use crate::stanza::Condition;
use crate::stanza_error::StanzaError;
use crate::xml::Element;
use palaver_core::privacy::{Action, PrivacyItem, PrivacyList, Stanzas, Target};
use palaver_proto::UserJid;

/// The list the blocking command creates (and makes the default) for a user without a default list.
pub const BLOCKLIST_NAME: &str = "blocklist";

fn refusal(condition: Condition, text: &str) -> StanzaError {
    StanzaError::new(condition, text)
}

/// Answers a `jabber:iq:privacy` iq to the server.
pub async fn query(mut ctx: Context<'_>, iq: Iq) {
    let query = iq.payload().cloned().map(Query::try_from);
    let outcome = match (iq.type_.as_ref(), query) {
        (Some(IqType::Get), Some(Ok(query))) => get(&mut ctx, query).await,
        (Some(IqType::Set), Some(Ok(query))) => set(&mut ctx, query).await,
        _ => Err(refusal(Condition::BadRequest, "Expected a privacy query")),
    };
    let answer = match outcome {
        Ok(payload) => iq.result(payload).into(),
        Err(error) => error.refuse(&iq),
    };
    ctx.reply(answer).await
}

async fn get(ctx: &mut Context<'_>, query: Query) -> Result<Option<Element>, StanzaError> {
    let user = ctx.user();
    let privacy = ctx.shared.core.privacy();
    match query.children.as_slice() {
        [] => {
            let names = privacy
                .names(user.app_id, user.user_id)
                .await
                .map_err(StanzaError::from)?;
            let mut answer = Query::default();
            // The SDKs report every child's name in `names`, active and default included
            // (docs/protocol.md#quirk-privacy-list-reading).
            if let Some(active) = ctx
                .sender
                .handle
                .privacy_active()
                .filter(|a| names.lists.contains(a))
            {
                answer.children.push(QueryChild::Active(Some(active)));
            }
            if let Some(default) = &names.default {
                answer.children.push(QueryChild::Default(Some(default.clone())));
            }
            for name in names.lists {
                answer.children.push(QueryChild::List(List {
                    name: Some(name),
                    items: Vec::new(),
                }));
            }
            Ok(Some(answer.into()))
        }
        [QueryChild::List(list)] => {
            let name = list
                .name
                .as_deref()
                .ok_or_else(|| refusal(Condition::BadRequest, "A list needs a name"))?;
            let found = privacy
                .list(user.app_id, user.user_id, name)
                .await
                .map_err(StanzaError::from)?;
            // An unknown list reads as an empty one (docs/protocol.md#quirk-privacy-list-reading).
            let found = found.unwrap_or_else(|| PrivacyList {
                name: name.to_owned(),
                items: Vec::new(),
            });
            let answer = Query {
                children: vec![QueryChild::List(List::of(&found))],
            };
            Ok(Some(answer.into()))
        }
        _ => Err(refusal(
            Condition::BadRequest,
            "Ask for the list names or for exactly one list",
        )),
    }
}

async fn set(ctx: &mut Context<'_>, query: Query) -> Result<Option<Element>, StanzaError> {
    let user = ctx.user();
    let shared = ctx.shared;
    let privacy = shared.core.privacy();
    let [child] = query.children.as_slice() else {
        return Err(refusal(Condition::BadRequest, "Change one thing at a time"));
    };
    match child {
        QueryChild::Active(name) => {
            match name {
                None => ctx.sender.handle.set_privacy_active(None),
                Some(name) => {
                    let exists = privacy
                        .list(user.app_id, user.user_id, name)
                        .await
                        .map_err(StanzaError::from)?
                        .is_some();
                    if !exists {
                        return Err(refusal(
                            Condition::ItemNotFound,
                            "There is no privacy list of that name",
                        ));
                    }
                    ctx.sender.handle.set_privacy_active(Some(name.clone()));
                }
            }
            Ok(None)
        }
        QueryChild::Default(name) => {
            privacy
                .set_default(user.app_id, user.user_id, name.as_deref())
                .await
                .map_err(StanzaError::from)?;
            Ok(None)
        }
        QueryChild::List(list) => {
            let name = list
                .name
                .as_deref()
                .ok_or_else(|| refusal(Condition::BadRequest, "A list needs a name"))?;
            let items = list
                .items
                .iter()
                .map(|item| item.to_core().map_err(item_refusal))
                .collect::<Result<Vec<PrivacyItem>, StanzaError>>()?;
            if items.is_empty() {
                // A list without items removes an existing list (XEP-0016); it cannot create one, since a
                // new list needs at least one item.
                let existed = privacy
                    .delete(user.app_id, user.user_id, name)
                    .await
                    .map_err(StanzaError::from)?;
                if !existed {
                    return Err(refusal(
                        Condition::BadRequest,
                        "A privacy list needs at least one item",
                    ));
                }
                for other in shared.registry.sessions(user) {
                    if other.privacy_active().as_deref() == Some(name) {
                        other.set_privacy_active(None);
                    }
                }
            } else {
                privacy
                    .put(
                        user.app_id,
                        user.user_id,
                        PrivacyList {
                            name: name.to_owned(),
                            items,
                        },
                    )
                    .await
                    .map_err(StanzaError::from)?;
            }
            Ok(None)
        }
        QueryChild::Other(_) => Err(refusal(Condition::BadRequest, "Unknown privacy request")),
    }
}

fn item_refusal(error: ItemError) -> StanzaError {
    match error {
        ItemError::JidWithoutValue => refusal(Condition::BadRequest, "A jid item needs a value"),
        ItemError::UnsupportedType => refusal(
            Condition::FeatureNotImplemented,
            "Only jid items and items without a type are supported",
        ),
        ItemError::UnknownType => refusal(Condition::BadRequest, "Unknown item type"),
        ItemError::NoAction => refusal(Condition::BadRequest, "An item needs action allow or deny"),
        ItemError::NoOrder => refusal(Condition::BadRequest, "An item needs an unsigned integer order"),
    }
}

// --- XEP-0191 blocking command, on the default list ---
//
// A blocked JID is a deny item without stanza kinds (every stanza, both ways) at the top of the default
// list; for a user of the app it comes with its `muc.{domain}/{uid}` item, as the SDKs write pairs. A user
// without a default list gets one named `blocklist`. Pushes go only to sessions that asked for the
// blocklist (never to the SDKs, which do not).

fn is_block(item: &PrivacyItem) -> bool {
    item.action == Action::Deny && item.stanzas.is_everything() && item.value.is_some()
}

/// Answers a `urn:xmpp:blocking` iq to the server.
pub async fn blocking(mut ctx: Context<'_>, iq: Iq) {
    let request = iq.payload().cloned().map(Blocking::try_from);
    let outcome = match (iq.type_.as_ref(), request) {
        (Some(IqType::Get), Some(Ok(Blocking::Blocklist(_)))) => blocklist(&mut ctx).await,
        (Some(IqType::Set), Some(Ok(request @ (Blocking::Block(_) | Blocking::Unblock(_))))) => {
            change_blocks(&mut ctx, request).await
        }
        _ => Err(refusal(Condition::BadRequest, "Unknown blocking request")),
    };
    let answer = match outcome {
        Ok(payload) => iq.result(payload).into(),
        Err(error) => error.refuse(&iq),
    };
    ctx.reply(answer).await
}

async fn default_list(shared: &Shared, user: UserJid) -> Result<Option<PrivacyList>, StanzaError> {
    let privacy = shared.core.privacy();
    let names = privacy
        .names(user.app_id, user.user_id)
        .await
        .map_err(StanzaError::from)?;
    match names.default {
        Some(name) => privacy
            .list(user.app_id, user.user_id, &name)
            .await
            .map_err(StanzaError::from),
        None => Ok(None),
    }
}

async fn blocklist(ctx: &mut Context<'_>) -> Result<Option<Element>, StanzaError> {
    ctx.sender.handle.set_wants_blocklist();
    let user = ctx.user();
    let list = default_list(ctx.shared, user).await?;
    let mut jids = Vec::new();
    for item in list.iter().flat_map(|l| &l.items).filter(|i| is_block(i)) {
        let value = item.value.as_deref().unwrap_or_default();
        if matches!(Target::of(Some(value), user.app_id), Target::Occupant(_)) {
            continue;
        }
        jids.push(value.to_owned());
    }
    Ok(Some(Blocking::Blocklist(jids).into()))
}

async fn change_blocks(ctx: &mut Context<'_>, request: Blocking) -> Result<Option<Element>, StanzaError> {
    let user = ctx.user();
    let shared = ctx.shared;
    let (block, jids) = match &request {
        Blocking::Block(jids) => (true, jids.clone()),
        Blocking::Unblock(jids) | Blocking::Blocklist(jids) => (false, jids.clone()),
    };
    if block && jids.is_empty() {
        return Err(refusal(Condition::BadRequest, "Name at least one JID to block"));
    }
    let existing = default_list(shared, user).await?;
    let is_default = existing.is_some();
    let mut list = existing.unwrap_or_else(|| PrivacyList {
        name: BLOCKLIST_NAME.to_owned(),
        items: Vec::new(),
    });
    // The values each JID stands for: itself, and its occupant item for a user of the app.
    let muc = shared.config.muc_domain();
    let partners = |jid: &str| -> Vec<String> {
        match Target::of(Some(jid), user.app_id) {
            Target::User(uid) => vec![jid.to_owned(), format!("{muc}/{uid}")],
            _ => vec![jid.to_owned()],
        }
    };
    if block {
        let mut added: Vec<PrivacyItem> = Vec::new();
        for jid in &jids {
            let present = list
                .items
                .iter()
                .any(|i| is_block(i) && i.value.as_deref() == Some(jid.as_str()));
            if present {
                continue;
            }
            for value in partners(jid) {
                added.push(PrivacyItem::jid(0, &value, Action::Deny, Stanzas::EVERYTHING));
            }
        }
        added.append(&mut list.items);
        list.items = added;
    } else if jids.is_empty() {
        list.items.retain(|i| !is_block(i));
    } else {
        let values: Vec<String> = jids.iter().flat_map(|j| partners(j)).collect();
        list.items
            .retain(|i| !(is_block(i) && values.iter().any(|v| i.value.as_deref() == Some(v.as_str()))));
    }
    for (n, item) in list.items.iter_mut().enumerate() {
        item.order = n as i64 + 1;
    }
    let privacy = shared.core.privacy();
    let name = list.name.clone();
    if list.items.is_empty() && !is_default {
        // Unblocking with nothing blocked: nothing to keep.
    } else if list.items.is_empty() {
        // Keep the (now empty of blocks) default list's place: XEP-0016 cannot store an empty list, so the
        // default goes with it.
        privacy
            .delete(user.app_id, user.user_id, &name)
            .await
            .map_err(StanzaError::from)?;
    } else {
        privacy
            .put(user.app_id, user.user_id, list)
            .await
            .map_err(StanzaError::from)?;
        if !is_default {
            privacy
                .set_default(user.app_id, user.user_id, Some(&name))
                .await
                .map_err(StanzaError::from)?;
        }
    }
    push_blocklist(shared, user, request);
    Ok(None)
}

/// XEP-0191 pushes to the user's sessions that asked for the blocklist (no `from`: the SDKs would take an
/// iq push with one for something else).
fn push_blocklist(shared: &Shared, user: UserJid, request: Blocking) {
    let request = Element::from(request);
    for session in shared.registry.sessions(user) {
        if !session.wants_blocklist() {
            continue;
        }
        let id = format!("push-{}", palaver_proto::random_hex_token(6));
        let push = Iq::new(IqType::Set, id).with_payload(request.clone());
        router::deliver_to_resource(shared, user, &session.resource, &push.into());
    }
}
