//! Legacy SASL (RFC 6120 §6): `<auth>`, `<response>` and `<abort>` the client sends, `<challenge>`,
//! `<success>` and `<failure>` the server writes. Written here rather than xmpp-parsers' `sasl` types:
//! those decode the base64 payload while parsing and take the mechanism as a closed enum, so a payload
//! that is not base64 or a mechanism the server does not know would be a parse error, where RFC 6120 has
//! the server answer `<incorrect-encoding/>` or `<invalid-mechanism/>`. Here the payload stays the text
//! the client wrote (`crate::sasl::decode_payload` reads it, `=` being the empty response) and the
//! mechanism its name. The SASL2 elements (`super::sasl2`) share these shapes in their own namespace.

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

/// `<auth mechanism="PLAIN">base64</auth>`: the mechanism named and the initial response as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub mechanism: Option<String>,
    pub payload: String,
}

impl TryFrom<Element> for Auth {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Auth, ParseError> {
        if !element.is("auth", ns::SASL) {
            return Err(ParseError::WrongElement("auth"));
        }
        Ok(Auth {
            mechanism: element.attr("mechanism").map(str::to_owned),
            payload: element.text(),
        })
    }
}

impl From<Auth> for Element {
    fn from(auth: Auth) -> Element {
        let mut element = xml::element("auth", ns::SASL);
        if let Some(mechanism) = auth.mechanism {
            xml::set_attr(&mut element, "mechanism", mechanism);
        }
        with_payload(element, auth.payload)
    }
}

/// An element whose text is a base64 SASL payload (`<challenge>`, `<response>`),
/// in the namespace it was read from: legacy SASL's or SASL2's. Attributes other than the name are
/// ignored (ConnectyCube's SDK writes `mechanism` on its SASL2 `<response>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub namespace: &'static str,
    pub payload: String,
}

impl Payload {
    /// Reads `<{name} xmlns="{ns::SASL or ns::SASL2}">`.
    pub fn read(element: &Element, name: &'static str) -> Result<Payload, ParseError> {
        let namespace = if element.is(name, ns::SASL) {
            ns::SASL
        } else if element.is(name, ns::SASL2) {
            ns::SASL2
        } else {
            return Err(ParseError::WrongElement(name));
        };
        Ok(Payload {
            namespace,
            payload: element.text(),
        })
    }

    fn write(self, name: &str) -> Element {
        with_payload(xml::element(name, self.namespace), self.payload)
    }
}

fn with_payload(element: Element, payload: String) -> Element {
    if payload.is_empty() {
        element
    } else {
        xml::with_text(element, payload)
    }
}

macro_rules! payload_element {
    ($(#[$doc:meta])* $type:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $type(pub Payload);

        impl TryFrom<Element> for $type {
            type Error = ParseError;

            fn try_from(element: Element) -> Result<$type, ParseError> {
                Payload::read(&element, $name).map($type)
            }
        }

        impl From<$type> for Element {
            fn from(value: $type) -> Element {
                value.0.write($name)
            }
        }
    };
}

payload_element!(
    /// `<challenge>base64</challenge>`, written by the server (legacy SASL or SASL2).
    Challenge,
    "challenge"
);
payload_element!(
    /// `<response>base64</response>`, the client's answer to a challenge (legacy SASL or SASL2).
    Response,
    "response"
);

/// Legacy `<success>base64 additional data</success>` (empty when there is none); SASL2's is
/// `super::sasl2::Success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    pub additional_data: String,
}

impl TryFrom<Element> for Success {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Success, ParseError> {
        if !element.is("success", ns::SASL) {
            return Err(ParseError::WrongElement("success"));
        }
        Ok(Success {
            additional_data: element.text(),
        })
    }
}

impl From<Success> for Element {
    fn from(success: Success) -> Element {
        with_payload(xml::element("success", ns::SASL), success.additional_data)
    }
}

/// `<abort/>` (legacy SASL or SASL2): the client gives up the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    pub namespace: &'static str,
}

impl TryFrom<Element> for Abort {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Abort, ParseError> {
        Payload::read(&element, "abort").map(|payload| Abort {
            namespace: payload.namespace,
        })
    }
}

impl From<Abort> for Element {
    fn from(abort: Abort) -> Element {
        xml::element("abort", abort.namespace)
    }
}

/// `<failure><{condition} xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/><text>…</text></failure>`, in legacy
/// SASL's namespace or SASL2's (whose failure carries the same condition in the legacy namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub namespace: &'static str,
    pub condition: String,
    pub text: Option<String>,
}

impl TryFrom<Element> for Failure {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Failure, ParseError> {
        let Payload { namespace, .. } = Payload::read(&element, "failure")?;
        let condition = element
            .children()
            .find(|child| child.has_ns(ns::SASL) && child.name() != "text")
            .ok_or(ParseError::Invalid("a SASL failure needs a condition"))?
            .name()
            .to_owned();
        let text = element.get_child("text", namespace).map(Element::text);
        Ok(Failure {
            namespace,
            condition,
            text,
        })
    }
}

impl From<Failure> for Element {
    fn from(failure: Failure) -> Element {
        let mut element = xml::element("failure", failure.namespace);
        element.append_child(xml::element(&failure.condition, ns::SASL));
        if let Some(text) = failure.text {
            element.append_child(xml::with_text(xml::element("text", failure.namespace), text));
        }
        element
    }
}
