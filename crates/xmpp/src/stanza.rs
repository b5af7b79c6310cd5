//! Reading and answering stanzas: where a stanza is addressed, and error replies the SDKs can read.

use crate::config::XmppConfig;
use crate::ns;
pub use crate::parsers::error::{error_element, Condition};
use crate::parsers::head::{Head, Stanza};
use crate::xml::{self, Element};
use palaver_proto::{RoomJid, UserJid};

/// What a stanza's `to` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The server itself (no `to`, the domain or an alias).
    Server,
    /// A user of the domain, maybe a specific resource.
    User(UserJid, Option<String>),
    /// A dialog room, maybe an occupant (the nick is a user id).
    Room(RoomJid, Option<String>),
    /// The room service itself.
    RoomService,
    /// Anything else: another server or a malformed address.
    Elsewhere,
}

pub fn target(stanza: &Element, config: &XmppConfig) -> Target {
    match stanza.attr("to") {
        None => Target::Server,
        Some(to) => classify(to, config),
    }
}

/// `target` for a typed stanza's head.
pub fn classify_head(head: &Head, config: &XmppConfig) -> Target {
    match head.to.as_deref() {
        None => Target::Server,
        Some(to) => classify(to, config),
    }
}

pub fn classify(address: &str, config: &XmppConfig) -> Target {
    match user_of_this_domain(address, config) {
        Some(user) => Target::User(user, None),
        None => classify_jid(address, config),
    }
}

/// `{uid}-{app}@{domain}`, what nearly every 1-1 stanza is addressed to, read without the JID parser
/// (which prepares and copies each part: two thirds of `classify`'s instructions). Its characters are
/// ones the preparation leaves as they are and the domain is compared as `classify_jid` compares it, so
/// the answer is `classify_jid`'s; anything else (a resource, another domain) is left to it.
fn user_of_this_domain(address: &str, config: &XmppConfig) -> Option<UserJid> {
    let (node, domain) = address.split_once('@')?;
    let plain_domain = !domain.contains('/') && config.serves(domain) && !config.is_muc_domain(domain);
    plain_domain.then(|| UserJid::parse_node(node)).flatten()
}

/// `classify` by the JID parser.
fn classify_jid(address: &str, config: &XmppConfig) -> Target {
    let Ok(jid) = jid::Jid::new(address) else {
        return Target::Elsewhere;
    };
    let domain = jid.domain().as_str();
    let resource = jid.resource().map(|r| r.as_str().to_owned());
    let node = jid.node().map(|n| n.as_str());
    if config.is_muc_domain(domain) {
        return match node.and_then(RoomJid::parse_node) {
            Some(room) => Target::Room(room, resource),
            None if node.is_none() => Target::RoomService,
            None => Target::Elsewhere,
        };
    }
    if !config.serves(domain) {
        return Target::Elsewhere;
    }
    match node {
        None if resource.is_none() => Target::Server,
        None => Target::Elsewhere,
        Some(node) => match UserJid::parse_node(node) {
            Some(user) => Target::User(user, resource),
            None => Target::Elsewhere,
        },
    }
}

