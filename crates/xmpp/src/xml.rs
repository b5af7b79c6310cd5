//! Stanzas are minidom `Element`s. These helpers keep building and reading them short.

pub use minidom::Element;

/// An empty element `<name xmlns="ns"/>`.
pub fn element(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

/// Sets (or replaces) an un-namespaced attribute. Attribute names here are static and valid.
pub fn set_attr(element: &mut Element, name: &str, value: impl Into<String>) {
    let name: rxml::NcName = name
        .try_into()
        .expect("attribute names used by the server are valid NCNames");
    let value: String = value.into();
    match element.attrs_mut().get_mut(&rxml::Namespace::NONE, &name) {
        Some(existing) => *existing = value,
        None => {
            element.attrs_mut().insert(rxml::Namespace::NONE, name, value);
        }
    }
}

/// Removes an un-namespaced attribute.
pub fn remove_attr(element: &mut Element, name: &str) {
    if let Ok(name) = rxml::NcName::try_from(name) {
        element.attrs_mut().remove(&rxml::Namespace::NONE, &name);
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
    element.append_text(text.into());
    element
}

/// Compact serialization: no declaration, no whitespace between elements (the SDKs' WebSocket parser
/// rejects any text between top-level elements).
pub fn to_string(element: &Element) -> String {
    let mut out = Vec::new();
    element.write_to(&mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("minidom writes UTF-8")
}
