//! ConnectyCube's status streaming: `<subscribe xmlns="https://connectycube.com/protocol/status_streaming"
//! user_jid="…" enable="…"/>` asks to be pushed a user's changes between online and offline.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub user_jid: Option<String>,
    /// Anything but `enable="false"` subscribes.
    pub enable: bool,
}

impl TryFrom<Element> for Subscribe {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Subscribe, ParseError> {
        if !element.is("subscribe", ns::STATUS_STREAMING) {
            return Err(ParseError::WrongElement("subscribe"));
        }
        Ok(Subscribe {
            user_jid: element.attr("user_jid").map(str::to_owned),
            enable: element.attr("enable") != Some("false"),
        })
    }
}

impl From<Subscribe> for Element {
    fn from(subscribe: Subscribe) -> Element {
        let mut element = xml::element("subscribe", ns::STATUS_STREAMING);
        if let Some(jid) = subscribe.user_jid {
            xml::set_attr(&mut element, "user_jid", jid);
        }
        xml::set_attr(&mut element, "enable", subscribe.enable.to_string());
        element
    }
}
