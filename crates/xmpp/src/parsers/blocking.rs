//! XEP-0191 blocking command (`urn:xmpp:blocking`), on the privacy lists. Written by hand: xmpp-parsers
//! parses every item as a JID and would refuse a request the server has always taken (an empty or odd
//! `jid` is skipped, not an error).

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocking {
    /// `<blocklist/>`: a request for the list, or (with items) the answer.
    Blocklist(Vec<String>),
    /// `<block>` with the JIDs to block.
    Block(Vec<String>),
    /// `<unblock>` with the JIDs to unblock; none unblocks everything.
    Unblock(Vec<String>),
}

impl TryFrom<Element> for Blocking {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Blocking, ParseError> {
        if !element.has_ns(ns::BLOCKING) {
            return Err(ParseError::WrongElement("blocklist"));
        }
        let jids = element
            .children()
            .filter(|c| c.name() == "item")
            .filter_map(|c| c.attr("jid"))
            .filter(|j| !j.is_empty())
            .map(str::to_owned)
            .collect();
        match element.name() {
            "blocklist" => Ok(Blocking::Blocklist(jids)),
            "block" => Ok(Blocking::Block(jids)),
            "unblock" => Ok(Blocking::Unblock(jids)),
            _ => Err(ParseError::WrongElement("blocklist")),
        }
    }
}

impl From<Blocking> for Element {
    fn from(blocking: Blocking) -> Element {
        let (name, jids) = match blocking {
            Blocking::Blocklist(jids) => ("blocklist", jids),
            Blocking::Block(jids) => ("block", jids),
            Blocking::Unblock(jids) => ("unblock", jids),
        };
        let mut element = xml::element(name, ns::BLOCKING);
        for jid in jids {
            element.append_child(xml::with_attr(xml::element("item", ns::BLOCKING), "jid", jid));
        }
        element
    }
}
