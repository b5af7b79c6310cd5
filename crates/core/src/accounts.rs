//! The storage of accounts: applications, users, their credentials, REST sessions and used request
//! signatures (`AccountStore`), and the user list query the users API and push events filter with.

use crate::error::StoreResult;
use crate::model::{App, Credentials, Profile, ScramKeys, Session, User};
use crate::query::{FilterOp, FilterValue};
use async_trait::async_trait;

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

/// The user a login names: by id (chat logins), login or e-mail (REST sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginName<'a> {
    Id(i64),
    Login(&'a str),
    Email(&'a str),
}

/// Everything a login checks of a user, read together: each read is a trip to a database thread and
/// back, and one read in place of three took 12 % off a SCRAM login's CPU and 8 % off a REST session's
/// (docs/benchmarks.md, "December 6, ninth sitting").
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRecord {
    pub user: User,
    /// None for a user without credentials.
    pub credentials: Option<Credentials>,
    /// An operator blocked the user: no new REST session, no chat login.
    pub blocked: bool,
}

/// Where applications, users, their credentials, REST sessions and used request signatures are kept.
/// Login and e-mail are unique per application, compared without case.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_app(&self, name: &str, auth_key: &str, auth_secret: &str, now: i64) -> StoreResult<App>;
    async fn app(&self, app_id: i64) -> StoreResult<Option<App>>;
    async fn apps(&self) -> StoreResult<Vec<App>>;
    async fn app_by_auth_key(&self, auth_key: &str) -> StoreResult<Option<App>>;
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
    /// Whether the app has this user: what a message's recipient is checked for, without copying the
    /// profile out of the cache.
    async fn user_exists(&self, app_id: i64, user_id: i64) -> StoreResult<bool>;
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
    /// The user `name` names in the app, with their credentials and whether they are blocked, in one read.
    async fn login_record(&self, app_id: i64, name: LoginName<'_>) -> StoreResult<Option<LoginRecord>>;
    async fn set_credentials(&self, app_id: i64, user_id: i64, credentials: &Credentials) -> StoreResult<()>;
    /// Deletes guest accounts that were created before `created_before` and have no session left.
    async fn delete_stale_guests(&self, created_before: i64) -> StoreResult<u64>;
    /// Stores a new REST session; a user's session also sets the user's `last_request_at` to its
    /// `created_at`, in the same commit.
    async fn create_session(&self, session: &Session) -> StoreResult<Session>;
    async fn session_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn session_by_id(&self, session_id: i64) -> StoreResult<Option<Session>>;
    async fn extend_session(&self, session_id: i64, updated_at: i64, expires_at: i64) -> StoreResult<()>;
    async fn set_session_user(
        &self,
        session_id: i64,
        user_id: Option<i64>,
        token_scram: Option<&ScramKeys>,
        token_sealed: Option<&[u8]>,
        now: i64,
    ) -> StoreResult<()>;
    /// Stores a session token's SCRAM keys, derived on first use, in place of the sealed token.
    async fn set_token_keys(&self, session_id: i64, token_scram: &ScramKeys) -> StoreResult<()>;
    async fn delete_session(&self, session_id: i64) -> StoreResult<()>;
    /// Live sessions of a user (for token-as-password logins).
    async fn user_sessions(&self, app_id: i64, user_id: i64, now: i64) -> StoreResult<Vec<Session>>;
    async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64>;
    /// Records a signed request's signature; false when exactly that request was seen before.
    async fn claim_signature(&self, app_id: i64, signature: &str, now: i64) -> StoreResult<bool>;
    async fn purge_signatures(&self, used_before: i64) -> StoreResult<u64>;
}
