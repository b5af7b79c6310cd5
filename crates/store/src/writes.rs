//! What the batching writer (`writer.rs`) is asked to write, and what each write did: the vocabulary
//! that the domain files (`*_sql.rs`) submit in and the writer answers in.

use palaver_core::model::{ChatMessage, Dialog, Session};

/// The private dialog of two users of an app, as a write asks for it: the id it gets if it is new, and
/// when.
#[derive(Debug, Clone)]
pub(crate) struct PairDialog {
    pub app_id: i64,
    pub a: i64,
    pub b: i64,
    pub new_id: String,
    pub now: i64,
}

/// One durable write of the message path.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A message into history (see `message_sql::save_messages_in`).
    Message(Box<ChatMessage>),
    /// The private dialog of a pair, created unless it exists (see `dialog_sql::private_dialog_in`).
    PrivateDialog(PairDialog),
    /// The private dialog of a pair under the pair's own id, made unless it exists; left behind by the
    /// pair's first message (see `dialog_sql::ensure_private_dialogs_in`).
    EnsurePrivateDialog(PairDialog),
    /// A new REST session, and its user's `last_request_at` (see `account_sql::create_session_in`).
    Session(Box<Session>),
    /// A stanza kept for a user with no session, refused past `max_per_user` waiting ones.
    Offline {
        app_id: i64,
        user_id: i64,
        payload: String,
        now: i64,
        max_per_user: i64,
    },
    /// Nothing: waited for so that every write left behind before it is committed (see
    /// `BatchWriter::settle`).
    Barrier,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Written {
    /// False when history already had the message.
    Message(bool),
    /// The pair's private dialog, and whether this write made it.
    PrivateDialog(Box<Dialog>, bool),
    /// The pair's private dialog exists.
    Ensured,
    /// The stored stanza's sequence number; None when the user's offline storage is full.
    Offline(Option<i64>),
    /// The session as stored (with its id).
    Session(Box<Session>),
    /// Everything submitted before the barrier is committed.
    Settled,
}
