//! XEP-0280 message carbons: xmpp-parsers' `Enable`, `Disable` and `Private`, and the sent carbon the
//! server writes. `Sent` wraps the message element as it is, in a `<forwarded/>` (XEP-0297): xmpp-parsers'
//! `Sent` would read the message into its own type first, a second parse of every carbon-copied message.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

pub use xmpp_parsers::carbons::{Disable, Enable, Private};

/// `<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">{message}</forwarded></sent>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message: Element,
}

impl TryFrom<Element> for Sent {
    type Error = ParseError;

    fn try_from(mut sent: Element) -> Result<Sent, ParseError> {
        if !sent.is("sent", ns::CARBONS) {
            return Err(ParseError::WrongElement("sent"));
        }
        let mut forwarded = sent
            .remove_child("forwarded", ns::FORWARD)
            .ok_or(ParseError::Invalid("a carbon needs <forwarded/>"))?;
        let message = forwarded
            .remove_child("message", ns::CLIENT)
            .ok_or(ParseError::Invalid("a carbon needs a message"))?;
        Ok(Sent { message })
    }
}

impl From<Sent> for Element {
    fn from(sent: Sent) -> Element {
        let forwarded = xml::with_child(xml::element("forwarded", ns::FORWARD), sent.message);
        xml::with_child(xml::element("sent", ns::CARBONS), forwarded)
    }
}
