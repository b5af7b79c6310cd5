//! Serving the REST API over plain TCP or TLS with hyper, and draining connections on shutdown. Every
//! response carries the security headers (`security_headers`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// Accepts connections until `shutdown` flips, then waits (bounded) for open requests to finish.
pub async fn serve<S>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    mut shutdown: watch::Receiver<bool>,
) where
    S: tower::Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    // Requests that came over TLS are marked, for URLs the API hands out that point back at it.
    let over_tls = tls.is_some();
    let service = service
        .map_request(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            if over_tls {
                request.extensions_mut().insert(palaver_api::OverTls);
            }
            request
        })
        .map_response(move |mut response: axum::response::Response| {
            security_headers(response.headers_mut(), over_tls);
            response
        });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        // Each request knows its connection's address (the login failure throttle uses it).
        let service = TowerToHyperService::new(service.clone().map_request(
            move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(palaver_api::PeerAddr(peer));
                request
            },
        ));
        let builder = auto::Builder::new(TokioExecutor::new());
        match &tls {
            None => {
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = watched.await {
                        tracing::debug!(%peer, %error, "http connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let graceful_watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                    let stream = match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(error) = graceful_watcher.watch(connection).await {
                        tracing::debug!(%peer, %error, "https connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP connections were still open after 10 s and were dropped");
    }
}

/// Headers every response gets unless its handler set them: no MIME sniffing, no referrer, no framing, and
/// over TLS, HSTS (browsers keep to HTTPS for a year).
fn security_headers(headers: &mut HeaderMap, over_tls: bool) {
    let mut set = |name, value| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    if over_tls {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
}
