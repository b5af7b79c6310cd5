//! The persistence boundary. Each domain declares the storage it needs beside its own types:
//! `AccountStore` (accounts.rs: apps, users, credentials, sessions, signatures), `DialogStore` (dialogs.rs),
//! `MessageStore` (history.rs: history, offline stanzas, marks, edits, reactions, search), `ContactStore`
//! (contacts.rs: contact lists, last activity), `PrivacyStore` (privacy.rs), `PushStore` (push.rs) and
//! `BlobStore` (blobs.rs); operators' tools have `AdminStore` (admin_store.rs). `Store` is all of them in
//! one handle, the one the services hold (`Core::store`); `palaver-store` implements each of them for
//! SQLite and PostgreSQL.
//!
//! Calls through `Arc<dyn Store>` need no import; code that calls a domain's methods on a concrete store
//! brings them in with `use palaver_core::store::prelude::*`.

use crate::accounts::AccountStore;
use crate::admin_store::AdminStore;
use crate::blobs::BlobStore;
use crate::cluster::SharedCache;
use crate::contacts::ContactStore;
use crate::dialogs::DialogStore;
use crate::history::MessageStore;
use crate::privacy::PrivacyStore;
use crate::push::PushStore;

pub use crate::error::{StoreError, StoreResult};

/// Every domain's storage in one handle. Implemented for every type that implements all of them.
pub trait Store:
    AccountStore
    + DialogStore
    + MessageStore
    + ContactStore
    + PrivacyStore
    + PushStore
    + BlobStore
    + SharedCache
    + Send
    + Sync
    + 'static
{
    /// What the operators' tools need (admin_store.rs). Not a supertrait: its searches across an
    /// application share names with `MessageStore`'s searches as one user sees them.
    fn admin(&self) -> &dyn AdminStore;
}

impl<T> Store for T
where
    T: AccountStore
        + DialogStore
        + MessageStore
        + ContactStore
        + PrivacyStore
        + PushStore
        + BlobStore
        + SharedCache
        + AdminStore
        + 'static,
{
    fn admin(&self) -> &dyn AdminStore {
        self
    }
}

/// The storage traits, for calling a domain's methods on a concrete store: `use
/// palaver_core::store::prelude::*`. (`AdminStore` is not in it: its search calls would clash with
/// `MessageStore`'s.)
pub mod prelude {
    pub use super::{Store, StoreError, StoreResult};
    pub use crate::accounts::AccountStore;
    pub use crate::blobs::BlobStore;
    pub use crate::cluster::SharedCache;
    pub use crate::contacts::ContactStore;
    pub use crate::dialogs::DialogStore;
    pub use crate::history::MessageStore;
    pub use crate::privacy::PrivacyStore;
    pub use crate::push::PushStore;
}
