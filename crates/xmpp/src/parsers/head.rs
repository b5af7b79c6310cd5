//! What the three stanza kinds share: the addresses and id as written, every attribute kept as it came,
//! and the children in order. Reading a stanza moves its parts out of the element and writing it moves
//! them back, changing only the attributes that changed: nothing the server does not understand is lost
//! on the way through, and a stanza passed on is not taken apart and put together again.

use crate::ns;
use crate::xml::{self, Element};
use minidom::rxml::{AttrMap, Namespace};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Head {
    pub from: Option<String>,
    pub to: Option<String>,
    pub id: Option<String>,
    /// The attributes as they came (`xml:lang`, anything a client adds, and also `from`, `to`, `id` and
    /// `type`, for which the typed fields are what counts): writing the stanza sets only what differs.
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
        // The attribute map stays whole: emptying it here and filling it again when the stanza was
        // written took 6 % of the server's instructions in 1-1 chat (callgrind), most of them in the
        // map's inserts.
        let attrs = std::mem::take(element.attrs_mut());
        let [from, to, id, type_] = stanza_attrs(&attrs).map(|value| value.cloned());
        let children = element.take_contents_as_children().collect();
        Ok((Head { from, to, id, attrs }, type_, children))
    }

    /// Builds `<{name} xmlns="jabber:client">` with this head, type and children.
    pub fn build(self, name: &str, type_: Option<&str>, children: Vec<Element>) -> Element {
        let mut element = Element::bare(name, ns::CLIENT);
        let mut attrs = self.attrs;
        let values = [
            self.from.as_deref(),
            self.to.as_deref(),
            self.id.as_deref(),
            type_,
        ];
        let written = stanza_attrs(&attrs);
        let changed: [bool; 4] = std::array::from_fn(|i| values[i] != written[i].map(String::as_str));
        for ((attr, value), changed) in xml::STANZA_ATTRIBUTES.into_iter().zip(values).zip(changed) {
            match value {
                _ if !changed => {}
                Some(value) => xml::set_attr_in(&mut attrs, attr, value),
                None => {
                    attrs.remove(&Namespace::NONE, attr);
                }
            }
        }
        *element.attrs_mut() = attrs;
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

/// The values of `xml::STANZA_ATTRIBUTES` (in no namespace, in that order) in `attrs`, in one walk
/// over the map: a stanza has few attributes, and four searches of the map (each comparing namespaces,
/// then names) cost more.
fn stanza_attrs(attrs: &AttrMap) -> [Option<&String>; 4] {
    let mut values = [None; 4];
    for ((namespace, name), value) in attrs {
        let slot = match name.as_str() {
            _ if !namespace.is_none() => continue,
            "from" => 0,
            "to" => 1,
            "id" => 2,
            "type" => 3,
            _ => continue,
        };
        values[slot] = Some(value);
    }
    values
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
