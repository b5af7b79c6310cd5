//! XEP-0308 last message correction (`<replace id="…"/>`) and ConnectyCube's delete for everyone
//! (`<remove xmlns="urn:xmpp:message-delete:0" id="…"/>`). Written here: xmpp-parsers' `Replace` drops the
//! `last="true"` the SDKs are sent, and has no delete.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub id: String,
    pub last: bool,
}

impl TryFrom<Element> for Replace {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Replace, ParseError> {
        if element.name() != "replace" {
            return Err(ParseError::WrongElement("replace"));
        }
        Ok(Replace {
            id: element.attr("id").unwrap_or_default().to_owned(),
            last: element.attr("last") == Some("true"),
        })
    }
}

impl From<Replace> for Element {
    fn from(replace: Replace) -> Element {
        let mut element = xml::with_attr(xml::element("replace", ns::CORRECTION), "id", replace.id);
        if replace.last {
            xml::set_attr(&mut element, "last", "true");
        }
        element
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remove {
    pub id: String,
}

impl TryFrom<Element> for Remove {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Remove, ParseError> {
        if element.name() != "remove" {
            return Err(ParseError::WrongElement("remove"));
        }
        Ok(Remove {
            id: element.attr("id").unwrap_or_default().to_owned(),
        })
    }
}

impl From<Remove> for Element {
    fn from(remove: Remove) -> Element {
        xml::with_attr(xml::element("remove", ns::MESSAGE_DELETE), "id", remove.id)
    }
}
