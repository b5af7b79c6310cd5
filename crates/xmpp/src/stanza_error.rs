//! The one mapping from a domain error to a stanza error: its condition (with the legacy code and type
//! the SDKs read) and its `<text>`. Modules answer a refused request with `StanzaError::from(&error)`;
//! none picks a condition for a `CoreError` itself.

use minidom::Element;
use palaver_core::{CoreError, Denial};

use crate::parsers::head::Stanza;
use crate::stanza::{self, Condition};

/// A stanza error ready to be sent: condition and human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub condition: Condition,
    pub text: String,
}

/// The text of the error a blocked sender gets; the SDKs hand it to the app as `info`.
pub const BLOCKED_TEXT: &str = "Service not available.";
/// The text of the error the owner of a two-way block gets when writing to the blocked user.
pub const BLOCKING_TEXT: &str = "You have blocked this user.";

impl StanzaError {
    pub fn new(condition: Condition, text: impl Into<String>) -> StanzaError {
        StanzaError {
            condition,
            text: text.into(),
        }
    }

    /// The error reply to `original` (see `stanza::error_reply`).
    pub fn reply_to(&self, original: &Element) -> Element {
        stanza::error_reply(original, self.condition, &self.text)
    }

    /// The error reply to a typed stanza.
    pub fn refuse<S: Stanza>(&self, original: &S) -> Element {
        stanza::refuse(original, self.condition, &self.text)
    }
}

impl From<&CoreError> for StanzaError {
    fn from(error: &CoreError) -> StanzaError {
        let condition = match error {
            CoreError::SessionRequired | CoreError::Unauthorized => Condition::NotAuthorized,
            CoreError::NeedUser => Condition::Forbidden,
            // Not a member 406, other refusals 403 (docs/protocol.md#xmpp-group-messages).
            CoreError::Forbidden(Denial::NotMember) => Condition::NotAcceptable,
            // Privacy lists (docs/protocol.md#xmpp-privacy-lists): in the words the SDKs hand the app.
            CoreError::Forbidden(Denial::BlockedBySender) => {
                return StanzaError::new(Condition::NotAcceptable, BLOCKING_TEXT);
            }
            CoreError::Forbidden(Denial::BlockedByRecipient) => {
                return StanzaError::new(Condition::ServiceUnavailable, BLOCKED_TEXT);
            }
            CoreError::Forbidden(Denial::Rule(_)) => Condition::Forbidden,
            CoreError::NotFound => Condition::ItemNotFound,
            CoreError::Invalid(_) => Condition::BadRequest,
            CoreError::Rejected(_) => Condition::NotAcceptable,
            CoreError::ContactLimitReached(_) => Condition::NotAllowed,
            CoreError::OfflineStorageFull => Condition::ResourceConstraint,
            CoreError::Store(store) => {
                // Logged here, once; the client learns nothing of the internals.
                tracing::error!(error = %store, "storage failure");
                return StanzaError::new(Condition::InternalServerError, "Internal server error");
            }
        };
        StanzaError::new(condition, error.to_string())
    }
}

impl From<CoreError> for StanzaError {
    fn from(error: CoreError) -> StanzaError {
        StanzaError::from(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palaver_core::store::StoreError;

    fn mapped(error: CoreError) -> (Condition, String) {
        let mapped = StanzaError::from(&error);
        (mapped.condition, mapped.text)
    }

    #[test]
    fn every_core_error_has_one_condition_and_a_text() {
        let cases = [
            (
                CoreError::SessionRequired,
                Condition::NotAuthorized,
                "Required session does not exist",
            ),
            (CoreError::NeedUser, Condition::Forbidden, "Forbidden. Need user."),
            (CoreError::Unauthorized, Condition::NotAuthorized, "Unauthorized"),
            (
                CoreError::not_member(),
                Condition::NotAcceptable,
                "You are not a member of this dialog",
            ),
            (
                CoreError::Forbidden(Denial::BlockedBySender),
                Condition::NotAcceptable,
                "You have blocked this user.",
            ),
            (
                CoreError::Forbidden(Denial::BlockedByRecipient),
                Condition::ServiceUnavailable,
                "Service not available.",
            ),
            (
                CoreError::Forbidden("Only the owner and admins may post to a broadcast dialog".into()),
                Condition::Forbidden,
                "Only the owner and admins may post to a broadcast dialog",
            ),
            (
                CoreError::NotFound,
                Condition::ItemNotFound,
                "The resource wasn't found",
            ),
            (
                CoreError::Invalid(vec![
                    ("order".into(), "must be an unsigned integer".into()),
                    ("value".into(), "must be a JID".into()),
                ]),
                Condition::BadRequest,
                "order must be an unsigned integer, value must be a JID",
            ),
            (
                CoreError::Rejected("A user keeps at most 20 privacy lists".into()),
                Condition::NotAcceptable,
                "A user keeps at most 20 privacy lists",
            ),
            (
                CoreError::ContactLimitReached(3),
                Condition::NotAllowed,
                "Contact list limit (3) reached",
            ),
            (
                CoreError::OfflineStorageFull,
                Condition::ResourceConstraint,
                "The recipient's offline storage is full",
            ),
            (
                CoreError::Store(StoreError::Backend("connection refused at 10.0.0.7".into())),
                Condition::InternalServerError,
                "Internal server error",
            ),
        ];
        for (error, condition, text) in cases {
            assert_eq!(mapped(error), (condition, text.to_owned()));
        }
    }

    #[test]
    fn the_reply_carries_the_legacy_code_and_the_text() {
        let message: Element =
            r#"<message xmlns="jabber:client" id="m1" to="5-1@localhost" type="groupchat"/>"#
                .parse()
                .unwrap();
        let reply = StanzaError::from(&CoreError::not_member()).reply_to(&message);
        let error = reply.get_child("error", crate::ns::CLIENT).unwrap();
        assert_eq!(error.attr("code"), Some("406"));
        assert_eq!(error.attr("type"), Some("modify"));
        assert!(error.has_child("not-acceptable", crate::ns::STANZAS));
        assert_eq!(
            error.get_child("text", crate::ns::STANZAS).unwrap().text(),
            "You are not a member of this dialog"
        );
    }
}
