//! Privacy lists (XEP-0016 as ConnectyCube profiles it): named lists of ordered allow/deny items per user,
//! one of which may be the user's default list — the one the server enforces, whether the user is online
//! or not.
//!
//! Items name a peer by a JID value. ConnectyCube's SDKs write two items per blocked user:
//! `{uid}-{app}@{domain}` (the user, in 1-1 traffic) and `muc.{domain}/{uid}` (that user as an occupant of
//! any group room). An item with stanza kinds (`<message/>`, `<presence-in/>`, `<presence-out/>`,
//! `<iq/>`) applies only to those (a one-way block); an item without any applies to every stanza both ways
//! (a two-way block, the SDKs' `mutualBlock`). An item without a type matches everyone (fall-through).
//!
//! Evaluation: the first item by ascending `order` that matches the peer and applies to the stanza kind
//! decides; no match allows. In group rooms an occupant is matched by its `muc.…/{uid}` items *and* by the
//! user's own JID items, first by order as always (so a plain JID block, e.g. from XEP-0191, covers rooms
//! too; the SDKs always write the two items of a user together, with the same action).
//!
//! Each user's default list is kept compiled in memory ([`Rules`]) so the message hot path costs one hash
//! lookup; every change of a user's lists drops that user's entry.
//!
//! `PrivacyStore` (at the end) is where the lists are kept.

use crate::error::StoreResult;
use crate::{Core, CoreError, CoreResult};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Most lists one user may keep.
pub const MAX_LISTS: usize = 50;
/// Most items one list may hold (two per user as the SDKs write them).
pub const MAX_ITEMS: usize = 2000;
/// Longest list name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest item value (the longest JID, RFC 7622: 3 × 1023 + 2).
pub const MAX_VALUE_CHARS: usize = 3071;
/// How many users' compiled default lists stay in memory before the cache starts over.
const MAX_CACHED: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "allow" => Some(Action::Allow),
            "deny" => Some(Action::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// The stanza kinds an item names (its child elements). Empty means every stanza, both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stanzas(pub u8);

impl Stanzas {
    pub const MESSAGE: Stanzas = Stanzas(1);
    pub const PRESENCE_IN: Stanzas = Stanzas(2);
    pub const PRESENCE_OUT: Stanzas = Stanzas(4);
    pub const IQ: Stanzas = Stanzas(8);
    /// No child elements: every stanza, inbound and outbound.
    pub const EVERYTHING: Stanzas = Stanzas(0);
    /// What the SDKs write for a one-way block: all four children.
    pub const ONE_WAY: Stanzas = Stanzas(15);

    /// The child element names, in the order XEP-0016 lists them.
    pub const NAMES: [(&'static str, Stanzas); 4] = [
        ("message", Stanzas::MESSAGE),
        ("presence-in", Stanzas::PRESENCE_IN),
        ("presence-out", Stanzas::PRESENCE_OUT),
        ("iq", Stanzas::IQ),
    ];

    pub fn from_name(name: &str) -> Option<Stanzas> {
        Stanzas::NAMES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    pub fn contains(self, other: Stanzas) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Stanzas) -> Stanzas {
        Stanzas(self.0 | other.0)
    }

    pub fn is_everything(self) -> bool {
        self.0 == 0
    }

    /// The names of the kinds named, for serialisation.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Stanzas::NAMES
            .into_iter()
            .filter(move |(_, s)| self.contains(*s))
            .map(|(n, _)| n)
    }
}

/// One item of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyItem {
    /// XEP-0016 `order`: unique within the list; lower is evaluated first.
    pub order: i64,
    /// The JID value of a `type="jid"` item; `None` for a fall-through item without a type.
    pub value: Option<String>,
    pub action: Action,
    pub stanzas: Stanzas,
}

impl PrivacyItem {
    pub fn jid(order: i64, value: &str, action: Action, stanzas: Stanzas) -> PrivacyItem {
        PrivacyItem {
            order,
            value: Some(value.to_owned()),
            action,
            stanzas,
        }
    }
}

/// A named list; items are kept (and returned) sorted by `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyList {
    pub name: String,
    pub items: Vec<PrivacyItem>,
}

/// A user's list names and which one is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivacyNames {
    /// Oldest first.
    pub lists: Vec<String>,
    pub default: Option<String>,
}

