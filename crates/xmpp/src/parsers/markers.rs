//! XEP-0333 chat markers: `<markable/>` on a message, and the `<received id="…"/>` and
//! `<displayed id="…"/>` that answer it. xmpp-parsers 0.23 has no XEP-0333: written here in its style.
//! Read by local name (see `signal.rs`); written in `urn:xmpp:chat-markers:0`.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Markable;

impl TryFrom<Element> for Markable {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Markable, ParseError> {
        if element.is("markable", ns::CHAT_MARKERS) {
            Ok(Markable)
        } else {
            Err(ParseError::WrongElement("markable"))
        }
    }
}

impl From<Markable> for Element {
    fn from(_: Markable) -> Element {
        xml::element("markable", ns::CHAT_MARKERS)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    Received(String),
    Displayed(String),
}

impl Marker {
    /// `displayed` when `read`, else `received`.
    pub fn new(read: bool, id: impl Into<String>) -> Marker {
        if read {
            Marker::Displayed(id.into())
        } else {
            Marker::Received(id.into())
        }
    }
}

impl TryFrom<Element> for Marker {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Marker, ParseError> {
        let id = || {
            element
                .attr("id")
                .map(str::to_owned)
                .ok_or(ParseError::Invalid("a marker needs an id"))
        };
        match element.name() {
            "received" => Ok(Marker::Received(id()?)),
            "displayed" => Ok(Marker::Displayed(id()?)),
            _ => Err(ParseError::WrongElement("received")),
        }
    }
}

impl From<Marker> for Element {
    fn from(marker: Marker) -> Element {
        let (name, id) = match marker {
            Marker::Received(id) => ("received", id),
            Marker::Displayed(id) => ("displayed", id),
        };
        xml::with_attr(xml::element(name, ns::CHAT_MARKERS), "id", id)
    }
}
