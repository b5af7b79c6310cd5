//! Domain records as ConnectyCube JSON objects (docs/protocol.md#objects).

use palaver_core::clock::iso8601;
use palaver_core::model::{App, Session, User};
use serde_json::{json, Value};

pub fn user(user: &User) -> Value {
    let p = &user.profile;
    json!({
        "id": user.id,
        "login": p.login,
        "email": p.email,
        "full_name": p.full_name,
        "phone": p.phone,
        "website": p.website,
        "created_at": iso8601(user.created_at),
        "updated_at": iso8601(user.updated_at),
        "last_request_at": user.last_request_at.map(iso8601),
        "external_user_id": p.external_user_id,
        "external_id": p.external_id,
        "facebook_id": p.facebook_id,
        "twitter_id": p.twitter_id,
        "custom_data": p.custom_data,
        "blob_id": p.blob_id,
        "avatar": p.avatar,
        "user_tags": p.user_tags,
        "timezone": p.timezone,
        "is_guest": if user.is_guest { Value::Bool(true) } else { Value::Null },
    })
}

/// `{"session": …}`; `token` is only known when the session was just created or is the caller's own.
pub fn session(session: &Session, token: &str, owner: Option<&User>) -> Value {
    let mut body = json!({
        "id": session.id,
        "application_id": session.app_id,
        // Application sessions report 0, which the v3 web-session poll reads as "no user yet".
        "user_id": session.user_id.unwrap_or(0),
        "token": token,
        "ts": session.ts,
        "nonce": session.nonce,
        "created_at": iso8601(session.created_at),
        "updated_at": iso8601(session.updated_at),
    });
    if let Some(owner) = owner {
        body["user"] = user(owner);
    }
    json!({ "session": body })
}

pub fn app(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "auth_key": app.auth_key,
        "auth_secret": app.auth_secret,
        "created_at": iso8601(app.created_at),
    })
}

// --- Messages REST API ---

/// A history message as `viewer` sees it (docs/protocol.md#object-message): custom parameters as top-level
/// fields, the sender included in `read_ids` and `delivered_ids`.
pub fn message(m: &palaver_core::model::HistoryMessage, viewer: i64) -> Value {
    let msg = &m.message;
    let with_sender = |ids: &[i64]| -> Vec<i64> {
        std::iter::once(msg.sender_id)
            .chain(ids.iter().copied().filter(|u| *u != msg.sender_id))
            .collect()
    };
    let read_ids = with_sender(&m.read_ids);
    let reactions = if m.reactions.is_empty() {
        Value::Null
    } else {
        let mut total = serde_json::Map::new();
        let mut own = Vec::new();
        for (user, reaction) in &m.reactions {
            let count = total.get(reaction).and_then(Value::as_i64).unwrap_or(0);
            total.insert(reaction.clone(), json!(count + 1));
            if *user == viewer {
                own.push(reaction.clone());
            }
        }
        json!({"own": own, "total": total})
    };
    let mut body = msg.custom.clone();
    let standard = json!({
        "_id": msg.id,
        "chat_dialog_id": msg.dialog_id,
        "message": msg.body,
        "date_sent": msg.date_sent,
        "sender_id": msg.sender_id,
        "recipient_id": msg.recipient_id,
        "attachments": if msg.attachments.is_array() { msg.attachments.clone() } else { json!([]) },
        "read_ids": read_ids,
        "delivered_ids": with_sender(&m.delivered_ids),
        "read": i64::from(read_ids.contains(&viewer)),
        "views_count": m.read_ids.iter().filter(|u| **u != msg.sender_id).count(),
        "reactions": reactions,
        "created_at": iso8601(msg.created_at),
        "updated_at": iso8601(msg.updated_at),
    });
    if let Value::Object(fields) = standard {
        body.extend(fields);
    }
    Value::Object(body)
}

// --- Dialogs REST API ---

/// A dialog as `view`'s user sees it (docs/protocol.md#object-dialog). `domain` is the XMPP domain of room
/// JIDs.
pub fn dialog(view: &palaver_core::model::DialogView, domain: &str) -> Value {
    use palaver_core::model::DialogType;
    let d = &view.dialog;
    // Public dialogs list no occupants, only how many subscribers they have.
    let occupants_ids: &[i64] = if d.kind == DialogType::Public {
        &[]
    } else {
        &d.occupants
    };
    let room_jid = (d.kind != DialogType::Private).then(|| {
        palaver_proto::RoomJid {
            app_id: d.app_id,
            dialog_id: d.id.clone(),
        }
        .bare(domain)
    });
    json!({
        "_id": d.id,
        "type": d.kind,
        "user_id": d.user_id,
        "name": d.name,
        "description": d.description,
        "photo": d.photo,
        "occupants_ids": occupants_ids,
        "occupants_count": d.occupants.len(),
        "admins_ids": d.admins,
        "pinned_messages_ids": d.pinned_messages_ids,
        "last_message": d.last_message,
        "last_message_id": d.last_message_id,
        "last_message_user_id": d.last_message_user_id,
        "last_message_date_sent": d.last_message_date_sent,
        "last_message_status": view.last_message_status,
        "unread_messages_count": view.unread_messages_count,
        "xmpp_room_jid": room_jid,
        "extensions": d.extensions,
        "permissions": d.permissions,
        "created_at": iso8601(d.created_at),
        "updated_at": iso8601(d.updated_at),
    })
}

// --- File storage ---

/// A Blob (docs/protocol.md#object-blob): `size` only once completed.
pub fn blob(b: &palaver_core::blobs::Blob) -> Value {
    json!({
        "id": b.id,
        "uid": b.uid,
        "content_type": b.content_type,
        "name": b.name,
        "size": if b.completed { b.size } else { None },
        "public": b.public,
        "blob_status": if b.completed { Some("complete") } else { None },
        "set_completed_at": b.completed_at.map(iso8601),
        "created_at": iso8601(b.created_at),
        "updated_at": iso8601(b.updated_at),
    })
}
