//! `<message/>` (RFC 6121 §5). The head is typed; the children stay elements in the order they came, so
//! a message's payloads — the body, `extraParams`, markers and anything the server does not know — are
//! forwarded as they were written. The readers below are what the chat modules ask of a message.

use super::extra_params;
use super::head::{Head, ParseError};
use super::signal::{Classification, Signal};
use crate::ns;
use crate::xml::{self, Element};
use palaver_core::messages::MessageContent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageType {
    Chat,
    Normal,
    Groupchat,
    Headline,
    Error,
    /// A type RFC 6121 does not define, kept as written.
    Other(String),
}

impl MessageType {
    pub fn parse(value: &str) -> MessageType {
        match value {
            "chat" => MessageType::Chat,
            "normal" => MessageType::Normal,
            "groupchat" => MessageType::Groupchat,
            "headline" => MessageType::Headline,
            "error" => MessageType::Error,
            other => MessageType::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Normal => "normal",
            MessageType::Groupchat => "groupchat",
            MessageType::Headline => "headline",
            MessageType::Error => "error",
            MessageType::Other(other) => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub head: Head,
    /// None when the message has no `type` (it then counts as `normal`).
    pub type_: Option<MessageType>,
    /// Every child, in order.
    pub payloads: Vec<Element>,
}

impl TryFrom<Element> for Message {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Message, ParseError> {
        let (head, type_, payloads) = Head::take(element, "message")?;
        Ok(Message {
            head,
            type_: type_.as_deref().map(MessageType::parse),
            payloads,
        })
    }
}

impl From<Message> for Element {
    fn from(message: Message) -> Element {
        let type_ = message.type_.as_ref().map(MessageType::as_str);
        message.head.build("message", type_, message.payloads)
    }
}

impl Message {
    pub fn new(type_: Option<MessageType>) -> Message {
        Message {
            head: Head::default(),
            type_,
            payloads: Vec::new(),
        }
    }

    /// The type, `normal` when absent.
    pub fn kind(&self) -> MessageType {
        self.type_.clone().unwrap_or(MessageType::Normal)
    }

    pub fn is_type(&self, kind: &MessageType) -> bool {
        self.type_.as_ref() == Some(kind)
    }

    pub fn classification(&self) -> Classification {
        Classification::of(&self.payloads)
    }

    /// A real message (docs/protocol.md#xmpp-message-classification): a body or extension, and none of
    /// the signal children.
    pub fn is_content(&self) -> bool {
        self.classification().is_content()
    }

    /// Typing notifications are only worth anything live.
    pub fn is_typing_only(&self) -> bool {
        self.classification().is_typing_only()
    }

    /// The first child that is this signal (by local name, as the SDKs read it).
    pub fn signal(&self, signal: Signal) -> Option<&Element> {
        self.payloads.iter().find(|c| c.name() == signal.name())
    }

    /// The `id` of the message a marker, edit or delete is about.
    pub fn signal_target(&self, signal: Signal) -> Option<&str> {
        self.signal(signal).and_then(|s| s.attr("id"))
    }

    pub fn body(&self) -> Option<String> {
        self.payloads
            .iter()
            .find(|c| c.name() == "body")
            .map(Element::text)
    }

    pub fn set_body(&mut self, text: impl Into<String>) {
        self.payloads
            .push(xml::with_text(xml::element("body", ns::CLIENT), text));
    }

    /// The `extraParams` child, if any (matched by local name, as the SDKs do).
    pub fn extra_params(&self) -> Option<&Element> {
        self.payloads.iter().find(|c| extra_params::is_extra_params(c))
    }

    /// The `extraParams` child, created when missing.
    pub fn extra_params_mut(&mut self) -> &mut Element {
        let at = match self.payloads.iter().position(extra_params::is_extra_params) {
            Some(at) => at,
            None => {
                self.payloads.push(extra_params::empty());
                self.payloads.len() - 1
            }
        };
        &mut self.payloads[at]
    }

    /// One `extraParams` value, when present.
    pub fn param(&self, name: &str) -> Option<String> {
        self.extra_params().and_then(|e| extra_params::value(e, name))
    }

    /// The message id, generated when the client gave none.
    pub fn ensure_id(&mut self) -> String {
        match &self.head.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => {
                let id = palaver_proto::new_object_id().to_string();
                self.head.id = Some(id.clone());
                id
            }
        }
    }

    /// What the sender wrote, as ConnectyCube's SDKs send it: the id (generated when the client gave
    /// none), the body, and from `extraParams` the attachments, the custom parameters,
    /// `save_to_history` and `date_sent`; with whether it asks for no chat alert (`silent`). The same
    /// for 1-1 and group messages.
    pub fn content(&mut self) -> (MessageContent, bool) {
        let id = self.ensure_id();
        let (attachments, params, save_to_history, date_sent) = match self.extra_params() {
            Some(extra) => {
                let (attachments, params) = extra_params::to_json(extra);
                let save = extra_params::value(extra, "save_to_history").is_some_and(|v| v.trim() == "1");
                let date = extra_params::value(extra, "date_sent").and_then(|d| d.trim().parse::<i64>().ok());
                (attachments, params, save, date)
            }
            None => (Vec::new(), Default::default(), false, None),
        };
        let silent = palaver_core::messages::is_silent(&params);
        let content = MessageContent {
            id,
            body: self.body(),
            attachments: serde_json::Value::Array(attachments),
            custom: extra_params::custom(params),
            date_sent,
            save_to_history,
        };
        (content, silent)
    }

    /// Adds what the recipient's SDK needs of an accepted message to `extraParams`: its dialog and its
    /// `date_sent`, each unless the sender gave it.
    pub fn stamp_accepted(&mut self, dialog_id: &str, date_sent: i64) {
        let extra = self.extra_params_mut();
        extra_params::ensure_value(extra, "dialog_id", dialog_id);
        extra_params::ensure_value(extra, "date_sent", &date_sent.to_string());
    }

    /// XEP-0280 `<private/>` (or the SDKs' `<no-copy/>`): no carbons of this one.
    pub fn refuses_carbons(&self) -> bool {
        self.payloads
            .iter()
            .any(|c| c.is("private", ns::CARBONS) || c.name() == "no-copy")
    }

    /// Whether this message should be kept for a user who is not online: chat content and markers,
    /// edits and deletes, but not typing, headlines, group messages or errors.
    pub fn worth_keeping(&self) -> bool {
        matches!(self.kind(), MessageType::Chat | MessageType::Normal) && keepable(self.classification())
    }
}

fn keepable(seen: Classification) -> bool {
    !seen.is_typing_only() && (seen.is_content() || seen.signal)
}

/// `Message::worth_keeping` for a stanza already written out as an element (what sits in a session's
/// queue), read in place.
pub fn worth_keeping(stanza: &Element) -> bool {
    stanza.name() == "message"
        && matches!(stanza.attr("type").unwrap_or("normal"), "chat" | "normal")
        && keepable(Classification::of(stanza.children()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Message {
        Message::try_from(text.parse::<Element>().unwrap()).unwrap()
    }

    #[test]
    fn classifies_content_and_signals() {
        let content = parse(r#"<message xmlns="jabber:client" type="chat"><body>hi</body></message>"#);
        assert!(content.is_content() && content.worth_keeping());
        let edit = parse(
            r#"<message xmlns="jabber:client" type="chat"><body>new</body><replace xmlns="urn:xmpp:message-correct:0" id="x"/></message>"#,
        );
        assert!(!edit.is_content() && edit.worth_keeping());
        assert_eq!(edit.signal_target(Signal::Replace), Some("x"));
        let typing = parse(
            r#"<message xmlns="jabber:client" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>"#,
        );
        assert!(!typing.worth_keeping() && typing.is_typing_only());
        let marker = parse(
            r#"<message xmlns="jabber:client" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="m"/></message>"#,
        );
        assert!(marker.worth_keeping());
        let headline = parse(r#"<message xmlns="jabber:client" type="headline"><body>x</body></message>"#);
        assert!(!headline.worth_keeping());
        for message in [content, edit, typing, marker, headline] {
            assert_eq!(
                worth_keeping(&Element::from(message.clone())),
                message.worth_keeping()
            );
        }
    }

    #[test]
    fn unknown_payloads_and_attributes_pass_through_in_order() {
        let text = r#"<message xmlns="jabber:client" xml:lang="en" to="6-1@d" type="chat" id="m1" data-x="1"><markable xmlns="urn:xmpp:chat-markers:0"/><body>hi</body><unknown xmlns="urn:example:interop" a="b"><deep>text</deep></unknown><extraParams><save_to_history>1</save_to_history></extraParams></message>"#;
        let original: Element = text.parse().unwrap();
        let message = Message::try_from(original.clone()).unwrap();
        assert_eq!(message.head.to.as_deref(), Some("6-1@d"));
        assert_eq!(message.type_, Some(MessageType::Chat));
        assert_eq!(message.param("save_to_history").as_deref(), Some("1"));
        assert_eq!(Element::from(message), original);
        // An attribute in another namespace is not the stanza's own, whatever its local name.
        let text = r#"<message xmlns="jabber:client" xmlns:ex="urn:example:attr" ex:type="other" ex:id="x" id="m2"/>"#;
        let original: Element = text.parse().unwrap();
        let message = Message::try_from(original.clone()).unwrap();
        assert_eq!(message.type_, None);
        assert_eq!(message.head.id.as_deref(), Some("m2"));
        assert_eq!(message.head.attrs.len(), 3);
        assert_eq!(Element::from(message), original);
    }

    #[test]
    fn content_reads_the_body_and_extra_params_and_the_stamp_keeps_what_the_sender_gave() {
        let mut message = parse(
            r#"<message xmlns="jabber:client" type="chat" id="m7"><body>hi &amp; bye</body><extraParams><save_to_history>1</save_to_history><date_sent> 1700000000 </date_sent><silent>1</silent><country>NL</country><attachment type="image" uid="u1"/></extraParams></message>"#,
        );
        let (content, silent) = message.content();
        assert_eq!(content.id, "m7");
        assert_eq!(content.body.as_deref(), Some("hi & bye"));
        assert!(content.save_to_history);
        assert_eq!(content.date_sent, Some(1_700_000_000));
        assert!(silent);
        assert_eq!(content.custom.get("country"), Some(&serde_json::json!("NL")));
        assert_eq!(
            content.custom.len(),
            1,
            "only the custom parameter: {:?}",
            content.custom
        );
        assert_eq!(
            content.attachments,
            serde_json::json!([{"type": "image", "uid": "u1"}])
        );
        message.stamp_accepted("d1", 1_800_000_000);
        assert_eq!(message.param("dialog_id").as_deref(), Some("d1"));
        assert_eq!(
            message.param("date_sent").as_deref(),
            Some(" 1700000000 "),
            "the sender's is kept"
        );

        let mut bare = parse(r#"<message xmlns="jabber:client" type="chat"><body>x</body></message>"#);
        let (content, silent) = bare.content();
        assert_eq!(content.id.len(), 24, "an id is made");
        assert!(!content.save_to_history && !silent);
        assert_eq!(
            (content.date_sent, content.attachments),
            (None, serde_json::json!([]))
        );
        assert!(content.custom.is_empty());
        bare.stamp_accepted("d2", 1_800_000_000);
        assert_eq!(bare.param("date_sent").as_deref(), Some("1800000000"));
        assert_eq!(bare.param("dialog_id").as_deref(), Some("d2"));
    }

    #[test]
    fn ids_are_kept_or_made() {
        let mut given = parse(r#"<message xmlns="jabber:client" id="a1"/>"#);
        assert_eq!(given.ensure_id(), "a1");
        let mut none = parse(r#"<message xmlns="jabber:client"/>"#);
        let made = none.ensure_id();
        assert_eq!(made.len(), 24);
        assert_eq!(none.head.id.as_deref(), Some(made.as_str()));
    }
}
