//! XEP-0012 last activity (`<query xmlns="jabber:iq:last" seconds="…"/>`). xmpp-parsers has no XEP-0012:
//! written here in its style.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LastQuery {
    /// None in a request; the idle time in an answer (never negative).
    pub seconds: Option<u64>,
}

impl TryFrom<Element> for LastQuery {
    type Error = ParseError;

    fn try_from(query: Element) -> Result<LastQuery, ParseError> {
        if !query.is("query", ns::LAST) {
            return Err(ParseError::WrongElement("query"));
        }
        let seconds = match query.attr("seconds") {
            None => None,
            Some(seconds) => Some(
                seconds
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::Invalid("seconds must be a number"))?,
            ),
        };
        Ok(LastQuery { seconds })
    }
}

impl From<LastQuery> for Element {
    fn from(query: LastQuery) -> Element {
        let mut element = xml::element("query", ns::LAST);
        if let Some(seconds) = query.seconds {
            xml::set_attr(&mut element, "seconds", seconds.to_string());
        }
        element
    }
}

impl LastQuery {
    pub fn answer(seconds: i64) -> LastQuery {
        LastQuery {
            seconds: Some(seconds.max(0) as u64),
        }
    }
}
