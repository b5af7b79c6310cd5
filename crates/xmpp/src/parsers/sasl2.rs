//! SASL2 (XEP-0388): the client's `<authenticate>`, the server's `<success>`; `<challenge>`,
//! `<response>`, `<abort>` and `<failure>` are the legacy shapes of `super::sasl` in SASL2's namespace.
//! Written here rather than xmpp-parsers' `sasl2` types for the reasons `super::sasl` gives (a payload
//! that is not base64 or an unknown mechanism must be answered with a SASL failure, not refused as a
//! parse error; the test `xmpp_parsers_sasl_refuses_what_the_server_must_answer` shows it). The inline
//! Bind2 request is xmpp-parsers' `bind2::BindQuery` (`super::bind2`). The `mechanism` attribute
//! ConnectyCube's SDK writes on its SASL2 `<response>` is ignored.

use super::bind2::BindQuery;
use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

/// `<authenticate mechanism="…"><initial-response>base64</initial-response>…<bind/></authenticate>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticate {
    pub mechanism: Option<String>,
    /// The initial response as written; absent, the exchange starts with an empty one.
    pub initial_response: Option<String>,
    /// Bind2 inline (XEP-0386): bind a resource with the authentication.
    pub bind: Option<BindQuery>,
    /// Everything else (`<user-agent/>`, …), in order, ahead of the bind when written.
    pub payloads: Vec<Element>,
}

impl TryFrom<Element> for Authenticate {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Authenticate, ParseError> {
        if !element.is("authenticate", ns::SASL2) {
            return Err(ParseError::WrongElement("authenticate"));
        }
        let mut authenticate = Authenticate {
            mechanism: element.attr("mechanism").map(str::to_owned),
            initial_response: None,
            bind: None,
            payloads: Vec::new(),
        };
        for child in element.children() {
            if child.is("initial-response", ns::SASL2) && authenticate.initial_response.is_none() {
                authenticate.initial_response = Some(child.text());
            } else if child.is("bind", ns::BIND2) && authenticate.bind.is_none() {
                let bind = BindQuery::try_from(child.clone())
                    .map_err(|_| ParseError::Invalid("an unreadable Bind2 request"))?;
                authenticate.bind = Some(bind);
            } else {
                authenticate.payloads.push(child.clone());
            }
        }
        Ok(authenticate)
    }
}

impl From<Authenticate> for Element {
    fn from(authenticate: Authenticate) -> Element {
        let mut element = xml::element("authenticate", ns::SASL2);
        if let Some(mechanism) = authenticate.mechanism {
            xml::set_attr(&mut element, "mechanism", mechanism);
        }
        if let Some(initial) = authenticate.initial_response {
            let mut response = xml::element("initial-response", ns::SASL2);
            if !initial.is_empty() {
                response = xml::with_text(response, initial);
            }
            element.append_child(response);
        }
        for payload in authenticate.payloads {
            element.append_child(payload);
        }
        if let Some(bind) = authenticate.bind {
            element.append_child(bind.into());
        }
        element
    }
}

/// `<success><additional-data>base64</additional-data><authorization-identifier>jid</…>{bound}</success>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    pub additional_data: Option<String>,
    pub authorization_identifier: String,
    /// What follows: Bind2's `<bound/>`.
    pub payloads: Vec<Element>,
}

impl TryFrom<Element> for Success {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Success, ParseError> {
        if !element.is("success", ns::SASL2) {
            return Err(ParseError::WrongElement("success"));
        }
        let mut additional_data = None;
        let mut authorization_identifier = None;
        let mut payloads = Vec::new();
        for child in element.children() {
            if child.is("additional-data", ns::SASL2) && additional_data.is_none() {
                additional_data = Some(child.text());
            } else if child.is("authorization-identifier", ns::SASL2) && authorization_identifier.is_none() {
                authorization_identifier = Some(child.text());
            } else {
                payloads.push(child.clone());
            }
        }
        Ok(Success {
            additional_data,
            authorization_identifier: authorization_identifier.ok_or(ParseError::Invalid(
                "a SASL2 success needs an authorization identifier",
            ))?,
            payloads,
        })
    }
}

impl From<Success> for Element {
    fn from(success: Success) -> Element {
        let mut element = xml::element("success", ns::SASL2);
        if let Some(data) = success.additional_data {
            element.append_child(xml::with_text(xml::element("additional-data", ns::SASL2), data));
        }
        element.append_child(xml::with_text(
            xml::element("authorization-identifier", ns::SASL2),
            success.authorization_identifier,
        ));
        for payload in success.payloads {
            element.append_child(payload);
        }
        element
    }
}
