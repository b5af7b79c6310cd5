//! The persistence boundary. `palaver-store` implements it for SQLite and PostgreSQL; the services in this
//! crate are its only callers.

use crate::model::{
    App, ChatMessage, Credentials, Dialog, OfflineMessage, Profile, ScramKeys, Session, User,
};
// Messages REST API (history).
use crate::model::HistoryMessage;
// Dialogs REST API.
use crate::model::DialogView;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field is taken; names the field (`login`, `email`, ...).
    #[error("{0} has already been taken")]
    Conflict(String),
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A user field that the list calls may filter or sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    Id,
    Login,
    Email,
    FullName,
    Phone,
    ExternalId,
    FacebookId,
    TwitterId,
    UserTags,
    LastRequestAt,
    CreatedAt,
    UpdatedAt,
}

impl UserField {
    pub fn parse(name: &str) -> Option<UserField> {
        Some(match name {
            "id" => UserField::Id,
            "login" => UserField::Login,
            "email" => UserField::Email,
            "full_name" => UserField::FullName,
            "phone" => UserField::Phone,
            "external_id" | "external_user_id" => UserField::ExternalId,
            "facebook_id" => UserField::FacebookId,
            "twitter_id" => UserField::TwitterId,
            "user_tags" | "tags" => UserField::UserTags,
            "last_request_at" => UserField::LastRequestAt,
            "created_at" => UserField::CreatedAt,
            "updated_at" => UserField::UpdatedAt,
            _ => return None,
        })
    }

    /// Dates are compared as Unix milliseconds, ids as numbers, the rest as text.
    pub fn kind(self) -> FieldKind {
        match self {
            UserField::Id => FieldKind::Integer,
            UserField::LastRequestAt | UserField::CreatedAt | UserField::UpdatedAt => FieldKind::Date,
            _ => FieldKind::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Integer,
    Date,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    StartsWith,
    /// Case-insensitive substring.
    Contains,
    /// Comma-separated tags: matches a user having any of the values as one of its tags.
    HasTag,
}

/// A typed filter value: integers for ids and dates (milliseconds), text otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserCondition {
    pub field: UserField,
    pub op: FilterOp,
    /// One value for comparisons, any number for `In`/`Nin`/`HasTag`.
    pub values: Vec<FilterValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    pub app_id: i64,
    pub conditions: Vec<UserCondition>,
    /// Field and ascending?; `None` sorts by id ascending.
    pub sort: Option<(UserField, bool)>,
    pub limit: i64,
    pub skip: i64,
}

/// A partial update of a profile: `Some(None)` clears a field, `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfilePatch {
    pub login: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub full_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub custom_data: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub blob_id: Option<Option<i64>>,
    pub external_user_id: Option<Option<i64>>,
    pub external_id: Option<Option<String>>,
    pub facebook_id: Option<Option<String>>,
    pub twitter_id: Option<Option<String>>,
    pub user_tags: Option<Option<String>>,
    pub timezone: Option<Option<i64>>,
}

impl ProfilePatch {
    /// Applies the patch to a profile.
    pub fn apply(&self, profile: &mut Profile) {
        fn set<T: Clone>(target: &mut Option<T>, change: &Option<Option<T>>) {
            if let Some(value) = change {
                *target = value.clone();
            }
        }
        set(&mut profile.login, &self.login);
        set(&mut profile.email, &self.email);
        set(&mut profile.full_name, &self.full_name);
        set(&mut profile.phone, &self.phone);
        set(&mut profile.website, &self.website);
        set(&mut profile.custom_data, &self.custom_data);
        set(&mut profile.avatar, &self.avatar);
        set(&mut profile.blob_id, &self.blob_id);
        set(&mut profile.external_user_id, &self.external_user_id);
        set(&mut profile.external_id, &self.external_id);
        set(&mut profile.facebook_id, &self.facebook_id);
        set(&mut profile.twitter_id, &self.twitter_id);
        set(&mut profile.user_tags, &self.user_tags);
        set(&mut profile.timezone, &self.timezone);
    }
}

