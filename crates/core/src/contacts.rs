//! Contact lists (RFC 6121): roster items and the presence-subscription state machine between two users.
//! Both sides of a pair change together, so the state never disagrees.
//!
//! `ContactStore` (at the end) is where contact lists and last logout times are kept.

use crate::error::StoreResult;
use crate::{Core, CoreError, CoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// The most contacts one user keeps (ConnectyCube's limit).
pub const DEFAULT_MAX_CONTACTS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Subscription {
    None,
    /// The user sees the contact's presence.
    To,
    /// The contact sees the user's presence.
    From,
    Both,
}

impl Subscription {
    pub fn parse(text: &str) -> Subscription {
        match text {
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            _ => Subscription::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    fn has_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    fn has_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }

    fn with(to: bool, from: bool) -> Subscription {
        match (to, from) {
            (true, true) => Subscription::Both,
            (true, false) => Subscription::To,
            (false, true) => Subscription::From,
            (false, false) => Subscription::None,
        }
    }
}

/// One user's view of one contact.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterRow {
    pub contact_id: i64,
    pub name: Option<String>,
    pub subscription: Subscription,
    /// The user asked to see the contact's presence and has no answer yet.
    pub ask: bool,
    /// The contact asked to see the user's presence and has no answer yet.
    pub pending_in: bool,
    /// The user keeps this contact in the list.
    pub in_roster: bool,
}

impl RosterRow {
    fn empty(contact_id: i64) -> RosterRow {
        RosterRow {
            contact_id,
            name: None,
            subscription: Subscription::None,
            ask: false,
            pending_in: false,
            in_roster: false,
        }
    }
}

/// What a subscription presence changed: whether to pass it on to the contact, and both sides' rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub route: bool,
    pub user: RosterRow,
    pub contact: RosterRow,
}

pub struct ContactService {
    core: Core,
}

impl ContactService {
    pub(crate) fn new(core: Core) -> ContactService {
        ContactService { core }
    }

    fn limit(&self) -> i64 {
        self.core.settings.max_contacts
    }

