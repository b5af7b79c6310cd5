//! ConnectyCube's `<extraParams xmlns="jabber:client">` ⇄ JSON (docs/protocol.md#custom-parameters):
//! leaves are strings, nested elements objects, `<attachment/>` elements the `attachments` array.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};
use serde_json::{Map, Value};

/// Keys that are message fields or delivery flags rather than custom parameters.
pub const RESERVED: [&str; 10] = [
    "save_to_history",
    "dialog_id",
    "date_sent",
    "attachments",
    "send_to_chat",
    "markable",
    "silent",
    "moduleIdentifier",
    "chat_dialog_id",
    "recipient_id",
];

/// ConnectyCube's `<extraParams>` as an element of its own: what a message carries, read and written
/// by the functions below.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraParams(pub Element);

impl TryFrom<Element> for ExtraParams {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<ExtraParams, ParseError> {
        if is_extra_params(&element) {
            Ok(ExtraParams(element))
        } else {
            Err(ParseError::WrongElement("extraParams"))
        }
    }
}

impl From<ExtraParams> for Element {
    fn from(extra: ExtraParams) -> Element {
        extra.0
    }
}

impl ExtraParams {
    /// Built from JSON (see `from_json`).
    pub fn from_json(params: &Map<String, Value>, attachments: &Value) -> ExtraParams {
        ExtraParams(from_json(params, attachments))
    }

    pub fn value(&self, name: &str) -> Option<String> {
        value(&self.0, name)
    }

    pub fn to_json(&self) -> (Vec<Value>, Map<String, Value>) {
        to_json(&self.0)
    }
}

/// Whether a message's child is its `extraParams` (matched by local name, as the SDKs do).
pub fn is_extra_params(child: &Element) -> bool {
    child.name() == "extraParams"
}

/// An empty `<extraParams/>`.
pub fn empty() -> Element {
    xml::element("extraParams", ns::CLIENT)
}

/// The `extraParams` child of a message element, if any.
pub fn find(message: &Element) -> Option<&Element> {
    message.children().find(|c| is_extra_params(c))
}

/// A leaf's text, if the element has a child of that name.
pub fn value(extra: &Element, name: &str) -> Option<String> {
    extra.children().find(|c| c.name() == name).map(|c| c.text())
}

/// (attachments, every other parameter) as JSON. Empty leaves are dropped, as the SDKs drop them, and so
/// are elements with nothing but empty leaves below them (their JSON would come back as an empty leaf).
pub fn to_json(extra: &Element) -> (Vec<Value>, Map<String, Value>) {
    let mut attachments = Vec::new();
    let mut params = Map::new();
    for child in extra.children() {
        if child.name() == "attachment" {
            let object: Map<String, Value> = child
                .attrs()
                .iter()
                .map(|((_, name), value)| (name.to_string(), Value::String(value.clone())))
                .collect();
            attachments.push(Value::Object(object));
        } else if let Some(value) = element_value(child) {
            params.insert(child.name().to_owned(), value);
        }
    }
    (attachments, params)
}

fn element_value(element: &Element) -> Option<Value> {
    if element.children().next().is_some() {
        let object: Map<String, Value> = element
            .children()
            .filter_map(|c| element_value(c).map(|v| (c.name().to_owned(), v)))
            .collect();
        return (!object.is_empty()).then_some(Value::Object(object));
    }
    let text = element.text();
    (!text.is_empty()).then_some(Value::String(text))
}

