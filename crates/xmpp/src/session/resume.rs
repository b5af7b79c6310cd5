//! XEP-0198 resumption: a new connection that authenticated as the same user hands its transport to the
//! session it resumes, which then resends what was not acknowledged.

use crate::ns;
use crate::registry::{Command, ResumeRequest, SessionHandle};
use crate::sasl::Authenticated;
use crate::shared::Shared;
use crate::stream::close_with_error;
use crate::stream::Transport;
use crate::xml::{self, Element};

/// `<failed xmlns="urn:xmpp:sm:3"><{condition}/></failed>`.
pub fn failed(condition: &str) -> Element {
    xml::with_child(
        xml::element("failed", ns::SM),
        xml::element(condition, ns::STANZAS),
    )
}

/// The session a `<resume previd h>` names, if it belongs to the authenticated user and can resume.
pub fn find(shared: &Shared, resume: &Element, auth: &Authenticated) -> Option<(SessionHandle, u32, String)> {
    let previd = resume.attr("previd")?.to_owned();
    let h: u32 = resume.attr("h")?.parse().ok()?;
    let session = shared.registry.resumable(auth.user, &previd)?;
    Some((session, h, previd))
}

/// Gives the connection to the resumed session. If that session has ended in the meantime, the client is
/// told resumption failed and the stream closes (it will start a fresh session).
pub async fn hand_over(transport: Transport, session: SessionHandle, h: u32, previd: String) {
    let request = ResumeRequest { transport, h, previd };
    if let Err(Command::Resume(request)) = session.command(Command::Resume(Box::new(request))) {
        let mut transport = request.transport;
        let _ = transport.send(&failed("item-not-found")).await;
        close_with_error(
            &mut transport,
            "undefined-condition",
            "The session to resume has ended",
        )
        .await;
    }
}
