//! Resource binding (RFC 6120 §7): xmpp-parsers' `BindQuery` (the client's `<bind/>`, with a resource it
//! would like), `BindResponse` (the server's `<bind><jid/></bind>`) and `BindFeature`, and RFC 3921's session
//! establishment, which xmpp-parsers lacks: `Session`, the `<session/>` iq payload the legacy SDK sends.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

pub use xmpp_parsers::bind::{BindFeature, BindQuery, BindResponse};

/// `<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/>` (RFC 3921 §3), a no-op the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session;

impl TryFrom<Element> for Session {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Session, ParseError> {
        if !element.is("session", ns::SESSION) {
            return Err(ParseError::WrongElement("session"));
        }
        Ok(Session)
    }
}

impl From<Session> for Element {
    fn from(_: Session) -> Element {
        xml::element("session", ns::SESSION)
    }
}
