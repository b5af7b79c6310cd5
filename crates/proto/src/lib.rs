//! Identifiers and wire formats of the ConnectyCube protocol, shared by every Palaver crate.
//! No I/O lives here.

pub mod ids;
pub mod jid;

pub use ids::{new_object_id, private_dialog_id, random_hex_token, ObjectId};
pub use jid::{RoomJid, UserJid};
