//! Tigase's `<mobile xmlns="http://tigase.org/protocol/mobile#v2" enable="…"/>`, which ConnectyCube's
//! markInactive() sends with `enable="true"` and markActive() with `enable="false"`
//! (docs/protocol.md#quirk-mobile-enable-inverted).

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mobile {
    /// True: the client went to the background (counts as inactive).
    pub enable: bool,
}

impl TryFrom<Element> for Mobile {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Mobile, ParseError> {
        if !element.is("mobile", ns::MOBILE) {
            return Err(ParseError::WrongElement("mobile"));
        }
        Ok(Mobile {
            enable: element.attr("enable") == Some("true"),
        })
    }
}

impl From<Mobile> for Element {
    fn from(mobile: Mobile) -> Element {
        xml::with_attr(
            xml::element("mobile", ns::MOBILE),
            "enable",
            mobile.enable.to_string(),
        )
    }
}
