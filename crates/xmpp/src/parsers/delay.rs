//! XEP-0203 delayed delivery, on messages kept offline. Written here rather than with xmpp-parsers'
//! `Delay`, whose stamp is a parsed date: the server writes its own ISO 8601 text and reads the element
//! only to see whether a message already has one.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    pub from: Option<String>,
    pub stamp: String,
}

impl TryFrom<Element> for Delay {
    type Error = ParseError;

    fn try_from(delay: Element) -> Result<Delay, ParseError> {
        if !delay.is("delay", ns::DELAY) {
            return Err(ParseError::WrongElement("delay"));
        }
        Ok(Delay {
            from: delay.attr("from").map(str::to_owned),
            stamp: delay
                .attr("stamp")
                .ok_or(ParseError::Invalid("a delay needs a stamp"))?
                .to_owned(),
        })
    }
}

impl From<Delay> for Element {
    fn from(delay: Delay) -> Element {
        let mut element = xml::element("delay", ns::DELAY);
        if let Some(from) = delay.from {
            xml::set_attr(&mut element, "from", from);
        }
        xml::set_attr(&mut element, "stamp", delay.stamp);
        element
    }
}

/// Whether a message element already carries a delay.
pub fn has_delay(message: &Element) -> bool {
    message.get_child("delay", ns::DELAY).is_some()
}
