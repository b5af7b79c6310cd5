//! XEP-0016 privacy lists (`jabber:iq:privacy`) as ConnectyCube profiles them
//! (docs/protocol.md#xmpp-privacy-lists). xmpp-parsers has no XEP-0016: written here in its style.
//! The query's children are kept as the client wrote them, unknown ones included, so the module can
//! refuse what it does not support with the same errors as before; `Item::to_core` is the one place an
//! item becomes core's `PrivacyItem`.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};
use palaver_core::privacy::{Action, PrivacyItem, PrivacyList, Stanzas};

/// `<query xmlns="jabber:iq:privacy">`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub children: Vec<QueryChild>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryChild {
    /// `<active name="…"/>`; no name declines.
    Active(Option<String>),
    /// `<default name="…"/>`; no name declines.
    Default(Option<String>),
    List(List),
    /// Any other child, by its local name.
    Other(String),
}

/// `<list name="…">` with its items.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    pub name: Option<String>,
    pub items: Vec<Item>,
}

/// `<item type="…" value="…" action="…" order="…">` with the stanza kinds it covers, as written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item {
    pub type_: Option<String>,
    pub value: Option<String>,
    pub action: Option<String>,
    pub order: Option<String>,
    /// The local names of the item's children (`message`, `iq`, `presence-in`, `presence-out`).
    pub stanzas: Vec<String>,
}

/// Why an item cannot be stored; the module answers each with its own condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemError {
    JidWithoutValue,
    UnsupportedType,
    UnknownType,
    NoAction,
    NoOrder,
}

fn name_attr(element: &Element) -> Option<String> {
    element.attr("name").filter(|n| !n.is_empty()).map(str::to_owned)
}

impl TryFrom<Element> for Query {
    type Error = ParseError;

    fn try_from(query: Element) -> Result<Query, ParseError> {
        if !query.is("query", ns::PRIVACY) {
            return Err(ParseError::WrongElement("query"));
        }
        let children = query
            .children()
            .map(|child| match child.name() {
                "active" => QueryChild::Active(name_attr(child)),
                "default" => QueryChild::Default(name_attr(child)),
                "list" => QueryChild::List(List::from_element(child)),
                other => QueryChild::Other(other.to_owned()),
            })
            .collect();
        Ok(Query { children })
    }
}

impl From<Query> for Element {
    fn from(query: Query) -> Element {
        let mut element = xml::element("query", ns::PRIVACY);
        for child in query.children {
            element.append_child(match child {
                QueryChild::Active(name) => named("active", name),
                QueryChild::Default(name) => named("default", name),
                QueryChild::List(list) => list.into(),
                QueryChild::Other(name) => xml::element(&name, ns::PRIVACY),
            });
        }
        element
    }
}

fn named(element: &str, name: Option<String>) -> Element {
    let mut element = xml::element(element, ns::PRIVACY);
    if let Some(name) = name {
        xml::set_attr(&mut element, "name", name);
    }
    element
}

impl List {
    fn from_element(list: &Element) -> List {
        List {
            name: name_attr(list),
            items: list
                .children()
                .filter(|c| c.name() == "item")
                .map(|item| Item {
                    type_: item.attr("type").map(str::to_owned),
                    value: item.attr("value").map(str::to_owned),
                    action: item.attr("action").map(str::to_owned),
                    order: item.attr("order").map(str::to_owned),
                    stanzas: item.children().map(|c| c.name().to_owned()).collect(),
                })
                .collect(),
        }
    }

    /// A stored list as the server answers it.
    pub fn of(list: &PrivacyList) -> List {
        List {
            name: Some(list.name.clone()),
            items: list
                .items
                .iter()
                .map(|item| Item {
                    type_: item.value.as_ref().map(|_| "jid".to_owned()),
                    value: item.value.clone(),
                    action: Some(item.action.as_str().to_owned()),
                    order: Some(item.order.to_string()),
                    stanzas: item.stanzas.names().map(str::to_owned).collect(),
                })
                .collect(),
        }
    }
}

impl From<List> for Element {
    fn from(list: List) -> Element {
        let mut element = named("list", list.name);
        for item in list.items {
            let mut entry = xml::element("item", ns::PRIVACY);
            for (attr, value) in [
                ("type", item.type_),
                ("value", item.value),
                ("action", item.action),
                ("order", item.order),
            ] {
                if let Some(value) = value {
                    xml::set_attr(&mut entry, attr, value);
                }
            }
            for kind in item.stanzas {
                entry.append_child(xml::element(&kind, ns::PRIVACY));
            }
            element.append_child(entry);
        }
        element
    }
}

impl Item {
    /// The item as core stores it: jid items and items without a type only.
    pub fn to_core(&self) -> Result<PrivacyItem, ItemError> {
        let value = match self.type_.as_deref() {
            None => None,
            Some("jid") => match self.value.as_deref() {
                Some(value) if !value.is_empty() => Some(value.to_owned()),
                _ => return Err(ItemError::JidWithoutValue),
            },
            Some("group" | "subscription") => return Err(ItemError::UnsupportedType),
            Some(_) => return Err(ItemError::UnknownType),
        };
        let action = self
            .action
            .as_deref()
            .and_then(Action::parse)
            .ok_or(ItemError::NoAction)?;
        let order = self
            .order
            .as_deref()
            .and_then(|o| o.trim().parse::<u32>().ok())
            .ok_or(ItemError::NoOrder)?;
        let stanzas = self
            .stanzas
            .iter()
            .filter_map(|name| Stanzas::from_name(name))
            .fold(Stanzas::EVERYTHING, Stanzas::with);
        Ok(PrivacyItem {
            order: order as i64,
            value,
            action,
            stanzas,
        })
    }
}
