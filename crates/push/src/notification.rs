//! What one notification says, independent of the provider that carries it: built from a chat message
//! (with the app's chat-alert template) or from a REST push event's message.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A rendered notification, stored as the queued job's payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `chat_alert` or `event`.
    pub kind: String,
    pub title: Option<String>,
    pub body: String,
    pub badge: Option<i64>,
    pub sound: Option<String>,
    /// A VoIP push (`ios_voip=1`, or an `apns_voip` device).
    #[serde(default)]
    pub voip: bool,
    /// A background (content-available) push.
    #[serde(default)]
    pub content_available: bool,
    pub dialog_id: Option<String>,
    pub dialog_type: Option<i64>,
    pub dialog_name: Option<String>,
    pub message_id: Option<String>,
    pub sender_id: Option<i64>,
    /// The chat message's text.
    pub text: Option<String>,
    pub event_id: Option<i64>,
    /// Custom key/values the app receives with the notification.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// The app's chat-alert template; `None` parts use the defaults (title: the sender's name, body: the
/// message text, or "Attachment").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub title: Option<String>,
    pub body: Option<String>,
}

impl Template {
    pub fn from_setting(value: &Value) -> Template {
        let part = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        Template {
            title: part("title"),
            body: part("body"),
        }
    }
}

/// The values a chat-alert template can name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFields {
    pub sender_name: String,
    /// The message text, or "Attachment" for a message with attachments and no text.
    pub message: String,
    pub dialog_name: String,
}

/// Replaces `{sender_name}`, `{message}` and `{dialog_name}`; other braces stay as they are.
pub fn render(template: &str, fields: &AlertFields) -> String {
    template
        .replace("{sender_name}", &fields.sender_name)
        .replace("{message}", &fields.message)
        .replace("{dialog_name}", &fields.dialog_name)
}

/// Title and body of a chat alert.
pub fn render_alert(template: &Template, fields: &AlertFields) -> (String, String) {
    let title = match &template.title {
        Some(t) => render(t, fields),
        None => fields.sender_name.clone(),
    };
    let body = match &template.body {
        Some(b) => render(b, fields),
        None => fields.message.clone(),
    };
    (title, body)
}

/// What a push event's `message` says. Without `push_type` the SDKs send Base64 of either plain text or a
/// JSON "universal" payload (`message`, `title`, `ios_badge`, `ios_sound`, `ios_voip`,
/// `ios_content_available`, custom keys); with `push_type` a platform payload (`{"aps": …}` for APNs,
/// `{"data": …}` or `{"notification": …}` for FCM). Either may carry a `payload=` prefix, or come as plain
/// text; all are accepted.
pub fn event_content(message: &str) -> Notification {
    let raw = message.trim();
    let raw = raw.strip_prefix("payload=").unwrap_or(raw);
    let text = decode_base64(raw).unwrap_or_else(|| raw.to_owned());
    let mut n = Notification {
        kind: "event".into(),
        ..Notification::default()
    };
    let Ok(Value::Object(mut payload)) = serde_json::from_str::<Value>(&text) else {
        n.body = text;
        return n;
    };
    if let Some(Value::Object(aps)) = payload.remove("aps") {
        match aps.get("alert") {
            Some(Value::String(s)) => n.body = s.clone(),
            Some(Value::Object(alert)) => {
                n.title = str_of(alert.get("title"));
                n.body = str_of(alert.get("body")).unwrap_or_default();
            }
            _ => {}
        }
        n.badge = int_of(aps.get("badge"));
        n.sound = str_of(aps.get("sound"));
        n.content_available = int_of(aps.get("content-available")) == Some(1);
    } else if let Some(Value::Object(notification)) = payload.remove("notification") {
        n.title = str_of(notification.get("title"));
        n.body = str_of(notification.get("body")).unwrap_or_default();
    } else if let Some(Value::Object(data)) = payload.remove("data") {
        n.title = str_of(data.get("title"));
        n.body = str_of(data.get("message")).unwrap_or_default();
        for (k, v) in data {
            if k != "message" && k != "title" {
                payload.insert(k, v);
            }
        }
    }
    for (key, target) in [("message", 0), ("title", 1), ("ios_title", 1)] {
        if let Some(value) = str_of(payload.get(key)) {
            match target {
                0 if n.body.is_empty() => n.body = value,
                1 if n.title.is_none() => n.title = Some(value),
                _ => {}
            }
        }
    }
    if n.badge.is_none() {
        n.badge = int_of(payload.get("ios_badge"));
    }
    if n.sound.is_none() {
        n.sound = str_of(payload.get("ios_sound"));
    }
    n.voip = int_of(payload.get("ios_voip")) == Some(1);
    n.content_available |= int_of(payload.get("ios_content_available")) == Some(1);
    for key in [
        "message",
        "title",
        "ios_title",
        "ios_badge",
        "ios_sound",
        "ios_voip",
        "ios_content_available",
    ] {
        payload.remove(key);
    }
    n.data = payload;
    n
}

