//! The persistence boundary. `palaver-store` implements it for SQLite and PostgreSQL; the services in this
//! crate are its only callers.

use crate::model::{
    App, ChatMessage, Credentials, Dialog, OfflineMessage, Profile, ScramKeys, Session, User,
};
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

    /// Records a signed request's (timestamp, nonce); false when the pair was used before.
    async fn claim_nonce(&self, app_id: i64, timestamp: i64, nonce: i64, now: i64) -> StoreResult<bool>;
    async fn purge_nonces(&self, used_before: i64) -> StoreResult<u64>;

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
    async fn push_offline(&self, app_id: i64, user_id: i64, payload: &str, now: i64) -> StoreResult<i64>;
    /// Oldest first, at most `limit`.
    async fn offline_messages(
        &self,
        app_id: i64,
        user_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<OfflineMessage>>;
    async fn count_offline(&self, app_id: i64, user_id: i64) -> StoreResult<i64>;
    async fn delete_offline(&self, app_id: i64, user_id: i64, seqs: &[i64]) -> StoreResult<()>;
}