/// The error reply to a stanza: same name and id, addresses swapped, type `error`, the original payload
/// kept (so clients can tell which message failed), then the error.
pub fn error_reply(original: &Element, condition: Condition, text: &str) -> Element {
    let children: Vec<Element> = if original.name() != "iq" {
        original
            .children()
            .filter(|c| c.name() != "error")
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let head = Head {
        from: original.attr("to").map(str::to_owned),
        to: original.attr("from").map(str::to_owned),
        id: original.attr("id").map(str::to_owned),
        attrs: Default::default(),
    };
    with_error(head, original.name(), children, condition, text)
}

/// `error_reply` for a typed stanza.
pub fn refuse<S: Stanza>(original: &S, condition: Condition, text: &str) -> Element {
    let children: Vec<Element> = if S::NAME != "iq" {
        original
            .payloads()
            .iter()
            .filter(|c| c.name() != "error")
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    with_error(original.head().reply(), S::NAME, children, condition, text)
}

fn with_error(
    head: Head,
    name: &str,
    mut children: Vec<Element>,
    condition: Condition,
    text: &str,
) -> Element {
    children.push(error_element(condition, text));
    head.build(name, Some("error"), children)
}

/// An empty `<iq type="result">` answering `request`.
pub fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut reply = xml::element("iq", ns::CLIENT);
    xml::set_attr(&mut reply, "type", "result");
    if let Some(id) = request.attr("id") {
        xml::set_attr(&mut reply, "id", id);
    }
    if let Some(to) = request.attr("to") {
        xml::set_attr(&mut reply, "from", to);
    }
    if let Some(from) = request.attr("from") {
        xml::set_attr(&mut reply, "to", from);
    }
    if let Some(payload) = payload {
        reply.append_child(payload);
    }
    reply
}

/// Is this one of the three stanza kinds (as opposed to a nonza such as SM's `<r/>`)?
pub fn is_stanza(element: &Element) -> bool {
    matches!(element.name(), "message" | "presence" | "iq") && element.has_ns(ns::CLIENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> XmppConfig {
        XmppConfig::new("chat.example.com")
    }

    #[test]
    fn classifies_addresses() {
        let c = config();
        assert_eq!(classify("chat.example.com", &c), Target::Server);
        assert_eq!(classify("127.0.0.1", &c), Target::Server);
        assert_eq!(
            classify("5-1@chat.example.com/res", &c),
            Target::User(
                UserJid {
                    user_id: 5,
                    app_id: 1
                },
                Some("res".into())
            )
        );
        assert_eq!(
            classify("5-1@localhost", &c),
            Target::User(
                UserJid {
                    user_id: 5,
                    app_id: 1
                },
                None
            )
        );
        assert_eq!(
            classify("1_5c094c0ce588ce6856f87422@muc.chat.example.com/7", &c),
            Target::Room(
                RoomJid {
                    app_id: 1,
                    dialog_id: "5c094c0ce588ce6856f87422".into()
                },
                Some("7".into())
            )
        );
        assert_eq!(classify("muc.chat.example.com", &c), Target::RoomService);
        assert_eq!(classify("MUC.Chat.Example.com", &c), Target::RoomService);
        assert_eq!(classify("muc.chat.example.co", &c), Target::Elsewhere);
        assert_eq!(classify("muc.", &c), Target::Elsewhere);
        assert_eq!(classify("mu\u{e9}.chat.example.com", &c), Target::Elsewhere);
        assert_eq!(classify("bob@elsewhere.org", &c), Target::Elsewhere);
        assert_eq!(classify("bob@chat.example.com", &c), Target::Elsewhere);
        assert_eq!(classify("not a jid@@", &c), Target::Elsewhere);
    }

    /// The shortcut for a user's bare address answers as the JID parser does, on what it takes and on
    /// what it must leave to the parser.
    #[test]
    fn bare_user_addresses_are_read_as_the_jid_parser_reads_them() {
        let mut c = config();
        c.aliases.push("alias.example.com".into());
        let addresses = [
            "5-1@chat.example.com",
            "5-1@CHAT.Example.com",
            "5-1@localhost",
            "5-1@alias.example.com",
            "5-1@chat.example.com/res",
            "5-1@chat.example.com/",
            "5-1@muc.chat.example.com",
            "5-1@elsewhere.org",
            "5-1@chat.example.com.",
            "0-1@chat.example.com",
            "+5-1@chat.example.com",
            "5-1-2@chat.example.com",
            "-1@chat.example.com",
            "5-@chat.example.com",
            "@chat.example.com",
            "5-1@",
            "5-1@@chat.example.com",
            "99999999999999999999-1@chat.example.com",
            "\u{ff15}-1@chat.example.com",
            "5-1@chat.example.com@x",
        ];
        for address in addresses {
            assert_eq!(classify(address, &c), classify_jid(address, &c), "{address}");
        }
        let taken = addresses
            .iter()
            .filter(|a| user_of_this_domain(a, &c).is_some())
            .count();
        assert_eq!(taken, 4, "the first four are the shortcut's");
    }

    #[test]
    fn error_replies_carry_code_text_and_the_original_id() {
        let mut message = xml::element("message", ns::CLIENT);
        xml::set_attr(&mut message, "id", "m1");
        xml::set_attr(&mut message, "from", "5-1@d/r");
        xml::set_attr(&mut message, "to", "6-1@d");
        message.append_child(xml::with_text(xml::element("body", ns::CLIENT), "hi"));
        let reply = error_reply(&message, Condition::ItemNotFound, "No such user");
        let text = xml::to_string(&reply).replace('\'', "\"");
        assert!(text.contains(r#"type="error""#), "{text}");
        assert!(
            text.contains(r#"id="m1""#)
                && text.contains(r#"to="5-1@d/r""#)
                && text.contains(r#"from="6-1@d""#)
        );
        assert!(text.contains(r#"code="404""#) && text.contains("<item-not-found"));
        assert!(text.contains(">No such user</text>"));
        assert!(text.contains("<body>hi</body>"));
    }
}
