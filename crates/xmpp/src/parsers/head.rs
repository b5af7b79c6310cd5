//! What the three stanza kinds share: the addresses and id as written, every other attribute kept as it
//! came, and the children in order. Reading a stanza moves its parts out of the element and writing it
//! moves them back: no copy, and nothing the server does not understand is lost on the way through.

use crate::ns;
use crate::xml::{self, Element};
use minidom::rxml::{AttrMap, Namespace};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Head {
    pub from: Option<String>,
    pub to: Option<String>,
    pub id: Option<String>,
    /// Every other attribute (`xml:lang`, anything a client adds), untouched.
    pub attrs: AttrMap,
}

/// Why an element is not the stanza a parser was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("expected <{0}/> in its namespace")]
    WrongElement(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
}

impl Head {
    /// Takes the head, the `type` as written and the children out of `element`, which must be
    /// `<{name} xmlns="jabber:client">`.
    pub fn take(
        mut element: Element,
        name: &'static str,
    ) -> Result<(Head, Option<String>, Vec<Element>), ParseError> {
        if element.name() != name || !element.has_ns(ns::CLIENT) {
            return Err(ParseError::WrongElement(name));
        }
        // One walk over the attributes, which a stanza has few of: four searches of the attribute map
        // (each comparing names along two levels of trees) cost more.
        let mut head = Head::default();
        let mut type_ = None;
        for ((namespace, name), value) in std::mem::take(element.attrs_mut()) {
            let slot = match (namespace == Namespace::NONE, name.as_str()) {
                (true, "from") => &mut head.from,
                (true, "to") => &mut head.to,
                (true, "id") => &mut head.id,
                (true, "type") => &mut type_,
                _ => {
                    head.attrs.insert(namespace, name, value);
                    continue;
                }
            };
            *slot = Some(value);
        }
        let children = element.take_contents_as_children().collect();
        Ok((head, type_, children))
    }

    /// Builds `<{name} xmlns="jabber:client">` with this head, type and children.
    pub fn build(self, name: &str, type_: Option<&str>, children: Vec<Element>) -> Element {
        let mut element = Element::bare(name, ns::CLIENT);
        *element.attrs_mut() = self.attrs;
        let type_ = type_.map(str::to_owned);
        for (attr, value) in [
            ("from", self.from),
            ("to", self.to),
            ("id", self.id),
            ("type", type_),
        ] {
            if let Some(value) = value {
                xml::set_attr(&mut element, attr, value);
            }
        }
        for child in children {
            element.append_child(child);
        }
        element
    }

    /// The head of a reply: same id, addresses swapped, nothing else.
    pub fn reply(&self) -> Head {
        Head {
            from: self.to.clone(),
            to: self.from.clone(),
            id: self.id.clone(),
            attrs: AttrMap::default(),
        }
    }
}

/// What the three stanza kinds share, for the code that answers any of them (error replies).
pub trait Stanza {
    /// `message`, `presence` or `iq`.
    const NAME: &'static str;
    fn head(&self) -> &Head;
    fn payloads(&self) -> &[Element];
}

impl Stanza for super::Message {
    const NAME: &'static str = "message";
    fn head(&self) -> &Head {
        &self.head
    }
    fn payloads(&self) -> &[Element] {
        &self.payloads
    }
}

impl Stanza for super::Presence {
    const NAME: &'static str = "presence";
    fn head(&self) -> &Head {
        &self.head
    }
    fn payloads(&self) -> &[Element] {
        &self.payloads
    }
}

impl Stanza for super::Iq {
    const NAME: &'static str = "iq";
    fn head(&self) -> &Head {
        &self.head
    }
    fn payloads(&self) -> &[Element] {
        &self.payloads
    }
}