fn decode_base64(text: &str) -> Option<String> {
    if text.is_empty() || text.len() % 4 == 1 {
        return None;
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

fn str_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// The custom data every provider carries as strings (FCM `data` allows only strings): the chat fields and
/// the event's own keys.
pub fn string_data(n: &Notification) -> Map<String, Value> {
    let mut data = Map::new();
    for (key, value) in &n.data {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        data.insert(key.clone(), Value::String(text));
    }
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            data.insert(key.to_owned(), Value::String(value));
        }
    };
    put("dialog_id", n.dialog_id.clone());
    put("message_id", n.message_id.clone());
    put("sender_id", n.sender_id.map(|v| v.to_string()));
    put("dialog_type", n.dialog_type.map(|v| v.to_string()));
    put("event_id", n.event_id.map(|v| v.to_string()));
    if n.kind == "chat_alert" {
        put("message", Some(n.text.clone().unwrap_or_else(|| n.body.clone())));
    }
    if !n.body.is_empty() && !data.contains_key("message") {
        data.insert("message".into(), Value::String(n.body.clone()));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn renders_templates_and_defaults() {
        let fields = AlertFields {
            sender_name: "Ann".into(),
            message: "hi".into(),
            dialog_name: "Team".into(),
        };
        assert_eq!(
            render_alert(&Template::default(), &fields),
            ("Ann".into(), "hi".into())
        );
        let template = Template {
            title: Some("{sender_name} @ {dialog_name}".into()),
            body: Some("said: {message} {unknown}".into()),
        };
        assert_eq!(
            render_alert(&template, &fields),
            ("Ann @ Team".into(), "said: hi {unknown}".into())
        );
    }

    #[test]
    fn reads_the_event_message_forms() {
        let universal = event_content(&b64(
            r#"{"message":"Hello","ios_badge":"3","ios_sound":"ping","thread":"t1"}"#,
        ));
        assert_eq!(universal.body, "Hello");
        assert_eq!(universal.badge, Some(3));
        assert_eq!(universal.sound.as_deref(), Some("ping"));
        assert_eq!(
            universal.data,
            json!({"thread": "t1"}).as_object().unwrap().clone()
        );

        let prefixed = event_content(&format!(
            "payload={}",
            b64(r#"{"aps":{"alert":{"title":"T","body":"B"},"badge":2}}"#)
        ));
        assert_eq!(
            (prefixed.title.as_deref(), prefixed.body.as_str(), prefixed.badge),
            (Some("T"), "B", Some(2))
        );

        assert_eq!(event_content(&b64("plain words")).body, "plain words");
        assert_eq!(event_content("not base64!").body, "not base64!");
        let gcm = event_content(r#"{"data":{"message":"G","k":"v"}}"#);
        assert_eq!((gcm.body.as_str(), gcm.data.get("k")), ("G", Some(&json!("v"))));
    }
}