// --- Messages REST API (history): query types ---

/// A message field that history filters and sorts may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageField {
    Id,
    Body,
    /// Unix seconds.
    DateSent,
    SenderId,
    RecipientId,
    /// Unix milliseconds.
    CreatedAt,
    /// Unix milliseconds.
    UpdatedAt,
    /// `attachments.type`: matches messages having an attachment of that type (Eq/In only).
    AttachmentType,
    /// A custom parameter, compared as text (Eq, Ne, In, Nin only). Names are `[A-Za-z0-9_-]+`.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageCondition {
    pub field: MessageField,
    pub op: FilterOp,
    pub values: Vec<FilterValue>,
}

/// One page of a dialog's history as one user sees it: without the messages he deleted for himself or
/// cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub app_id: i64,
    pub dialog_id: String,
    pub viewer_id: i64,
    pub conditions: Vec<MessageCondition>,
    /// Field and ascending?; ties are broken by arrival order in the same direction.
    pub sort: (MessageField, bool),
    pub limit: i64,
    pub skip: i64,
}

/// A text search over the messages and dialog names of a user's dialogs.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSearch {
    pub app_id: i64,
    pub user_id: i64,
    /// Case-sensitive substring.
    pub text: String,
    /// Only these dialogs (still only the user's own).
    pub dialog_ids: Option<Vec<String>>,
    /// Bounds on `date_sent`, Unix seconds, inclusive.
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
    pub limit: i64,
}

// --- Dialogs REST API: query and change types ---

/// A dialog field the list call may filter or sort on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogField {
    /// `_id`, compared as text.
    Id,
    Type,
    Name,
    /// The owner (`user_id`).
    OwnerId,
    /// Unix seconds.
    LastMessageDateSent,
    /// Unix milliseconds.
    CreatedAt,
    /// Unix milliseconds.
    UpdatedAt,
    /// The member ids: Eq/In match dialogs having any of the values, All those having every value,
    /// Ne/Nin those having none.
    Occupants,
    /// `extensions[key]`, compared as text. Keys are `[A-Za-z0-9_-]+`.
    Extension(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    /// Every value matches (for occupants: the dialog has all of them).
    All,
    /// Case-insensitive substring.
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DialogCondition {
    pub field: DialogField,
    pub op: DialogOp,
    pub values: Vec<FilterValue>,
}

/// A page of the dialogs `user_id` sees: those he is a member of and has not hidden, and the app's
/// broadcast dialogs he has not hidden.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogQuery {
    pub app_id: i64,
    pub user_id: i64,
    pub conditions: Vec<DialogCondition>,
    /// Field and ascending?; `None` sorts by last message date, then update time, newest first.
    pub sort: Option<(DialogField, bool)>,
    pub limit: i64,
    pub skip: i64,
}

/// A dialog to insert, with its member rows and admins.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDialog {
    pub id: String,
    pub app_id: i64,
    pub kind: i64,
    pub owner_id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub photo: Option<String>,
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
    pub permissions: Option<serde_json::Map<String, serde_json::Value>>,
    pub members: Vec<i64>,
    pub admins: Vec<i64>,
    pub now: i64,
}

/// A change of a dialog, applied in one transaction. `Some(None)` clears a field, `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialogChange {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub photo: Option<Option<String>>,
    pub extensions: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    pub permissions: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    /// New members join visible (not hidden) with nothing unread; existing ones are left as they are.
    pub add_members: Vec<i64>,
    /// Removed members also stop being admins.
    pub remove_members: Vec<i64>,
    pub add_admins: Vec<i64>,
    pub remove_admins: Vec<i64>,
    pub add_pinned: Vec<String>,
    pub remove_pinned: Vec<String>,
    /// When the dialog would end up with more admins than this, nothing changes and the store answers
    /// `StoreError::Conflict("admins_ids")`.
    pub max_admins: usize,
}

