//! Chat alerts: a chat message that reaches users with no active session (offline, or every session
//! marked inactive) is announced on the event bus; the push dispatcher turns that into notifications.

use crate::server::Shared;
use palaver_core::events::Event;
use palaver_core::model::{dialog_type, ChatMessage, Dialog};
use palaver_proto::UserJid;

/// Publishes an alert for the recipients (never the sender) who have no active session right now.
/// Broadcast dialogs raise none: they would notify every user of the app.
pub async fn publish(
    shared: &Shared,
    message: ChatMessage,
    dialog: &Dialog,
    recipients: &[i64],
    silent: bool,
) {
    if dialog.kind == dialog_type::BROADCAST {
        return;
    }
    let inactive: Vec<i64> = recipients
        .iter()
        .copied()
        .filter(|&user_id| user_id != message.sender_id)
        .filter(|&user_id| {
            !shared.registry.is_active(UserJid {
                user_id,
                app_id: message.app_id,
            })
        })
        .collect();
    if inactive.is_empty() {
        return;
    }
    shared
        .core
        .events
        .publish(Event::ChatAlert {
            dialog_type: dialog.kind,
            dialog_name: dialog.name.clone(),
            recipients: inactive,
            silent,
            message,
        })
        .await;
}

/// `silent=1` in a message's parameters asks for no alert.
pub fn is_silent(params: &serde_json::Map<String, serde_json::Value>) -> bool {
    params
        .get("silent")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.trim() == "1" || v.trim() == "true")
}
