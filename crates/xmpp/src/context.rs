//! What a stanza handler gets: who sent the stanza, a handle to answer that client, the session state the
//! modules keep per session, and the services (`Shared`: core, config, registry) plus the module state
//! the dispatcher owns (room occupancy, status watchers). Never the session itself.

use crate::registry::SessionHandle;
use crate::rooms::Rooms;
use crate::shared::Shared;
use crate::watchers::StatusWatchers;
use crate::xml::Element;
use async_trait::async_trait;
use palaver_proto::UserJid;
use std::collections::HashSet;

/// The sender of a stanza: the session's user, its addresses and its handle in the registry.
#[derive(Debug, Clone)]
pub struct Sender {
    pub user: UserJid,
    pub full_jid: String,
    pub bare_jid: String,
    pub handle: SessionHandle,
}

/// Writes to the sending client's own stream, counted by stream management and ahead of anything routed
/// to it later (an echo precedes the offline messages that follow it).
#[async_trait]
pub trait Reply: Send {
    async fn send(&mut self, stanza: Element);
    /// Asks the client to acknowledge what it has, when anything is outstanding.
    async fn request_ack(&mut self);
}

/// What the modules remember for one session.
#[derive(Debug, Default)]
pub struct SessionState {
    /// Sent initial presence and not yet unavailable. Only this is kept, not the presence itself: nothing
    /// reads it again, and an element tree with its attribute maps was about a tenth of an idle session.
    pub available: bool,
    /// Contacts whose subscription request this session has already been shown: a request that is routed
    /// live while the login also reads the pending ones from the store arrives once.
    pub shown_requests: HashSet<String>,
}

impl SessionState {
    /// False for a subscription request this session was already shown.
    pub fn first_showing(&mut self, stanza: &Element) -> bool {
        if stanza.name() != "presence" || stanza.attr("type") != Some("subscribe") {
            return true;
        }
        let from = stanza
            .attr("from")
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.shown_requests.insert(from)
    }
}

/// The module state the dispatcher owns, for the handlers and hooks that need it.
#[derive(Default)]
pub struct ModuleState {
    /// Who joined which dialog room.
    pub rooms: Rooms,
    /// Who follows whose online status (ConnectyCube status streaming).
    pub watchers: StatusWatchers,
}

pub struct Context<'a> {
    pub shared: &'a Shared,
    pub state: &'a ModuleState,
    pub sender: &'a Sender,
    pub session: &'a mut SessionState,
    pub reply: &'a mut dyn Reply,
}

impl Context<'_> {
    pub fn user(&self) -> UserJid {
        self.sender.user
    }

    pub async fn reply(&mut self, stanza: impl Into<Element>) {
        self.reply.send(stanza.into()).await
    }
}
