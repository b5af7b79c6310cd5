//! Stanzas are minidom `Element`s. These helpers keep building and reading them short.

use std::sync::LazyLock;

pub use minidom::Element;

/// An empty element `<name xmlns="ns"/>`.
pub fn element(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

/// Sets (or replaces) an un-namespaced attribute. Attribute names here are static and valid.
pub fn set_attr(element: &mut Element, name: &str, value: impl Into<String>) {
    set_attr_in(element.attrs_mut(), name, value);
}

/// `set_attr` on an element's attribute map.
pub fn set_attr_in(attrs: &mut rxml::AttrMap, name: &str, value: impl Into<String>) {
    let name = attribute_name(name);
    let value = xml_chars(value.into());
    // Replaces the value of an attribute of that name: one search of the map, not a lookup and then an
    // insert.
    attrs.insert(rxml::Namespace::NONE, name, value);
}

/// The attributes every stanza kind has, in no namespace.
pub(crate) const STANZA_ATTRIBUTES: [&str; 4] = ["from", "to", "id", "type"];

/// The name as an `NcName`. The four every stanza carries are checked once per process and copied
/// from there: checking a name costs more than copying it, and a 1-1 message sets six.
fn attribute_name(name: &str) -> rxml::NcName {
    static CHECKED: LazyLock<[rxml::NcName; 4]> =
        LazyLock::new(|| STANZA_ATTRIBUTES.map(|name| name.try_into().expect("valid")));
    match CHECKED.iter().find(|known| known.as_str() == name) {
        Some(known) => known.clone(),
        None => name
            .try_into()
            .expect("attribute names used by the server are valid NCNames"),
    }
}

/// Builder-style `set_attr`.
pub fn with_attr(mut element: Element, name: &str, value: impl Into<String>) -> Element {
    set_attr(&mut element, name, value);
    element
}

/// Builder-style child append.
pub fn with_child(mut element: Element, child: Element) -> Element {
    element.append_child(child);
    element
}

/// Builder-style text.
pub fn with_text(mut element: Element, text: impl Into<String>) -> Element {
    element.append_text(xml_chars(text.into()));
    element
}

/// The text without the characters XML 1.0 cannot carry (control characters other than tab, newline and
/// carriage return; U+FFFE, U+FFFF). Text from REST or the database may hold them; written into a stanza
/// they would make it unserializable (the serializer panics), so they are dropped.
pub fn xml_chars(text: String) -> String {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..);
    // Most text has no control character and no EF byte (the first of U+FFFE and U+FFFF, and of other
    // characters near them): that is known without decoding it.
    let doubtful = |byte: u8| (byte < 0x20) | (byte == 0xef);
    if !crate::xml_write::any_byte(text.as_bytes(), doubtful) || text.chars().all(allowed) {
        text
    } else {
        text.chars().filter(|&c| allowed(c)).collect()
    }
}

/// Compact serialization: no declaration, no whitespace between elements (the SDKs' WebSocket parser
/// rejects any text between top-level elements).
pub fn to_string(element: &Element) -> String {
    to_string_all(std::slice::from_ref(element))
}

/// `to_string` of several elements, one after the other, in one buffer (one write to a socket).
pub fn to_string_all(elements: &[Element]) -> String {
    let mut out = String::with_capacity(STANZA_CAPACITY * elements.len());
    for element in elements {
        crate::xml_write::write_element(element, &mut out);
    }
    out
}

/// Room reserved up front for one serialized stanza: a chat message with its extension takes about 300
/// to 400 bytes, and a buffer that starts empty reallocates six or seven times on its way there.
const STANZA_CAPACITY: usize = 512;
