//! The one error type of the domain, precise enough that each transport maps it in one place:
//! `palaver_xmpp::stanza_error` to a stanza error, `palaver_api::error` to an HTTP status and a
//! ConnectyCube error body. A rule that refuses something picks the variant here, in the core; the
//! transports never look at context to decide how to answer.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No session, or an unknown, expired or destroyed token.
    #[error("Required session does not exist")]
    SessionRequired,
    /// The request needs a user session but has an application session.
    #[error("Forbidden. Need user.")]
    NeedUser,
    /// Wrong credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// The caller may not do this, and why.
    #[error("{0}")]
    Forbidden(Denial),
    #[error("The resource wasn't found")]
    NotFound,
    /// Invalid fields: (field, message) pairs, e.g. ("login", "has already been taken").
    #[error("{}", describe_fields(.0))]
    Invalid(Vec<(String, String)>),
    /// A request-level error without a field, e.g. "Unexpected signature".
    #[error("{0}")]
    Rejected(String),
    /// The user's contact list is full.
    #[error("Contact list limit ({0}) reached")]
    ContactLimitReached(i64),
    /// The recipient is offline and its queue of waiting stanzas is full.
    #[error("The recipient's offline storage is full")]
    OfflineStorageFull,
    #[error("{0}")]
    Store(StoreError),
}

impl From<StoreError> for CoreError {
    fn from(error: StoreError) -> CoreError {
        CoreError::Store(error)
    }
}

/// Why a caller may not do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Not an occupant of the dialog (or, for a public dialog, not a subscriber).
    NotMember,
    /// The sender's own default privacy list blocks the recipient (a two-way block).
    BlockedBySender,
    /// The recipient's default privacy list blocks the sender.
    BlockedByRecipient,
    /// Any other rule, in the words the client reads.
    Rule(String),
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::NotMember => f.write_str("You are not a member of this dialog"),
            Denial::BlockedBySender => f.write_str("You have blocked this user"),
            Denial::BlockedByRecipient => f.write_str("The recipient does not accept your messages"),
            Denial::Rule(text) => f.write_str(text),
        }
    }
}

impl From<&str> for Denial {
    fn from(text: &str) -> Denial {
        Denial::Rule(text.to_owned())
    }
}

impl From<String> for Denial {
    fn from(text: String) -> Denial {
        Denial::Rule(text)
    }
}

/// Invalid fields as one sentence for a client: "login has already been taken, password is too short".
fn describe_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(field, message)| format!("{field} {message}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn invalid(field: &str, message: &str) -> CoreError {
        CoreError::Invalid(vec![(field.to_owned(), message.to_owned())])
    }

    /// The caller is not a member of the dialog it acts on.
    pub fn not_member() -> CoreError {
        CoreError::Forbidden(Denial::NotMember)
    }
}

/// What a store answers when it cannot do what was asked.
///
/// Any error of a storage backend (`std::error::Error`) converts into `Backend` with `?`, so the store
/// crate's queries need no mapping of their own. That conversion is why `StoreError` itself is not a
/// `std::error::Error` (it would be one of the errors it converts from): it is `Display` and `Debug`, and
/// `CoreError::Store` carries it.
#[derive(Debug)]
pub enum StoreError {
    /// A unique field is taken; names the field (`login`, `email`, ...).
    Conflict(String),
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict(field) => write!(f, "{field} has already been taken"),
            StoreError::Backend(detail) => write!(f, "storage failure: {detail}"),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StoreError {
    fn from(error: E) -> StoreError {
        StoreError::Backend(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