/// What a stanza between the list's owner and a peer is, for the owner's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A message from the peer to the owner.
    Message,
    /// Presence from the peer to the owner.
    PresenceIn,
    /// The owner's presence to the peer.
    PresenceOut,
    /// An iq from the peer to the owner (including queries the server answers for the owner).
    Iq,
    /// A message from the owner to the peer: only items without stanza kinds (two-way) apply.
    MessageOut,
    /// An iq from the owner to the peer: only items without stanza kinds (two-way) apply.
    IqOut,
}

impl Kind {
    fn applies(self, stanzas: Stanzas) -> bool {
        if stanzas.is_everything() {
            return true;
        }
        match self {
            Kind::Message => stanzas.contains(Stanzas::MESSAGE),
            Kind::PresenceIn => stanzas.contains(Stanzas::PRESENCE_IN),
            Kind::PresenceOut => stanzas.contains(Stanzas::PRESENCE_OUT),
            Kind::Iq => stanzas.contains(Stanzas::IQ),
            Kind::MessageOut | Kind::IqOut => false,
        }
    }
}

/// Whom a list item names, once its value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `{uid}-{app}@{domain}` (any resource): the user in 1-1 traffic.
    User(i64),
    /// `muc.{domain}/{uid}`: the user as an occupant of any group room.
    Occupant(i64),
    /// An item without a type.
    Everyone,
    /// A value naming nobody of this application (another app's user, a server, a room…).
    Nobody,
}