impl DialogChange {
    /// Whether the change touches anything at all.
    pub fn is_empty(&self) -> bool {
        *self
            == DialogChange {
                max_admins: self.max_admins,
                ..DialogChange::default()
            }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Applications.
    async fn create_app(&self, name: &str, auth_key: &str, auth_secret: &str, now: i64) -> StoreResult<App>;
    async fn app(&self, app_id: i64) -> StoreResult<Option<App>>;
    async fn apps(&self) -> StoreResult<Vec<App>>;
    async fn app_by_auth_key(&self, auth_key: &str) -> StoreResult<Option<App>>;

    // Users. Login and e-mail are unique per application, compared without case.
    async fn create_user(
        &self,
        app_id: i64,
        profile: &Profile,
        credentials: &Credentials,
        is_guest: bool,
        now: i64,
    ) -> StoreResult<User>;
    /// Creates many (non-guest) users in one transaction: all of them, or none if any fails.
    async fn create_users(
        &self,
        app_id: i64,
        users: &[(Profile, Credentials)],
        now: i64,
    ) -> StoreResult<Vec<User>>;
    async fn user(&self, app_id: i64, user_id: i64) -> StoreResult<Option<User>>;
    async fn user_by_login(&self, app_id: i64, login: &str) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, app_id: i64, email: &str) -> StoreResult<Option<User>>;
    /// Writes the whole profile (already patched by the caller) and bumps `updated_at`.
    async fn update_user(
        &self,
        app_id: i64,
        user_id: i64,
        profile: &Profile,
        now: i64,
    ) -> StoreResult<Option<User>>;
    async fn touch_user(&self, app_id: i64, user_id: i64, last_request_at: i64) -> StoreResult<()>;
    /// Removes the user, its credentials and its sessions. False when there was no such user.
    async fn delete_user(&self, app_id: i64, user_id: i64) -> StoreResult<bool>;
    /// The matching page and the total number of matches.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<User>, i64)>;
    async fn credentials(&self, app_id: i64, user_id: i64) -> StoreResult<Option<Credentials>>;
    async fn set_credentials(&self, app_id: i64, user_id: i64, credentials: &Credentials) -> StoreResult<()>;
    /// Deletes guest accounts that were created before `created_before` and have no session left.
    async fn delete_stale_guests(&self, created_before: i64) -> StoreResult<u64>;

    // Sessions.
    async fn create_session(&self, session: &Session) -> StoreResult<Session>;
    async fn session_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn session_by_id(&self, session_id: i64) -> StoreResult<Option<Session>>;
    async fn extend_session(&self, session_id: i64, updated_at: i64, expires_at: i64) -> StoreResult<()>;
    async fn set_session_user(
        &self,
        session_id: i64,
        user_id: Option<i64>,
        token_scram: Option<&ScramKeys>,
        now: i64,
    ) -> StoreResult<()>;
    async fn delete_session(&self, session_id: i64) -> StoreResult<()>;
    /// Live sessions of a user (for token-as-password logins).
    async fn user_sessions(&self, app_id: i64, user_id: i64, now: i64) -> StoreResult<Vec<Session>>;
    async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64>;

    /// Records a signed request's signature; false when exactly that request was seen before.
    async fn claim_signature(&self, app_id: i64, signature: &str, now: i64) -> StoreResult<bool>;
    async fn purge_signatures(&self, used_before: i64) -> StoreResult<u64>;