/// Builds `<extraParams>` from JSON parameters (objects nest, scalars become text) and attachments.
/// Non-attachment arrays have no XML form (docs/protocol.md#custom-parameters) and are left out.
pub fn from_json(params: &Map<String, Value>, attachments: &Value) -> Element {
    let mut extra = xml::element("extraParams", ns::CLIENT);
    append_json(&mut extra, params);
    if let Value::Array(items) = attachments {
        for item in items {
            let mut attachment = xml::element("attachment", ns::CLIENT);
            if let Value::Object(fields) = item {
                // `xmlns` is a name but not an attribute: written out it would declare the element's
                // namespace.
                for (key, value) in fields.iter().filter(|(key, _)| key.as_str() != "xmlns") {
                    if let (Ok(_), Some(text)) = (rxml::NcName::try_from(key.as_str()), scalar(value)) {
                        xml::set_attr(&mut attachment, key, text);
                    }
                }
            }
            extra.append_child(attachment);
        }
    }
    extra
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn append_json(parent: &mut Element, params: &Map<String, Value>) {
    for (key, value) in params {
        if rxml::NcName::try_from(key.as_str()).is_err() {
            continue;
        }
        match value {
            Value::Object(inner) => {
                let mut child = xml::element(key, ns::CLIENT);
                append_json(&mut child, inner);
                parent.append_child(child);
            }
            other => {
                // Empty once what XML cannot carry is dropped (a value of control characters): no leaf,
                // as for an empty value; an element holding empty text would not read back the same.
                if let Some(text) = scalar(other).map(xml::xml_chars).filter(|t| !t.is_empty()) {
                    let mut leaf = xml::element(key, ns::CLIENT);
                    leaf.append_text(text);
                    parent.append_child(leaf);
                }
            }
        }
    }
}

/// The custom parameters among all of them.
pub fn custom(params: Map<String, Value>) -> Map<String, Value> {
    params
        .into_iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .collect()
}

/// Sets `<name>value</name>` unless the element already has that child.
pub fn ensure_value(extra: &mut Element, name: &str, value: &str) {
    if extra.children().any(|c| c.name() == name) {
        return;
    }
    extra.append_child(xml::with_text(xml::element(name, ns::CLIENT), value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_with_only_empty_leaves_below_are_dropped_like_empty_leaves() {
        let extra: Element =
            r#"<extraParams xmlns="jabber:client"><a><b/><c><d/></c></a><e>1</e></extraParams>"#
                .parse()
                .unwrap();
        let (_, params) = to_json(&extra);
        assert_eq!(Value::Object(params.clone()), serde_json::json!({"e": "1"}));
        assert_eq!(to_json(&from_json(&params, &Value::Null)).1, params);
    }

    #[test]
    fn converts_the_sdk_shape() {
        let extra: Element = r#"<extraParams xmlns="jabber:client"><save_to_history>1</save_to_history><dialog_id>D1</dialog_id><attachment type="image" uid="763ef825ad87" size="12"/><nested><a>1</a><b><c>x</c></b></nested><empty/></extraParams>"#
            .parse()
            .unwrap();
        let (attachments, params) = to_json(&extra);
        assert_eq!(
            Value::Array(attachments),
            serde_json::json!([{"type":"image","uid":"763ef825ad87","size":"12"}])
        );
        assert_eq!(params["nested"], serde_json::json!({"a":"1","b":{"c":"x"}}));
        assert!(!params.contains_key("empty"));
        let custom = custom(params);
        assert_eq!(
            Value::Object(custom),
            serde_json::json!({"nested":{"a":"1","b":{"c":"x"}}})
        );
        assert_eq!(value(&extra, "dialog_id").as_deref(), Some("D1"));
    }

    #[test]
    fn json_round_trips_through_extra_params() {
        let params =
            serde_json::json!({"dialog_id":"D1","n":5,"nested":{"a":"1","b":{"c":true}},"list":[1,2]});
        let attachments = serde_json::json!([{"type":"image","uid":"u1","size":12}]);
        let extra = from_json(params.as_object().unwrap(), &attachments);
        let (back_attachments, back) = to_json(&extra);
        assert_eq!(
            Value::Array(back_attachments),
            serde_json::json!([{"type":"image","uid":"u1","size":"12"}])
        );
        assert_eq!(
            Value::Object(back),
            serde_json::json!({"dialog_id":"D1","n":"5","nested":{"a":"1","b":{"c":"true"}}})
        );
    }

    #[test]
    fn an_attachment_field_named_xmlns_is_left_out() {
        let attachments = serde_json::json!([{"id":"1","xmlns":"other"}]);
        let extra = from_json(&Map::new(), &attachments);
        let attachment = extra.children().next().unwrap();
        assert_eq!(attachment.ns(), ns::CLIENT);
        assert_eq!(attachment.attr("xmlns"), None);
        // Written out and read again, it is the same element.
        let again: Element = crate::xml::to_string(&extra).parse().unwrap();
        assert_eq!(again, extra);
        assert_eq!(Value::Array(to_json(&again).0), serde_json::json!([{"id":"1"}]));
    }

    #[test]
    fn ensure_adds_missing_values_only() {
        let mut message: super::super::message::Message =
            r#"<message xmlns="jabber:client"><body>hi</body></message>"#
                .parse::<Element>()
                .unwrap()
                .try_into()
                .unwrap();
        let extra = message.extra_params_mut();
        ensure_value(extra, "dialog_id", "D2");
        ensure_value(extra, "dialog_id", "D3");
        assert_eq!(
            xml::to_string(&Element::from(message)),
            "<message xmlns='jabber:client'><body>hi</body><extraParams><dialog_id>D2</dialog_id></extraParams></message>"
        );
    }
}
