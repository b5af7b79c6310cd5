//! One client connection from stream header to close: negotiation (STARTTLS, SASL or SASL2 with Bind2,
//! resource binding, or resumption of an earlier session), then the online loop.

pub mod negotiate;
pub mod online;
pub mod resume;
pub mod sm;

use crate::ns;
use crate::server::Shared;
use crate::stream::Transport;
use crate::xml::{self, Element};
use std::sync::Arc;

/// Serves one connection until it closes.
pub async fn run(shared: Arc<Shared>, mut transport: Transport) {
    transport.set_max_stanza_size(shared.config.max_stanza_before_auth);
    let deadline = tokio::time::Instant::now() + shared.config.auth_timeout;
    let negotiated = tokio::time::timeout_at(deadline, negotiate::negotiate(&shared, &mut transport)).await;
    match negotiated {
        Err(_) => {
            close_with_error(
                &mut transport,
                "connection-timeout",
                "Authentication took too long",
            )
            .await
        }
        Ok(Err(error)) => {
            if let Some((condition, text)) = error.stream_error() {
                close_with_error(&mut transport, condition, &text).await;
            }
        }
        Ok(Ok(negotiate::Outcome::Online(bound))) => {
            // The connection's span (from the listener) names the user from here on.
            let user = &bound.auth.user;
            tracing::Span::current().record(
                "user",
                tracing::field::display(format_args!("{}-{}", user.user_id, user.app_id)),
            );
            online::run(shared, transport, bound).await
        }
        Ok(Ok(negotiate::Outcome::Resume { session, h, previd })) => {
            resume::hand_over(transport, session, h, previd).await
        }
        Ok(Ok(negotiate::Outcome::Finished)) => {}
    }
}

/// `<stream:error>` with a condition and text.
pub fn stream_error(condition: &str, text: &str) -> Element {
    let mut error = xml::element("error", ns::STREAM);
    error.append_child(xml::element(condition, ns::STREAMS_ERRORS));
    if !text.is_empty() {
        error.append_child(xml::with_text(xml::element("text", ns::STREAMS_ERRORS), text));
    }
    error
}

/// Sends a stream error and closes the stream; the socket may already be gone.
pub async fn close_with_error(transport: &mut Transport, condition: &str, text: &str) {
    tracing::debug!(condition, text, "closing stream with an error");
    let _ = transport.send(&stream_error(condition, text)).await;
    let _ = transport.send_close().await;
}