    // Dialogs and history.
    async fn dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<Option<Dialog>>;
    /// The private dialog of two users, created (with `new_id`) if they have none yet.
    async fn private_dialog(
        &self,
        app_id: i64,
        a: i64,
        b: i64,
        new_id: &str,
        now: i64,
    ) -> StoreResult<Dialog>;
    /// Stores a message, moves the dialog's last message and counts it unread for every other occupant, in
    /// one transaction. False (and nothing changed) when the sender already stored this id in this dialog.
    async fn save_message(&self, message: &ChatMessage) -> StoreResult<bool>;
    async fn message(
        &self,
        app_id: i64,
        dialog_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<ChatMessage>>;

    // Offline delivery of 1-1 stanzas.
    /// Keeps a stanza for later, unless the user already has `max_per_user` waiting (then None): the count
    /// and the insert are one atomic step.
    async fn push_offline(
        &self,
        app_id: i64,
        user_id: i64,
        payload: &str,
        now: i64,
        max_per_user: i64,
    ) -> StoreResult<Option<i64>>;
    /// Oldest first, at most `limit`.
    async fn offline_messages(
        &self,
        app_id: i64,
        user_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<OfflineMessage>>;
    async fn count_offline(&self, app_id: i64, user_id: i64) -> StoreResult<i64>;
    async fn delete_offline(&self, app_id: i64, user_id: i64, seqs: &[i64]) -> StoreResult<()>;

    // --- Messages REST API (history) ---
    // Every call that changes read state or unread counters first locks the dialog's row, so they are
    // serialised per dialog with each other and with `save_message`, and the counters stay exact.

    /// One page of history, with each message's read/delivered/reaction state.
    async fn history(&self, query: &HistoryQuery) -> StoreResult<Vec<HistoryMessage>>;
    /// The messages of the app with one of these ids that `viewer_id` can still see (not deleted for
    /// himself, not cleared), in any dialog or only in `dialog_id`; oldest first. Says nothing about
    /// whether the viewer may read the dialog.
    async fn messages_by_ids(
        &self,
        app_id: i64,
        viewer_id: i64,
        dialog_id: Option<&str>,
        ids: &[String],
    ) -> StoreResult<Vec<HistoryMessage>>;
    /// Marks the listed messages of the dialog (all of them with `None`) read (`read`, which implies
    /// delivered) or delivered by `user_id`, skipping his own, hidden and cleared ones. Returns the newly
    /// marked (sender, id) pairs. Reading lowers the user's unread count by the newly read messages that
    /// were counted for him (all-read sets it to 0), in the same transaction.
    async fn mark_messages(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        ids: Option<&[String]>,
        read: bool,
    ) -> StoreResult<Vec<(i64, String)>>;
    /// Changes the body of the sender's message (and the dialog's last message if it is that one). False
    /// when the sender has no such message in the dialog.
    async fn edit_message(
        &self,
        app_id: i64,
        dialog_id: &str,
        sender_id: i64,
        message_id: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// Deletes messages of the dialog for `user_id` only; unread ones stop counting. Returns the seqs newly
    /// hidden.
    async fn hide_messages(&self, dialog_id: &str, user_id: i64, seqs: &[i64]) -> StoreResult<Vec<i64>>;
    /// Deletes messages of the dialog for everyone: unread counters drop, the dialog's last message moves
    /// back if it was one of them. Returns the seqs deleted.
    async fn delete_messages(&self, dialog_id: &str, seqs: &[i64]) -> StoreResult<Vec<i64>>;
    /// Adds and/or removes one user's reaction on a message (removal first).
    async fn set_reaction(
        &self,
        seq: i64,
        user_id: i64,
        add: Option<&str>,
        remove: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    /// The user's unread count in each of his dialogs of the app.
    async fn unread_counts(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<(String, i64)>>;
    /// Visible messages of the user's dialogs whose body contains the text, newest first.
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<HistoryMessage>>;
    /// Ids of the user's dialogs whose name contains the text, most recently updated first.
    async fn search_dialogs(&self, search: &MessageSearch) -> StoreResult<Vec<String>>;

    // --- Dialogs REST API (dialog_sql.rs) ---
    // Per-user dialog state (hidden, notifications, cleared history) lives in the member row; broadcast
    // dialogs have no member rows and keep it in `broadcast_viewers` instead.

    /// Inserts a dialog with its member rows and admins.
    async fn create_dialog(&self, dialog: &NewDialog) -> StoreResult<Dialog>;
    /// One page of the dialogs the user sees, and how many there are in all.
    async fn list_dialogs(&self, query: &DialogQuery) -> StoreResult<(Vec<DialogView>, i64)>;
    /// How many dialogs the query matches.
    async fn count_dialogs(&self, query: &DialogQuery) -> StoreResult<i64>;
    /// A dialog of the app with `viewer_id`'s unread count and last-message status (he need not be a
    /// member).
    async fn dialog_view(
        &self,
        app_id: i64,
        dialog_id: &str,
        viewer_id: i64,
    ) -> StoreResult<Option<DialogView>>;
    /// Applies a change and bumps `updated_at`; `None` when the dialog does not exist.
    async fn change_dialog(
        &self,
        app_id: i64,
        dialog_id: &str,
        change: &DialogChange,
        now: i64,
    ) -> StoreResult<Option<Dialog>>;
    /// Deletes a dialog for everyone, with its history. False when there was no such dialog.
    async fn delete_dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<bool>;
    /// Hides the dialog from the user's list (or shows it again). A new message shows it again.
    async fn set_dialog_hidden(&self, dialog_id: &str, user_id: i64, hidden: bool) -> StoreResult<()>;
    /// Clears the history for the user only: messages up to the newest one now stop being his
    /// (`cleared_seq`), and nothing stays unread.
    async fn clear_dialog_history(&self, dialog_id: &str, user_id: i64) -> StoreResult<()>;
    /// Whether the user gets push alerts for the dialog (default true).
    async fn dialog_notifications(&self, dialog_id: &str, user_id: i64) -> StoreResult<bool>;
    async fn set_dialog_notifications(&self, dialog_id: &str, user_id: i64, enabled: bool)
        -> StoreResult<()>;

    // --- Push notifications (push_sql.rs) ---
    /// Inserts the subscription, or replaces the one of the same app, udid and channel.
    async fn put_push_subscription(
        &self,
        subscription: &crate::push::NewSubscription,
        now: i64,
    ) -> StoreResult<crate::push::Subscription>;
    /// The subscriptions of these users of the app, oldest first.
    async fn push_subscriptions(
        &self,
        app_id: i64,
        user_ids: &[i64],
    ) -> StoreResult<Vec<crate::push::Subscription>>;
    /// Deletes a subscription (only the user's own when `user_id` is given) with its queued jobs.
    async fn delete_push_subscription(&self, app_id: i64, user_id: Option<i64>, id: i64)
        -> StoreResult<bool>;
    async fn create_push_event(
        &self,
        event: &crate::push::NewPushEvent,
    ) -> StoreResult<crate::push::PushEvent>;
    /// Events not yet turned into notifications, oldest first.
    async fn pending_push_events(&self, limit: i64) -> StoreResult<Vec<crate::push::PushEvent>>;
    async fn finish_push_event(&self, id: i64, now: i64) -> StoreResult<()>;
    /// A per-app push setting (JSON text), see `push::setting`.
    async fn push_setting(&self, app_id: i64, name: &str) -> StoreResult<Option<String>>;
    /// Sets a setting, or removes it with `None`.
    async fn set_push_setting(
        &self,
        app_id: i64,
        name: &str,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    /// Records and queues each job whose (dedupe key, subscription, provider) was never recorded, as long
    /// as the queue holds fewer than `max_queue` jobs (the rest are recorded as dropped).
    async fn enqueue_push(
        &self,
        jobs: &[crate::push::PushJob],
        max_queue: i64,
        now: i64,
    ) -> StoreResult<crate::push::EnqueueOutcome>;
    /// Leases up to `limit` due jobs until `lease_until`, oldest due first.
    async fn claim_push_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<crate::push::ClaimedJob>>;
    /// Counts a failed attempt and schedules the next one.
    async fn retry_push_job(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Removes a job from the queue and records how it ended (`sent`, `failed`, `invalid_token`).
    async fn finish_push_job(&self, id: i64, status: &str, detail: Option<&str>, now: i64)
        -> StoreResult<()>;
    /// Gives leased jobs back to the queue (a worker stopped before finishing them).
    async fn release_push_jobs(&self, ids: &[i64]) -> StoreResult<()>;
    async fn push_stats(&self, now: i64) -> StoreResult<crate::push::PushStats>;
    /// Forgets records (not queued jobs) created before `before`.
    async fn purge_push_records(&self, before: i64) -> StoreResult<u64>;

    // --- Contact lists (contact_sql.rs) and last activity ---
    /// Every row the user has about other users (kept contacts and pending requests alike).
    async fn roster_rows(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<crate::contacts::RosterRow>>;
    async fn roster_row(
        &self,
        app_id: i64,
        user_id: i64,
        contact_id: i64,
    ) -> StoreResult<Option<crate::contacts::RosterRow>>;
    async fn put_roster_row(
        &self,
        app_id: i64,
        user_id: i64,
        row: &crate::contacts::RosterRow,
        now: i64,
    ) -> StoreResult<()>;
    async fn delete_roster_row(&self, app_id: i64, user_id: i64, contact_id: i64) -> StoreResult<()>;
    /// When the user's last chat session ended (Unix ms), if ever.
    async fn last_logout(&self, app_id: i64, user_id: i64) -> StoreResult<Option<i64>>;
    async fn set_last_logout(&self, app_id: i64, user_id: i64, at: i64) -> StoreResult<()>;

    // --- File storage (blob_sql.rs) ---
    async fn create_blob(&self, blob: &crate::blobs::NewBlob) -> StoreResult<crate::blobs::Blob>;
    /// Ids and uids are unique across applications; callers check the app.
    async fn blob(&self, id: i64) -> StoreResult<Option<crate::blobs::Blob>>;
    async fn blob_by_uid(&self, uid: &str) -> StoreResult<Option<crate::blobs::Blob>>;
    /// Records the uploaded bytes' size and checksum (and a content type, if given) of a blob not yet
    /// completed; `None` when there is no such blob or it is completed.
    async fn set_blob_content(
        &self,
        id: i64,
        size: i64,
        checksum: &str,
        content_type: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<crate::blobs::Blob>>;
    async fn complete_blob(&self, id: i64, now: i64) -> StoreResult<Option<crate::blobs::Blob>>;
    async fn update_blob(
        &self,
        id: i64,
        name: Option<&str>,
        public: Option<bool>,
        now: i64,
    ) -> StoreResult<Option<crate::blobs::Blob>>;
    async fn delete_blob(&self, id: i64) -> StoreResult<bool>;
    /// One page of a user's completed blobs, oldest first, and how many there are.
    async fn list_blobs(
        &self,
        app_id: i64,
        owner_id: i64,
        limit: i64,
        skip: i64,
    ) -> StoreResult<(Vec<crate::blobs::Blob>, i64)>;
    /// Blobs never completed that were created before `created_before`, oldest first.
    async fn stale_blobs(&self, created_before: i64, limit: i64) -> StoreResult<Vec<crate::blobs::Blob>>;
    /// Whether the uid is in an attachment of a message of a dialog the user is a member of, or of a
    /// broadcast dialog of the app.
    async fn blob_shared_with(&self, app_id: i64, uid: &str, user_id: i64) -> StoreResult<bool>;

    // --- Privacy lists (privacy_sql.rs) ---
    /// The user's list names (oldest first) and the default one.
    async fn privacy_names(&self, app_id: i64, user_id: i64) -> StoreResult<crate::privacy::PrivacyNames>;
    /// A list with its items sorted by order.
    async fn privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        name: &str,
    ) -> StoreResult<Option<crate::privacy::PrivacyList>>;
    /// Creates a list or replaces its items (keeping whether it is the default), in one transaction.
    async fn put_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        list: &crate::privacy::PrivacyList,
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
    ) -> StoreResult<Vec<(i64, crate::privacy::PrivacyList)>>;

    // --- Operators: the admin API and the command line (admin_store.rs) ---
    fn admin(&self) -> &dyn crate::admin_store::AdminStore;

    // --- A cluster: other nodes cache the same rows (cluster.rs) ---
    /// From now on `listener` hears of every change this store makes to a row it caches.
    fn on_cache_change(&self, _listener: crate::cluster::CacheListener) {}
    /// Forgets what another node changed (without telling the listener).
    fn apply_remote_change(&self, _change: &crate::cluster::CacheChange) {}
}
