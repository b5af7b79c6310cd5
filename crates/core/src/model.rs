//! The records the domain works with, as the store keeps them. Times are Unix milliseconds.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct App {
    pub id: i64,
    pub name: String,
    pub auth_key: String,
    pub auth_secret: String,
    pub created_at: i64,
}

/// A user's public profile. Which fields exist and their meaning follow ConnectyCube's User object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    pub id: i64,
    pub app_id: i64,
    pub profile: Profile,
    pub is_guest: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_request_at: Option<i64>,
}

/// The fields a user (or the sign-up request) sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    pub login: Option<String>,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub custom_data: Option<String>,
    pub avatar: Option<String>,
    pub blob_id: Option<i64>,
    pub external_user_id: Option<i64>,
    pub external_id: Option<String>,
    pub facebook_id: Option<String>,
    pub twitter_id: Option<String>,
    /// Comma-separated, as ConnectyCube returns `user_tags`.
    pub user_tags: Option<String>,
    pub timezone: Option<i64>,
}

/// What verifying a secret needs: the SCRAM keys, against which both plain passwords and SCRAM logins are
/// checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Credentials {
    /// `credentials::SCRAM_SHA256_VERIFIER` (plain passwords are checked against the SCRAM-SHA-256 keys),
    /// or the PHC string of an argon2id hash from an earlier version, replaced at the next login.
    pub password_hash: String,
    pub scram: ScramKeys,
}

/// SCRAM StoredKey/ServerKey pairs (RFC 5802) for SHA-1 and SHA-256, derived with one salt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScramKeys {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub sha1_stored_key: Vec<u8>,
    pub sha1_server_key: Vec<u8>,
    pub sha256_stored_key: Vec<u8>,
    pub sha256_server_key: Vec<u8>,
}

/// A REST session. Only a hash of the token is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: i64,
    pub app_id: i64,
    pub user_id: Option<i64>,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// SCRAM keys of the token under the user's salt, so the token also works as an XMPP password.
    pub token_scram: Option<ScramKeys>,
    /// The token sealed under the server's token key, until its SCRAM keys are derived (`token_seal`).
    pub token_sealed: Option<Vec<u8>>,
    pub nonce: Option<i64>,
    pub ts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    /// Milliseconds each use extends the session by (guests live longer).
    pub ttl: i64,
}

/// A session with the token that was handed out (only known at creation).
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub session: Session,
    pub token: String,
    pub user: Option<User>,
}

/// ConnectyCube dialog types (docs/protocol.md#rest-dialogs; 1 and 4 as the documentation numbers them,
/// docs/protocol.md#quirk-dialog-type-names). On the wire (REST JSON, push payloads) and in the database a
/// type is its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogType {
    /// No members: everyone in the application reads it; the owner and admins post.
    Broadcast = 1,
    Group = 2,
    /// The 1-1 dialog of a pair.
    Private = 3,
    /// Members are subscribers.
    Public = 4,
    /// v6 lists it: members like a group.
    Meeting = 5,
}

impl DialogType {
    /// The number ConnectyCube gives the type.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The type of a number; `None` for a number that names none.
    pub fn from_code(code: i64) -> Option<DialogType> {
        Some(match code {
            1 => DialogType::Broadcast,
            2 => DialogType::Group,
            3 => DialogType::Private,
            4 => DialogType::Public,
            5 => DialogType::Meeting,
            _ => return None,
        })
    }
}

impl Serialize for DialogType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.code())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    /// ObjectId-style, never all digits.
    pub id: String,
    pub app_id: i64,
    pub kind: DialogType,
    /// The owner.
    pub user_id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub photo: Option<String>,
    /// The member rows: occupants of group, private and meeting dialogs, subscribers of public ones (whose
    /// JSON `occupants_ids` is `[]`); broadcast dialogs have none (everyone in the app reads them).
    pub occupants: Vec<i64>,
    pub last_message: Option<String>,
    pub last_message_id: Option<String>,
    pub last_message_user_id: Option<i64>,
    pub last_message_date_sent: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Up to five admins besides the owner.
    pub admins: Vec<i64>,
    pub pinned_messages_ids: Vec<String>,
    /// Custom string fields; `None` when never set or reset.
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
    /// `{"allow_preview": bool}`; `None` when never set or reset.
    pub permissions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A message in a dialog's history. Serializable for the store's history journal.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// The client's stanza id for messages sent over XMPP.
    pub id: String,
    pub app_id: i64,
    pub dialog_id: String,
    pub sender_id: i64,
    /// The other user of a private dialog; 0 otherwise.
    pub recipient_id: i64,
    pub body: Option<String>,
    /// A JSON array of attachment objects.
    pub attachments: serde_json::Value,
    /// Custom parameters: a JSON object.
    pub custom: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds.
    pub date_sent: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stanza kept for a user who had no session when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineMessage {
    pub seq: i64,
    pub payload: String,
    pub created_at: i64,
}

// --- Messages REST API (history) ---

/// A history message with the per-user state the Message object shows.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMessage {
    /// The store's sequence number: the tie-breaker of equal `date_sent`s.
    pub seq: i64,
    pub message: ChatMessage,
    /// Users who read it, the sender not included (he is implicitly a reader).
    pub read_ids: Vec<i64>,
    /// Users it was delivered to, the sender not included.
    pub delivered_ids: Vec<i64>,
    /// (user, reaction) pairs, oldest first.
    pub reactions: Vec<(i64, String)>,
}

// --- Dialogs REST API ---

impl Dialog {
    /// The owner or one of the admins.
    pub fn is_owner_or_admin(&self, user_id: i64) -> bool {
        self.user_id == user_id || self.admins.contains(&user_id)
    }

    /// Has a member row: an occupant of a group, private or meeting dialog, a subscriber of a public one.
    pub fn is_member(&self, user_id: i64) -> bool {
        self.occupants.contains(&user_id)
    }
}

/// A dialog as one user sees it: with his unread count and the status of the last message if he sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogView {
    pub dialog: Dialog,
    pub unread_messages_count: i64,
    /// `sent`, `delivered` or `read` when the viewer sent the last message; `None` otherwise.
    pub last_message_status: Option<String>,
}