    /// The user's contact list.
    pub async fn roster(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<RosterRow>> {
        let rows = self.core.store.roster_rows(app_id, user_id).await?;
        Ok(rows.into_iter().filter(|r| r.in_roster).collect())
    }

    async fn row(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<RosterRow> {
        Ok(self
            .core
            .store
            .roster_row(app_id, user_id, contact_id)
            .await?
            .unwrap_or_else(|| RosterRow::empty(contact_id)))
    }

    async fn save(&self, app_id: i64, user_id: i64, row: &RosterRow) -> CoreResult<()> {
        let now = self.core.clock.now_millis();
        Ok(self.core.store.put_roster_row(app_id, user_id, row, now).await?)
    }

    /// Refuses a new item past the limit.
    async fn ensure_room(&self, app_id: i64, user_id: i64, row: &RosterRow) -> CoreResult<()> {
        if row.in_roster {
            return Ok(());
        }
        let count = self
            .core
            .store
            .roster_rows(app_id, user_id)
            .await?
            .iter()
            .filter(|r| r.in_roster)
            .count();
        if count as i64 >= self.limit() {
            return Err(CoreError::ContactLimitReached(self.limit()));
        }
        Ok(())
    }

    async fn contact_exists(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<()> {
        if contact_id == user_id {
            return Err(CoreError::invalid("jid", "You cannot add yourself"));
        }
        match self.core.store.user(app_id, contact_id).await? {
            Some(_) => Ok(()),
            None => Err(CoreError::NotFound),
        }
    }

    /// Adds or renames a contact (roster set).
    pub async fn set(
        &self,
        app_id: i64,
        user_id: i64,
        contact_id: i64,
        name: Option<String>,
    ) -> CoreResult<RosterRow> {
        self.contact_exists(app_id, user_id, contact_id).await?;
        let mut row = self.row(app_id, user_id, contact_id).await?;
        self.ensure_room(app_id, user_id, &row).await?;
        row.in_roster = true;
        row.name = name.filter(|n| !n.trim().is_empty());
        self.save(app_id, user_id, &row).await?;
        Ok(row)
    }

    /// Removes a contact: both directions of subscription end. Returns the rows as they were before.
    pub async fn remove(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<Option<Change>> {
        let before = self.row(app_id, user_id, contact_id).await?;
        if !before.in_roster {
            return Ok(None);
        }
        let mut theirs = self.row(app_id, contact_id, user_id).await?;
        theirs.subscription = Subscription::None;
        theirs.ask = false;
        theirs.pending_in = false;
        self.save(app_id, contact_id, &theirs).await?;
        self.core
            .store
            .delete_roster_row(app_id, user_id, contact_id)
            .await?;
        Ok(Some(Change {
            route: true,
            user: before,
            contact: theirs,
        }))
    }

    /// The user asks to see the contact's presence.
    pub async fn subscribe(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<Change> {
        self.contact_exists(app_id, user_id, contact_id).await?;
        let mut mine = self.row(app_id, user_id, contact_id).await?;
        let mut theirs = self.row(app_id, contact_id, user_id).await?;
        self.ensure_room(app_id, user_id, &mine).await?;
        mine.in_roster = true;
        if mine.subscription.has_to() {
            self.save(app_id, user_id, &mine).await?;
            return Ok(Change {
                route: false,
                user: mine,
                contact: theirs,
            });
        }
        mine.ask = true;
        theirs.pending_in = true;
        self.save(app_id, user_id, &mine).await?;
        self.save(app_id, contact_id, &theirs).await?;
        Ok(Change {
            route: true,
            user: mine,
            contact: theirs,
        })
    }

    /// The user lets the contact see its presence (an answer to the contact's request).
    pub async fn subscribed(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<Change> {
        let mut mine = self.row(app_id, user_id, contact_id).await?;
        let mut theirs = self.row(app_id, contact_id, user_id).await?;
        if !mine.pending_in && !theirs.ask {
            return Ok(Change {
                route: false,
                user: mine,
                contact: theirs,
            });
        }
        self.ensure_room(app_id, user_id, &mine).await?;
        mine.pending_in = false;
        mine.in_roster = true;
        mine.subscription = Subscription::with(mine.subscription.has_to(), true);
        theirs.ask = false;
        theirs.subscription = Subscription::with(true, theirs.subscription.has_from());
        self.save(app_id, user_id, &mine).await?;
        self.save(app_id, contact_id, &theirs).await?;
        Ok(Change {
            route: true,
            user: mine,
            contact: theirs,
        })
    }

    /// The user stops seeing the contact's presence.
    pub async fn unsubscribe(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<Change> {
        let mut mine = self.row(app_id, user_id, contact_id).await?;
        let mut theirs = self.row(app_id, contact_id, user_id).await?;
        let changed = mine.subscription.has_to() || mine.ask;
        mine.ask = false;
        mine.subscription = Subscription::with(false, mine.subscription.has_from());
        theirs.pending_in = false;
        theirs.subscription = Subscription::with(theirs.subscription.has_to(), false);
        self.save(app_id, user_id, &mine).await?;
        self.save(app_id, contact_id, &theirs).await?;
        Ok(Change {
            route: changed,
            user: mine,
            contact: theirs,
        })
    }

    /// The user refuses or cancels the contact's subscription.
    pub async fn unsubscribed(&self, app_id: i64, user_id: i64, contact_id: i64) -> CoreResult<Change> {
        let mut mine = self.row(app_id, user_id, contact_id).await?;
        let mut theirs = self.row(app_id, contact_id, user_id).await?;
        let changed = mine.subscription.has_from() || mine.pending_in || theirs.ask;
        mine.pending_in = false;
        mine.subscription = Subscription::with(mine.subscription.has_to(), false);
        theirs.ask = false;
        theirs.subscription = Subscription::with(false, theirs.subscription.has_from());
        self.save(app_id, user_id, &mine).await?;
        self.save(app_id, contact_id, &theirs).await?;
        Ok(Change {
            route: changed,
            user: mine,
            contact: theirs,
        })
    }

    /// Contacts whose subscription requests wait for the user's answer.
    pub async fn pending_requests(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<i64>> {
        let rows = self.core.store.roster_rows(app_id, user_id).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.pending_in)
            .map(|r| r.contact_id)
            .collect())
    }

    /// Contacts who see the user's presence.
    pub async fn subscribers(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<i64>> {
        let rows = self.core.store.roster_rows(app_id, user_id).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.subscription.has_from())
            .map(|r| r.contact_id)
            .collect())
    }

    /// Contacts whose presence the user sees.
    pub async fn watched(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<i64>> {
        let rows = self.core.store.roster_rows(app_id, user_id).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.subscription.has_to())
            .map(|r| r.contact_id)
            .collect())
    }
}

/// Where contact lists (both users' rows of each pair) and last logout times are kept.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Every row the user has about other users (kept contacts and pending requests alike).
    async fn roster_rows(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<RosterRow>>;
    async fn roster_row(&self, app_id: i64, user_id: i64, contact_id: i64) -> StoreResult<Option<RosterRow>>;
    async fn put_roster_row(&self, app_id: i64, user_id: i64, row: &RosterRow, now: i64) -> StoreResult<()>;
    async fn delete_roster_row(&self, app_id: i64, user_id: i64, contact_id: i64) -> StoreResult<()>;
    /// When the user's last chat session ended (Unix ms), if ever.
    async fn last_logout(&self, app_id: i64, user_id: i64) -> StoreResult<Option<i64>>;
    async fn set_last_logout(&self, app_id: i64, user_id: i64, at: i64) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_states_combine() {
        assert_eq!(Subscription::with(true, false), Subscription::To);
        assert_eq!(Subscription::with(true, true).as_str(), "both");
        assert_eq!(Subscription::parse("from"), Subscription::From);
        assert!(Subscription::Both.has_from() && Subscription::Both.has_to());
        assert!(!Subscription::None.has_to());
    }
}
