//! ConnectyCube's reactions: `<reactions user_id="…" message_id="…">` with `<reaction add="true"
//! type="…"/>` and `<reaction remove="true" type="…"/>`, in `jabber:client`.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reactions {
    pub user_id: String,
    pub message_id: String,
    pub add: Option<String>,
    pub remove: Option<String>,
}

impl TryFrom<Element> for Reactions {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Reactions, ParseError> {
        if element.name() != "reactions" {
            return Err(ParseError::WrongElement("reactions"));
        }
        let reaction = |flag: &str| {
            element
                .children()
                .filter(|c| c.name() == "reaction" && c.attr(flag) == Some("true"))
                .find_map(|c| c.attr("type"))
                .map(str::to_owned)
        };
        Ok(Reactions {
            user_id: element.attr("user_id").unwrap_or_default().to_owned(),
            message_id: element.attr("message_id").unwrap_or_default().to_owned(),
            add: reaction("add"),
            remove: reaction("remove"),
        })
    }
}

impl From<Reactions> for Element {
    fn from(reactions: Reactions) -> Element {
        let mut element = xml::element("reactions", ns::CLIENT);
        xml::set_attr(&mut element, "user_id", reactions.user_id);
        xml::set_attr(&mut element, "message_id", reactions.message_id);
        for (flag, reaction) in [("add", reactions.add), ("remove", reactions.remove)] {
            if let Some(reaction) = reaction {
                let mut child = xml::with_attr(xml::element("reaction", ns::CLIENT), flag, "true");
                xml::set_attr(&mut child, "type", reaction);
                element.append_child(child);
            }
        }
        element
    }
}