impl Target {
    /// Reads an item value for a list owned by a user of `app_id`. The domain is not checked: the server
    /// answers for its domain and aliases alike.
    pub fn of(value: Option<&str>, app_id: i64) -> Target {
        let Some(value) = value else {
            return Target::Everyone;
        };
        let (bare, resource) = match value.split_once('/') {
            Some((bare, resource)) => (bare, Some(resource)),
            None => (value, None),
        };
        match bare.split_once('@') {
            Some((node, _domain)) => match palaver_proto::UserJid::parse_node(node) {
                Some(user) if user.app_id == app_id => Target::User(user.user_id),
                _ => Target::Nobody,
            },
            None => {
                let is_muc = bare.len() > 4 && bare[..4].eq_ignore_ascii_case("muc.");
                match resource.and_then(|r| r.parse::<i64>().ok()) {
                    Some(uid) if is_muc && uid > 0 => Target::Occupant(uid),
                    _ => Target::Nobody,
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    target: Target,
    action: Action,
    stanzas: Stanzas,
}

/// A default list compiled for evaluation. Empty rules allow everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    pub fn compile(list: &PrivacyList, app_id: i64) -> Rules {
        let mut items: Vec<&PrivacyItem> = list.items.iter().collect();
        items.sort_by_key(|i| i.order);
        Rules {
            rules: items
                .into_iter()
                .map(|item| Rule {
                    target: Target::of(item.value.as_deref(), app_id),
                    action: item.action,
                    stanzas: item.stanzas,
                })
                .filter(|rule| rule.target != Target::Nobody)
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn first(&self, kind: Kind, matches: impl Fn(Target) -> bool) -> Option<Action> {
        self.rules
            .iter()
            .find(|r| matches(r.target) && kind.applies(r.stanzas))
            .map(|r| r.action)
    }

    /// The decision for 1-1 traffic with user `peer`: `None` when no item matches.
    pub fn decide(&self, peer: i64, kind: Kind) -> Option<Action> {
        self.first(kind, |t| {
            matches!(t, Target::User(u) if u == peer) || t == Target::Everyone
        })
    }

    /// Whether 1-1 traffic of this kind with user `peer` is blocked.
    pub fn blocks(&self, peer: i64, kind: Kind) -> bool {
        self.decide(peer, kind) == Some(Action::Deny)
    }

    /// The decision for group traffic with occupant `peer`: its occupant items and its JID items count.
    pub fn decide_in_rooms(&self, peer: i64, kind: Kind) -> Option<Action> {
        self.first(kind, |t| {
            matches!(t, Target::Occupant(u) | Target::User(u) if u == peer) || t == Target::Everyone
        })
    }

    pub fn blocks_in_rooms(&self, peer: i64, kind: Kind) -> bool {
        self.decide_in_rooms(peer, kind) == Some(Action::Deny)
    }
}

/// The compiled default lists of recently seen users (including "has none"), shared by every clone of the
/// `Core`.
#[derive(Default)]
pub struct RulesCache {
    /// Looked up several times for every message: hashed with foldhash, not SipHash (the keys are ids
    /// the server assigns, so nobody can choose them to collide).
    entries: RwLock<foldhash::HashMap<(i64, i64), Arc<Rules>>>,
    /// Bumped by every invalidation, so a load that raced with a change is not cached.
    generation: AtomicU64,
}

impl RulesCache {
    fn get(&self, app_id: i64, user_id: i64) -> Option<Arc<Rules>> {
        self.entries
            .read()
            .expect("lock poisoned")
            .get(&(app_id, user_id))
            .cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what was loaded when the generation was `seen`, unless something changed since.
    fn put(&self, seen: u64, app_id: i64, loaded: Vec<(i64, Arc<Rules>)>) {
        let mut entries = self.entries.write().expect("lock poisoned");
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        if entries.len() + loaded.len() > MAX_CACHED {
            entries.clear();
        }
        for (user_id, rules) in loaded {
            entries.insert((app_id, user_id), rules);
        }
    }

    fn invalidate(&self, app_id: i64, user_id: i64) {
        let mut entries = self.entries.write().expect("lock poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(&(app_id, user_id));
    }

    /// How many users' rules are cached (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.read().expect("lock poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct PrivacyService {
    core: Core,
}

impl PrivacyService {
    pub(crate) fn new(core: Core) -> PrivacyService {
        PrivacyService { core }
    }

    fn cache(&self) -> &RulesCache {
        &self.core.privacy_rules
    }

    /// The user's list names and default list.
    pub async fn names(&self, app_id: i64, user_id: i64) -> CoreResult<PrivacyNames> {
        Ok(self.core.store.privacy_names(app_id, user_id).await?)
    }

    /// A list by name, items sorted by `order`; `None` when the user has no such list.
    pub async fn list(&self, app_id: i64, user_id: i64, name: &str) -> CoreResult<Option<PrivacyList>> {
        Ok(self.core.store.privacy_list(app_id, user_id, name).await?)
    }

    /// Creates or replaces a list (the default list too). A list without items deletes it (XEP-0016).
    pub async fn put(&self, app_id: i64, user_id: i64, mut list: PrivacyList) -> CoreResult<()> {
        validate_name(&list.name)?;
        if list.items.is_empty() {
            self.delete(app_id, user_id, &list.name).await?;
            return Ok(());
        }
        if list.items.len() > MAX_ITEMS {
            return Err(CoreError::Rejected(format!(
                "A privacy list holds at most {MAX_ITEMS} items"
            )));
        }
        list.items.sort_by_key(|i| i.order);
        for pair in list.items.windows(2) {
            if pair[0].order == pair[1].order {
                return Err(CoreError::invalid(
                    "order",
                    &format!("order {} is used twice", pair[0].order),
                ));
            }
        }
        for item in &list.items {
            if item.order < 0 || item.order > u32::MAX as i64 {
                return Err(CoreError::invalid("order", "must be an unsigned integer"));
            }
            match &item.value {
                Some(value) if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS => {
                    return Err(CoreError::invalid("value", "must be a JID"));
                }
                _ => {}
            }
        }
        let store = &self.core.store;
        let names = store.privacy_names(app_id, user_id).await?;
        if names.lists.len() >= MAX_LISTS && !names.lists.contains(&list.name) {
            return Err(CoreError::Rejected(format!(
                "A user keeps at most {MAX_LISTS} privacy lists"
            )));
        }
        let now = self.core.clock.now_millis();
        let result = store.put_privacy_list(app_id, user_id, &list, now).await;
        self.cache().invalidate(app_id, user_id);
        Ok(result?)
    }

    /// Deletes a list; deleting the default list leaves the user without one. False when there was none.
    pub async fn delete(&self, app_id: i64, user_id: i64, name: &str) -> CoreResult<bool> {
        let result = self.core.store.delete_privacy_list(app_id, user_id, name).await;
        self.cache().invalidate(app_id, user_id);
        Ok(result?)
    }

    /// Makes a list the default (`None` declines any default). `NotFound` when the list does not exist.
    pub async fn set_default(&self, app_id: i64, user_id: i64, name: Option<&str>) -> CoreResult<()> {
        let result = self
            .core
            .store
            .set_default_privacy_list(app_id, user_id, name)
            .await;
        self.cache().invalidate(app_id, user_id);
        match result? {
            true => Ok(()),
            false => Err(CoreError::NotFound),
        }
    }

    /// The user's default list, compiled (empty when there is none). Cached.
    pub async fn rules(&self, app_id: i64, user_id: i64) -> CoreResult<Arc<Rules>> {
        if let Some(rules) = self.cache().get(app_id, user_id) {
            return Ok(rules);
        }
        let mut found = self.rules_of_many(app_id, &[user_id]).await?;
        Ok(found.remove(&user_id).unwrap_or_default())
    }

    /// The compiled default lists of several users, loading the ones not cached in one go.
    pub async fn rules_of_many(&self, app_id: i64, user_ids: &[i64]) -> CoreResult<HashMap<i64, Arc<Rules>>> {
        let mut out = HashMap::with_capacity(user_ids.len());
        let mut missing = Vec::new();
        for &user_id in user_ids {
            match self.cache().get(app_id, user_id) {
                Some(rules) => {
                    out.insert(user_id, rules);
                }
                None => missing.push(user_id),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        missing.sort_unstable();
        missing.dedup();
        let seen = self.cache().generation();
        let lists = self.core.store.default_privacy_lists(app_id, &missing).await?;
        let mut loaded: HashMap<i64, Arc<Rules>> = missing
            .iter()
            .map(|&user_id| (user_id, Arc::new(Rules::default())))
            .collect();
        for (user_id, list) in lists {
            loaded.insert(user_id, Arc::new(Rules::compile(&list, app_id)));
        }
        self.cache().put(
            seen,
            app_id,
            loaded.iter().map(|(u, r)| (*u, r.clone())).collect(),
        );
        out.extend(loaded);
        Ok(out)
    }

    /// Whether `owner`'s default list blocks this kind of 1-1 traffic with `peer`.
    pub async fn blocks(&self, app_id: i64, owner: i64, peer: i64, kind: Kind) -> CoreResult<bool> {
        if owner == peer {
            return Ok(false);
        }
        Ok(self.rules(app_id, owner).await?.blocks(peer, kind))
    }

    /// Whether `owner`'s default list blocks this kind of group traffic with occupant `peer`.
    pub async fn blocks_in_rooms(&self, app_id: i64, owner: i64, peer: i64, kind: Kind) -> CoreResult<bool> {
        if owner == peer {
            return Ok(false);
        }
        Ok(self.rules(app_id, owner).await?.blocks_in_rooms(peer, kind))
    }

    /// Which of `recipients` a group message from `sender` reaches: not those whose default list blocks
    /// the sender as an occupant, nor those the sender's own list blocks two-way. The sender always gets
    /// his own reflection. Order is kept.
    pub async fn room_recipients(
        &self,
        app_id: i64,
        sender: i64,
        recipients: Vec<i64>,
    ) -> CoreResult<Vec<i64>> {
        let mut everyone = recipients.clone();
        everyone.push(sender);
        let rules = self.rules_of_many(app_id, &everyone).await?;
        if rules.values().all(|r| r.is_empty()) {
            return Ok(recipients);
        }
        let none = Arc::new(Rules::default());
        let senders = rules.get(&sender).unwrap_or(&none);
        Ok(recipients
            .into_iter()
            .filter(|&r| {
                r == sender
                    || !(rules
                        .get(&r)
                        .unwrap_or(&none)
                        .blocks_in_rooms(sender, Kind::Message)
                        || senders.blocks_in_rooms(r, Kind::MessageOut))
            })
            .collect())
    }
}

fn validate_name(name: &str) -> CoreResult<()> {
    if name.is_empty() {
        return Err(CoreError::invalid("name", "is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::invalid("name", "is too long"));
    }
    Ok(())
}

/// Where users' privacy lists and which one is each user's default are kept.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// The user's list names (oldest first) and the default one.
    async fn privacy_names(&self, app_id: i64, user_id: i64) -> StoreResult<PrivacyNames>;
    /// A list with its items sorted by order.
    async fn privacy_list(&self, app_id: i64, user_id: i64, name: &str) -> StoreResult<Option<PrivacyList>>;
    /// Creates a list or replaces its items (keeping whether it is the default), in one transaction.
    async fn put_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        list: &PrivacyList,
        now: i64,
    ) -> StoreResult<()>;
    /// Deletes a list (and so the default, if it was). False when there was no such list.
    async fn delete_privacy_list(&self, app_id: i64, user_id: i64, name: &str) -> StoreResult<bool>;
    /// Makes the named list the default, or declines any default with `None`. False (nothing changed)
    /// when there is no such list.
    async fn set_default_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        name: Option<&str>,
    ) -> StoreResult<bool>;
    /// The default lists of those of these users who have one.
    async fn default_privacy_lists(
        &self,
        app_id: i64,
        user_ids: &[i64],
    ) -> StoreResult<Vec<(i64, PrivacyList)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: Vec<PrivacyItem>) -> Rules {
        Rules::compile(
            &PrivacyList {
                name: "L".into(),
                items,
            },
            1,
        )
    }

    #[test]
    fn reads_item_values() {
        assert_eq!(Target::of(Some("9-1@chat.example.com"), 1), Target::User(9));
        assert_eq!(Target::of(Some("9-1@localhost/res"), 1), Target::User(9));
        assert_eq!(Target::of(Some("9-2@localhost"), 1), Target::Nobody);
        assert_eq!(Target::of(Some("muc.chat.example.com/9"), 1), Target::Occupant(9));
        assert_eq!(Target::of(Some("muc.localhost/x"), 1), Target::Nobody);
        assert_eq!(Target::of(Some("localhost"), 1), Target::Nobody);
        assert_eq!(Target::of(None, 1), Target::Everyone);
    }

    #[test]
    fn first_match_by_order_wins() {
        let rules = list(vec![
            PrivacyItem::jid(5, "9-1@d", Action::Deny, Stanzas::ONE_WAY),
            PrivacyItem::jid(1, "9-1@d", Action::Allow, Stanzas::ONE_WAY),
            PrivacyItem::jid(3, "10-1@d", Action::Deny, Stanzas::EVERYTHING),
        ]);
        assert!(!rules.blocks(9, Kind::Message));
        assert!(rules.blocks(10, Kind::Message));
        assert!(rules.blocks(10, Kind::MessageOut));
        assert!(!rules.blocks(11, Kind::Message));
    }

    #[test]
    fn one_way_items_do_not_apply_outbound() {
        let rules = list(vec![PrivacyItem::jid(1, "9-1@d", Action::Deny, Stanzas::ONE_WAY)]);
        assert!(rules.blocks(9, Kind::Message) && rules.blocks(9, Kind::Iq));
        assert!(rules.blocks(9, Kind::PresenceIn) && rules.blocks(9, Kind::PresenceOut));
        assert!(!rules.blocks(9, Kind::MessageOut) && !rules.blocks(9, Kind::IqOut));
        let messages_only = list(vec![PrivacyItem::jid(1, "9-1@d", Action::Deny, Stanzas::MESSAGE)]);
        assert!(messages_only.blocks(9, Kind::Message));
        assert!(!messages_only.blocks(9, Kind::Iq) && !messages_only.blocks(9, Kind::PresenceIn));
    }

    #[test]
    fn rooms_match_occupant_and_jid_items_by_order() {
        let rules = list(vec![
            PrivacyItem::jid(1, "muc.d/9", Action::Deny, Stanzas::ONE_WAY),
            PrivacyItem::jid(2, "9-1@d", Action::Allow, Stanzas::ONE_WAY),
            PrivacyItem::jid(3, "10-1@d", Action::Deny, Stanzas::EVERYTHING),
        ]);
        assert!(!rules.blocks(9, Kind::Message), "1-1 ignores occupant items");
        assert!(
            rules.blocks_in_rooms(9, Kind::Message),
            "the occupant item comes first"
        );
        assert!(
            rules.blocks_in_rooms(10, Kind::Message),
            "a JID item covers rooms too"
        );
        assert!(rules.blocks_in_rooms(10, Kind::MessageOut));
        assert!(!rules.blocks_in_rooms(11, Kind::Message));
    }

    #[test]
    fn fall_through_items_match_everyone() {
        let rules = list(vec![
            PrivacyItem::jid(1, "9-1@d", Action::Allow, Stanzas::EVERYTHING),
            PrivacyItem {
                order: 2,
                value: None,
                action: Action::Deny,
                stanzas: Stanzas::MESSAGE,
            },
        ]);
        assert!(!rules.blocks(9, Kind::Message));
        assert!(rules.blocks(12, Kind::Message) && rules.blocks_in_rooms(12, Kind::Message));
        assert!(!rules.blocks(12, Kind::Iq));
    }
}
