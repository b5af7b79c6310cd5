//! One client connection from stream header to close: negotiation (STARTTLS, SASL or SASL2 with Bind2,
//! resource binding, or resumption of an earlier session), then the online loop.

pub mod negotiate;
pub mod online;
pub mod resume;
pub mod sm;

use crate::dispatch::Dispatcher;
use crate::shared::Shared;
use crate::stream::{close_with_error, Transport};
use std::future::Future;
use std::sync::Arc;

/// Serves one connection until it closes. Each phase runs boxed, and this is not an async fn (which would
/// keep its arguments beside the locals they move into): a task holds its future's largest state for as
/// long as it lives, and an idle session should not carry the negotiation's (SASL, binding) all its life.
/// For the same reason the transport stays boxed until the online phase takes it, and what negotiation
/// returned is gone before the online phase is awaited.
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub fn run(
    shared: Arc<Shared>,
    dispatcher: Arc<Dispatcher>,
    mut transport: Box<Transport>,
) -> impl Future<Output = ()> + Send {
    async move {
        transport.set_max_stanza_size(shared.config.max_stanza_before_auth);
        let deadline = tokio::time::Instant::now() + shared.config.auth_timeout;
        let online = {
            let negotiated =
                tokio::time::timeout_at(deadline, Box::pin(negotiate::negotiate(&shared, &mut transport)))
                    .await;
            match negotiated {
                Err(_) => {
                    Box::pin(close_with_error(
                        &mut transport,
                        "connection-timeout",
                        "Authentication took too long",
                    ))
                    .await;
                    return;
                }
                Ok(Err(error)) => {
                    if let Some((condition, text)) = error.stream_error() {
                        Box::pin(close_with_error(&mut transport, condition, &text)).await;
                    }
                    return;
                }
                Ok(Ok(negotiate::Outcome::Online(bound))) => {
                    // The connection's span (from the listener) names the user from here on.
                    let user = &bound.auth.user;
                    tracing::Span::current().record(
                        "user",
                        tracing::field::display(format_args!("{}-{}", user.user_id, user.app_id)),
                    );
                    online::run(shared, dispatcher, unboxed(transport), bound)
                }
                Ok(Ok(negotiate::Outcome::Resume { session, h, previd })) => {
                    return Box::pin(resume::hand_over(unboxed(transport), session, h, previd)).await;
                }
                Ok(Ok(negotiate::Outcome::Finished)) => return,
            }
        };
        online.await
    }
}

/// Moves the transport out of its box and frees the box now: `*transport` would leave the emptied box
/// allocated until the future that captured it ends, which for a session is the connection's life.
fn unboxed(transport: Box<Transport>) -> Transport {
    *transport
}
