//! XEP-0045 as the SDKs use it: the join request (`<x xmlns="http://jabber.org/protocol/muc"/>`,
//! xmpp-parsers' `Muc`) and the `muc#user` extension of room presences. The latter is written here:
//! v6 reads statuses from a non-standard `<xmlns><code>…</code></xmlns>` child
//! (docs/protocol.md#quirk-muc-status-shim) that xmpp-parsers' `MucUser` has no place for.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

pub use xmpp_parsers::muc::Muc;

/// `<x xmlns="http://jabber.org/protocol/muc#user">`: items, then status codes, then the v6 shim of each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MucUser {
    pub items: Vec<MucItem>,
    pub statuses: Vec<u16>,
    /// Status codes repeated in v6's `<xmlns><code>…</code></xmlns>`.
    pub shims: Vec<u16>,
}

/// `<item affiliation="…" role="…">`, with the `<actor jid="…"/>` of a kick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MucItem {
    pub affiliation: String,
    pub role: String,
    pub actor: Option<String>,
}

impl MucItem {
    pub fn new(affiliation: &str, role: &str) -> MucItem {
        MucItem {
            affiliation: affiliation.to_owned(),
            role: role.to_owned(),
            actor: None,
        }
    }

    /// The item in a namespace of choice: a kick also carries it directly under `<presence>`, in
    /// `jabber:client`, where v6 reads the actor.
    pub fn to_element(&self, namespace: &str) -> Element {
        let mut item = xml::element("item", namespace);
        xml::set_attr(&mut item, "affiliation", self.affiliation.clone());
        xml::set_attr(&mut item, "role", self.role.clone());
        if let Some(actor) = &self.actor {
            item.append_child(xml::with_attr(
                xml::element("actor", namespace),
                "jid",
                actor.clone(),
            ));
        }
        item
    }

    fn from_element(item: &Element) -> MucItem {
        MucItem {
            affiliation: item.attr("affiliation").unwrap_or_default().to_owned(),
            role: item.attr("role").unwrap_or_default().to_owned(),
            actor: item
                .children()
                .find(|c| c.name() == "actor")
                .and_then(|a| a.attr("jid"))
                .map(str::to_owned),
        }
    }
}

impl TryFrom<Element> for MucItem {
    type Error = ParseError;

    fn try_from(item: Element) -> Result<MucItem, ParseError> {
        if item.name() != "item" {
            return Err(ParseError::WrongElement("item"));
        }
        Ok(MucItem::from_element(&item))
    }
}

impl From<MucItem> for Element {
    fn from(item: MucItem) -> Element {
        item.to_element(ns::MUC_USER)
    }
}

fn code(element: &Element) -> Option<u16> {
    element.attr("code").and_then(|c| c.parse().ok())
}

impl TryFrom<Element> for MucUser {
    type Error = ParseError;

    fn try_from(x: Element) -> Result<MucUser, ParseError> {
        if !x.is("x", ns::MUC_USER) {
            return Err(ParseError::WrongElement("x"));
        }
        let mut user = MucUser::default();
        for child in x.children() {
            match child.name() {
                "item" => user.items.push(MucItem::from_element(child)),
                "status" => user.statuses.extend(code(child)),
                "xmlns" => user.shims.extend(
                    child
                        .children()
                        .filter(|c| c.name() == "code")
                        .filter_map(|c| c.text().parse::<u16>().ok()),
                ),
                _ => {}
            }
        }
        Ok(user)
    }
}

impl From<MucUser> for Element {
    fn from(user: MucUser) -> Element {
        let mut x = xml::element("x", ns::MUC_USER);
        for item in user.items {
            x.append_child(item.into());
        }
        for status in user.statuses {
            x.append_child(xml::with_attr(
                xml::element("status", ns::MUC_USER),
                "code",
                status.to_string(),
            ));
        }
        for shim in user.shims {
            x.append_child(xml::with_child(
                xml::element("xmlns", ns::MUC_USER),
                xml::with_text(xml::element("code", ns::MUC_USER), shim.to_string()),
            ));
        }
        x
    }
}

impl MucUser {
    /// One item with a status code and its v6 shim (a self-presence or a kick).
    pub fn with_status(item: MucItem, status: u16) -> MucUser {
        MucUser {
            items: vec![item],
            statuses: vec![status],
            shims: vec![status],
        }
    }

    /// One item, no status (another occupant's presence: v3 reads any status as its own).
    pub fn item(item: MucItem) -> MucUser {
        MucUser {
            items: vec![item],
            ..MucUser::default()
        }
    }
}
