//! The one error type of the domain. The edges map it: the REST API to an HTTP status and a ConnectyCube
//! error body, the XMPP server to a stanza error.

use crate::store::StoreError;

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
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("The resource wasn't found")]
    NotFound,
    /// Invalid fields: (field, message) pairs, e.g. ("login", "has already been taken").
    #[error("validation failed: {0:?}")]
    Invalid(Vec<(String, String)>),
    /// A request-level error without a field, e.g. "Unexpected signature".
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn invalid(field: &str, message: &str) -> CoreError {
        CoreError::Invalid(vec![(field.to_owned(), message.to_owned())])
    }
}
