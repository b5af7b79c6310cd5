//! RFC 6121 rosters (`jabber:iq:roster`). Written here rather than with xmpp-parsers' `Roster`, which
//! leaves out `subscription="none"` as the default: the server has always written it, and clients
//! (and the end-to-end tests) read it.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

/// `<query xmlns="jabber:iq:roster">` with its items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster {
    pub items: Vec<Item>,
}

/// `<item jid="…" subscription="…" ask="subscribe" name="…"/>`, attributes as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    pub jid: Option<String>,
    /// `none`, `to`, `from`, `both`, or `remove` in a set or a push.
    pub subscription: Option<String>,
    /// A subscription request is pending (`ask="subscribe"`).
    pub ask: bool,
    pub name: Option<String>,
}

impl TryFrom<Element> for Roster {
    type Error = ParseError;

    fn try_from(query: Element) -> Result<Roster, ParseError> {
        if !query.is("query", ns::ROSTER) {
            return Err(ParseError::WrongElement("query"));
        }
        let items = query
            .children()
            .filter(|c| c.name() == "item")
            .map(|item| Item {
                jid: item.attr("jid").map(str::to_owned),
                subscription: item.attr("subscription").map(str::to_owned),
                ask: item.attr("ask") == Some("subscribe"),
                name: item.attr("name").map(str::to_owned),
            })
            .collect();
        Ok(Roster { items })
    }
}

impl From<Item> for Element {
    fn from(item: Item) -> Element {
        let mut element = xml::element("item", ns::ROSTER);
        if let Some(jid) = item.jid {
            xml::set_attr(&mut element, "jid", jid);
        }
        if let Some(subscription) = item.subscription {
            xml::set_attr(&mut element, "subscription", subscription);
        }
        if item.ask {
            xml::set_attr(&mut element, "ask", "subscribe");
        }
        if let Some(name) = item.name {
            xml::set_attr(&mut element, "name", name);
        }
        element
    }
}

impl From<Roster> for Element {
    fn from(roster: Roster) -> Element {
        let mut query = xml::element("query", ns::ROSTER);
        for item in roster.items {
            query.append_child(item.into());
        }
        query
    }
}

impl Item {
    pub fn is_removal(&self) -> bool {
        self.subscription.as_deref() == Some("remove")
    }
}
