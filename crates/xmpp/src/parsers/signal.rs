//! The children that make a message a signal rather than content (docs/protocol.md#xmpp-message-classification):
//! XEP-0085 chat states, XEP-0333 chat markers, XEP-0308 corrections, ConnectyCube's deletes
//! (`urn:xmpp:message-delete:0`) and reactions. Matched by local name, as the SDKs match them: v3 and v6
//! disagree on some namespaces, and both read a child whatever its namespace.

use crate::xml::Element;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Composing,
    Paused,
    Active,
    Inactive,
    Gone,
    /// XEP-0308 `<replace id="…"/>`: an edit.
    Replace,
    /// ConnectyCube's `<reactions/>`.
    Reactions,
    /// `<remove id="…"/>`: a delete for everyone.
    Remove,
    /// XEP-0333 `<received id="…"/>`.
    Received,
    /// XEP-0333 `<displayed id="…"/>`.
    Displayed,
}

impl Signal {
    pub const ALL: [Signal; 10] = [
        Signal::Composing,
        Signal::Paused,
        Signal::Active,
        Signal::Inactive,
        Signal::Gone,
        Signal::Replace,
        Signal::Reactions,
        Signal::Remove,
        Signal::Received,
        Signal::Displayed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Composing => "composing",
            Signal::Paused => "paused",
            Signal::Active => "active",
            Signal::Inactive => "inactive",
            Signal::Gone => "gone",
            Signal::Replace => "replace",
            Signal::Reactions => "reactions",
            Signal::Remove => "remove",
            Signal::Received => "received",
            Signal::Displayed => "displayed",
        }
    }

    /// The signal a child stands for, by its local name.
    pub fn of(child: &Element) -> Option<Signal> {
        Signal::from_name(child.name())
    }

    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.name() == name)
    }

    /// A chat state (XEP-0085): only worth anything live.
    pub fn is_typing(self) -> bool {
        matches!(
            self,
            Signal::Composing | Signal::Paused | Signal::Active | Signal::Inactive | Signal::Gone
        )
    }

    /// A chat marker (XEP-0333).
    pub fn is_marker(self) -> bool {
        matches!(self, Signal::Received | Signal::Displayed)
    }
}

/// What a message's children make of it, gathered in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Classification {
    pub body: bool,
    pub extra_params: bool,
    pub typing: bool,
    pub marker: bool,
    /// Any signal at all (typing, marker, edit, delete, reaction).
    pub signal: bool,
}

impl Classification {
    pub fn of<'a>(children: impl IntoIterator<Item = &'a Element>) -> Classification {
        let mut seen = Classification::default();
        for child in children {
            match child.name() {
                "body" => seen.body = true,
                "extraParams" => seen.extra_params = true,
                _ => {
                    if let Some(signal) = Signal::of(child) {
                        seen.signal = true;
                        seen.typing |= signal.is_typing();
                        seen.marker |= signal.is_marker();
                    }
                }
            }
        }
        seen
    }

    /// A real message: a body or extension, and none of the signal children.
    pub fn is_content(self) -> bool {
        (self.body || self.extra_params) && !self.signal
    }

    /// Typing notifications without a body: only worth anything live.
    pub fn is_typing_only(self) -> bool {
        self.typing && !self.body
    }
}
