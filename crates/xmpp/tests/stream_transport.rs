//! Transports over real loopback sockets: WebSocket (ws, wss), TCP with STARTTLS, direct TLS, listener limits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use palaver_xmpp::stream::{
    serve_tcp, serve_websocket, starttls_acceptor, ConnectionHandler, Inbound, ListenerLimits, Transport,
    TransportError, TransportKind,
};
use palaver_xmpp::{ns, xml};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Self-signed test certificate for `localhost` / 127.0.0.1, valid 2000–2100, CA:FALSE, P-256.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBhjCCASygAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABF/oB2hE50iztxMy
AbuunX/PdT91gboqecY2BOpK4j7vWQlIbe7IFldVa6+96wtGNtfeotzQ4JCGcpVL
Rt/T7V6jbTBrMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAMBgNVHRMBAf8E
AjAAMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQU
d5KOiT1prNp8FCTm1oLzDLQ5v/0wCgYIKoZIzj0EAwIDSAAwRQIhAIYwVQqnsoDz
ZeFh3eFPh7x+j+lupSAp/QBMZE1xvXwWAiB57Uh78BCP4jwJtN1oG+Dd0WP/Wa4S
WroUj9sH6RxuNQ==
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgB4Qt3iIkW92mT8+y
XzstJpBVX8Nar1pJ4RQYyWlKBYShRANCAARf6AdoROdIs7cTMgG7rp1/z3U/dYG6
KnnGNgTqSuI+71kJSG3uyBZXVWuvvesLRjbX3qLc0OCQhnKVS0bf0+1e
-----END PRIVATE KEY-----
";

const FRAMING_OPEN: &str =
    "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" from=\"localhost\" id=\"s1\" \
                            version=\"1.0\" xml:lang=\"en\"/>";
const TCP_OPEN: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                        xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0' \
                        xml:lang='en'>";
const CLIENT_TCP_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns=\"jabber:client\" \
                                 xmlns:stream=\"http://etherx.jabber.org/streams\" to=\"localhost\" version=\"1.0\">";

/// The HTTPS config the server would pass in: offers h2 first.
fn https_config() -> Arc<ServerConfig> {
    let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

fn connector(alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap())
        .unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

struct Collect(mpsc::UnboundedSender<Transport>);

#[async_trait::async_trait]
impl ConnectionHandler for Collect {
    async fn handle(&self, transport: Box<Transport>) {
        let _ = self.0.send(*transport);
    }
}

struct Server {
    addr: SocketAddr,
    transports: mpsc::UnboundedReceiver<Transport>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    async fn transport(&mut self) -> Transport {
        within(self.transports.recv()).await.expect("listener stopped")
    }
}

#[derive(Clone, Copy)]
enum Kind {
    WebSocket,
    Tcp,
}

async fn start(kind: Kind, tls: Option<Arc<ServerConfig>>, limits: ListenerLimits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, transports) = mpsc::unbounded_channel();
    let (shutdown, watch) = watch::channel(false);
    let handler = Arc::new(Collect(tx));
    let task = match kind {
        Kind::WebSocket => tokio::spawn(serve_websocket(listener, tls, limits, handler, watch)),
        Kind::Tcp => tokio::spawn(serve_tcp(listener, tls, limits, handler, watch)),
    };
    Server {
        addr,
        transports,
        shutdown,
        task,
    }
}

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

async fn read_string<S: AsyncRead + Unpin>(stream: &mut S, len: usize) -> String {
    let mut buf = vec![0; len];
    within(stream.read_exact(&mut buf)).await.unwrap();
    String::from_utf8(buf).unwrap()
}

fn features() -> xml::Element {
    xml::with_child(
        xml::element("features", ns::STREAM),
        xml::with_child(
            xml::element("mechanisms", ns::SASL),
            xml::with_text(xml::element("mechanism", ns::SASL), "PLAIN"),
        ),
    )
}

const FEATURES: &str = "<features xmlns='http://etherx.jabber.org/streams'><mechanisms \
                        xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>";

fn ws_request(
    url: &str,
    protocol: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    }
    request
}

async fn next_text<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match within(ws.next()).await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Wrapped so `cargo test -p palaver-xmpp stream` selects every test here.
mod stream {
    use super::*;

    #[tokio::test]
    async fn websocket_echoes_xmpp_and_exchanges_framed_elements() {
        let mut server = start(Kind::WebSocket, None, ListenerLimits::default()).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let client_addr = tcp.local_addr().unwrap();
        let url = format!("ws://127.0.0.1:{}/any/path", server.addr.port());
        let (mut ws, response) = within(tokio_tungstenite::client_async(
            ws_request(&url, Some("xmpp")),
            tcp,
        ))
        .await
        .unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "xmpp");

        let mut transport = server.transport().await;
        assert_eq!(transport.kind(), TransportKind::WebSocket);
        assert!(!transport.is_encrypted());
        assert!(!transport.can_starttls());
        assert_eq!(transport.peer_addr(), client_addr);

        // v3/v6 opening frame.
        ws.send(Message::text(
            "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" to=\"127.0.0.1\" version=\"1.0\"/>",
        ))
        .await
        .unwrap();
        let Inbound::Open(header) = within(transport.next()).await.unwrap() else {
            panic!("no open")
        };
        assert_eq!(header.to.as_deref(), Some("127.0.0.1"));
        assert_eq!(header.version.as_deref(), Some("1.0"));

        transport.send_open("localhost", "s1").await.unwrap();
        transport.send(&features()).await.unwrap();
        assert_eq!(next_text(&mut ws).await, FRAMING_OPEN);
        assert_eq!(next_text(&mut ws).await, FEATURES);

        // A v3-style stanza without xmlns.
        ws.send(Message::text(
            "<message to=\"3-1@localhost\" type=\"chat\"><body>hi</body></message>",
        ))
        .await
        .unwrap();
        let Inbound::Stanza(message) = within(transport.next()).await.unwrap() else {
            panic!("no stanza")
        };
        assert!(message.is("message", ns::CLIENT));
        assert_eq!(message.get_child("body", ns::CLIENT).unwrap().text(), "hi");

        // send_all: one frame per element, no whitespace anywhere.
        let ping = xml::with_attr(xml::element("r", ns::SM), "h", "0");
        transport.send_all(&[message.clone(), ping]).await.unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            "<message xmlns='jabber:client' to='3-1@localhost' type='chat'><body>hi</body></message>"
        );
        assert_eq!(next_text(&mut ws).await, "<r xmlns='urn:xmpp:sm:3' h='0'/>");

        // Client ping while the server sits in next(): the pong goes out without any outbound stanza.
        ws.send(Message::Ping(b"p1".to_vec().into())).await.unwrap();
        let pending = tokio::time::timeout(Duration::from_millis(300), transport.next()).await;
        assert!(pending.is_err(), "no XMPP event expected");
        assert_eq!(
            within(ws.next()).await.unwrap().unwrap(),
            Message::Pong(b"p1".to_vec().into())
        );

        // Server keep-alive is a ping frame, never text.
        transport.keepalive().await.unwrap();
        assert!(matches!(within(ws.next()).await, Some(Ok(Message::Ping(data))) if data.is_empty()));

        ws.send(Message::text(
            "<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"/>",
        ))
        .await
        .unwrap();
        assert_eq!(within(transport.next()).await.unwrap(), Inbound::Close);
        transport.send_close().await.unwrap();
        transport.send_close().await.unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            "<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"/>"
        );
        assert!(matches!(within(ws.next()).await, Some(Ok(Message::Close(_)))));
        // The client's close reply (queued by tungstenite, sent on flush) ends the server side.
        within(ws.flush()).await.unwrap();
        assert!(matches!(
            within(transport.next()).await,
            Err(TransportError::Closed)
        ));
    }

    #[tokio::test]
    async fn websocket_without_subprotocol_is_accepted_foreign_one_refused() {
        let mut server = start(Kind::WebSocket, None, ListenerLimits::default()).await;
        let url = format!("ws://127.0.0.1:{}/", server.addr.port());

        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (_ws, response) = within(tokio_tungstenite::client_async(ws_request(&url, None), tcp))
            .await
            .unwrap();
        assert!(response.headers().get("sec-websocket-protocol").is_none());
        server.transport().await;

        // Offered among others: xmpp is picked.
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let request = ws_request(&url, Some("chat, xmpp"));
        let (_ws, response) = within(tokio_tungstenite::client_async(request, tcp))
            .await
            .unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "xmpp");
        server.transport().await;

        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let refused = within(tokio_tungstenite::client_async(
            ws_request(&url, Some("foo")),
            tcp,
        ))
        .await;
        match refused {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 400),
            other => panic!("expected an HTTP refusal, got {other:?}"),
        }
        let nothing = tokio::time::timeout(Duration::from_millis(200), server.transports.recv()).await;
        assert!(nothing.is_err(), "refused handshake reached the handler");
    }

    #[tokio::test]
    async fn websocket_frame_over_the_stanza_limit_is_a_policy_violation() {
        let mut server = start(Kind::WebSocket, None, ListenerLimits::default()).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let url = format!("ws://127.0.0.1:{}/", server.addr.port());
        let (mut ws, _) = within(tokio_tungstenite::client_async(
            ws_request(&url, Some("xmpp")),
            tcp,
        ))
        .await
        .unwrap();
        let mut transport = server.transport().await;

        let big = format!("<message><body>{}</body></message>", "x".repeat(20_000));
        ws.send(Message::text(big.clone())).await.unwrap();
        let err = within(transport.next()).await.unwrap_err();
        assert!(matches!(err, TransportError::PolicyViolation), "{err:?}");
        assert_eq!(err.stream_condition(), Some("policy-violation"));

        // After authentication the session raises the limit.
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (mut ws, _) = within(tokio_tungstenite::client_async(
            ws_request(&url, Some("xmpp")),
            tcp,
        ))
        .await
        .unwrap();
        let mut transport = server.transport().await;
        transport.set_max_stanza_size(262_144);
        ws.send(Message::text(big)).await.unwrap();
        let Inbound::Stanza(message) = within(transport.next()).await.unwrap() else {
            panic!()
        };
        assert_eq!(
            message.get_child("body", ns::CLIENT).unwrap().text().len(),
            20_000
        );
    }

    #[tokio::test]
    async fn websocket_next_is_cancel_safe() {
        let mut server = start(Kind::WebSocket, None, ListenerLimits::default()).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let url = format!("ws://127.0.0.1:{}/", server.addr.port());
        let (mut ws, _) = within(tokio_tungstenite::client_async(
            ws_request(&url, Some("xmpp")),
            tcp,
        ))
        .await
        .unwrap();
        let mut transport = server.transport().await;

        let client = tokio::spawn(async move {
            // One element split over frames, with pauses longer than the server's select timeout.
            for part in [
                "<message xmlns='jabber:client' id='c'><bo",
                "dy>sl",
                "ow</body></mess",
                "age>",
            ] {
                ws.send(Message::text(part)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            ws
        });
        let mut cancelled = 0;
        let stanza = loop {
            tokio::select! {
                item = transport.next() => break item.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(5)) => cancelled += 1,
            }
        };
        assert!(cancelled > 3);
        let Inbound::Stanza(message) = stanza else {
            panic!()
        };
        assert_eq!(message.attr("id"), Some("c"));
        assert_eq!(message.get_child("body", ns::CLIENT).unwrap().text(), "slow");
        client.await.unwrap();
    }

    #[tokio::test]
    async fn secure_websocket_uses_http11_alpn() {
        let mut server = start(Kind::WebSocket, Some(https_config()), ListenerLimits::default()).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let tls =
            within(connector(&[b"h2", b"http/1.1"]).connect(ServerName::try_from("localhost").unwrap(), tcp))
                .await
                .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let url = format!("wss://localhost:{}/", server.addr.port());
        let (mut ws, response) = within(tokio_tungstenite::client_async(
            ws_request(&url, Some("xmpp")),
            tls,
        ))
        .await
        .unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "xmpp");

        let mut transport = server.transport().await;
        assert_eq!(transport.kind(), TransportKind::WebSocket);
        assert!(transport.is_encrypted());
        ws.send(Message::text(
            "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" to=\"localhost\" version=\"1.0\"/>",
        ))
        .await
        .unwrap();
        assert!(matches!(
            within(transport.next()).await.unwrap(),
            Inbound::Open(_)
        ));
        transport.send_open("localhost", "s1").await.unwrap();
        assert_eq!(next_text(&mut ws).await, FRAMING_OPEN);
    }

    #[tokio::test]
    async fn tcp_stream_with_starttls_and_restart() {
        let config = https_config();
        let mut server = start(Kind::Tcp, None, ListenerLimits::default()).await;
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        let mut transport = server.transport().await;
        assert_eq!(transport.kind(), TransportKind::Tcp);
        assert!(!transport.is_encrypted());
        assert!(transport.can_starttls());

        client.write_all(CLIENT_TCP_HEADER.as_bytes()).await.unwrap();
        let Inbound::Open(header) = within(transport.next()).await.unwrap() else {
            panic!("no header")
        };
        assert_eq!(header.to.as_deref(), Some("localhost"));
        transport.send_open("localhost", "s1").await.unwrap();
        let starttls = xml::with_child(
            xml::element("features", ns::STREAM),
            xml::element("starttls", ns::TLS),
        );
        transport.send(&starttls).await.unwrap();
        assert_eq!(read_string(&mut client, TCP_OPEN.len()).await, TCP_OPEN);
        let expected = "<features xmlns='http://etherx.jabber.org/streams'><starttls \
                    xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></features>";
        assert_eq!(read_string(&mut client, expected.len()).await, expected);

        client
            .write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await
            .unwrap();
        let Inbound::Stanza(request) = within(transport.next()).await.unwrap() else {
            panic!()
        };
        assert!(request.is("starttls", ns::TLS));
        transport.send(&xml::element("proceed", ns::TLS)).await.unwrap();
        let proceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        assert_eq!(read_string(&mut client, proceed.len()).await, proceed);

        let acceptor = starttls_acceptor(&config);
        let server_name = ServerName::try_from("localhost").unwrap();
        let (upgraded, client) = within(async {
            tokio::join!(
                transport.starttls(&acceptor),
                connector(&[b"xmpp-client"]).connect(server_name, client)
            )
        })
        .await;
        upgraded.unwrap();
        let mut client = client.unwrap();
        assert_eq!(client.get_ref().1.alpn_protocol(), Some(&b"xmpp-client"[..]));
        assert!(transport.is_encrypted());
        assert!(!transport.can_starttls());

        // A fresh stream over TLS; stanzas without xmlns are jabber:client.
        client.write_all(CLIENT_TCP_HEADER.as_bytes()).await.unwrap();
        client
            .write_all(b"\n <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>")
            .await
            .unwrap();
        assert!(matches!(
            within(transport.next()).await.unwrap(),
            Inbound::Open(_)
        ));
        let Inbound::Stanza(auth) = within(transport.next()).await.unwrap() else {
            panic!()
        };
        assert!(auth.is("auth", ns::SASL));
        transport.send_open("localhost", "s1").await.unwrap();
        assert_eq!(read_string(&mut client, TCP_OPEN.len()).await, TCP_OPEN);

        // SASL restart.
        transport.restart();
        client.write_all(CLIENT_TCP_HEADER.as_bytes()).await.unwrap();
        client
            .write_all(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await
            .unwrap();
        assert!(matches!(
            within(transport.next()).await.unwrap(),
            Inbound::Open(_)
        ));
        let Inbound::Stanza(iq) = within(transport.next()).await.unwrap() else {
            panic!()
        };
        assert!(iq.is("iq", ns::CLIENT));
        assert!(iq.has_child("bind", ns::BIND));
        transport
            .send_all(&[iq.clone(), xml::element("presence", ns::CLIENT)])
            .await
            .unwrap();
        let expected = "<iq xmlns='jabber:client' id='b1' type='set'><bind \
                    xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq><presence xmlns='jabber:client'/>";
        assert_eq!(read_string(&mut client, expected.len()).await, expected);

        client.write_all(b"</stream:stream>").await.unwrap();
        assert_eq!(within(transport.next()).await.unwrap(), Inbound::Close);
        transport.send_close().await.unwrap();
        transport.send_close().await.unwrap();
        let mut rest = Vec::new();
        within(client.read_to_end(&mut rest)).await.unwrap();
        assert_eq!(String::from_utf8(rest).unwrap(), "</stream:stream>");
    }

    #[tokio::test]
    async fn tcp_errors_and_cancel_safety() {
        let mut server = start(Kind::Tcp, None, ListenerLimits::default()).await;

        // Bytes trickle in while next() is repeatedly cancelled by a select! timeout.
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        let mut transport = server.transport().await;
        let input = format!("{CLIENT_TCP_HEADER}<message id='t'><body>trickle</body></message>");
        let writer = tokio::spawn(async move {
            for byte in input.as_bytes() {
                client.write_all(&[*byte]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            client
        });
        let mut items = Vec::new();
        while items.len() < 2 {
            tokio::select! {
                item = transport.next() => items.push(item.unwrap()),
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
            }
        }
        assert!(matches!(&items[0], Inbound::Open(_)));
        assert!(matches!(&items[1], Inbound::Stanza(m) if m.attr("id") == Some("t")));
        let mut client = writer.await.unwrap();

        // A comment is restricted XML; closing the socket is Closed (no stream error to send).
        client.write_all(b"<!-- hi -->").await.unwrap();
        let err = within(transport.next()).await.unwrap_err();
        assert_eq!(err.stream_condition(), Some("restricted-xml"), "{err:?}");

        let mut client = TcpStream::connect(server.addr).await.unwrap();
        let mut transport = server.transport().await;
        client.write_all(CLIENT_TCP_HEADER.as_bytes()).await.unwrap();
        assert!(matches!(
            within(transport.next()).await.unwrap(),
            Inbound::Open(_)
        ));
        drop(client);
        let err = within(transport.next()).await.unwrap_err();
        assert!(matches!(err, TransportError::Closed), "{err:?}");
        assert_eq!(err.stream_condition(), None);
    }

    #[tokio::test]
    async fn direct_tls_negotiates_xmpp_client() {
        let mut server = start(Kind::Tcp, Some(https_config()), ListenerLimits::default()).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut client =
            within(connector(&[b"xmpp-client"]).connect(ServerName::try_from("localhost").unwrap(), tcp))
                .await
                .unwrap();
        assert_eq!(client.get_ref().1.alpn_protocol(), Some(&b"xmpp-client"[..]));
        let mut transport = server.transport().await;
        assert_eq!(transport.kind(), TransportKind::Tcp);
        assert!(transport.is_encrypted());
        assert!(!transport.can_starttls());

        client.write_all(CLIENT_TCP_HEADER.as_bytes()).await.unwrap();
        assert!(matches!(
            within(transport.next()).await.unwrap(),
            Inbound::Open(_)
        ));
        transport.send_open("localhost", "s1").await.unwrap();
        assert_eq!(read_string(&mut client, TCP_OPEN.len()).await, TCP_OPEN);

        // A client that only speaks h2 finds no common protocol.
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let refused =
            within(connector(&[b"h2"]).connect(ServerName::try_from("localhost").unwrap(), tcp)).await;
        assert!(refused.is_err());
    }

    #[tokio::test]
    async fn per_ip_limit_and_handshake_timeout() {
        let limits = ListenerLimits {
            max_connections_per_ip: 2,
            handshake_timeout: Duration::from_millis(300),
        };
        let mut server = start(Kind::Tcp, Some(https_config()), limits).await;
        let connect = |addr| async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            connector(&[])
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
        };
        let _first = within(connect(server.addr)).await.unwrap();
        let _second = within(connect(server.addr)).await.unwrap();
        let first = server.transport().await;
        let _kept = server.transport().await;

        // The third is closed before any TLS byte is answered.
        let mut third = TcpStream::connect(server.addr).await.unwrap();
        third.write_all(b"\x16\x03\x01").await.unwrap();
        let mut buf = [0; 16];
        assert!(matches!(within(third.read(&mut buf)).await, Ok(0) | Err(_)));

        // Dropping a transport frees its slot.
        drop(first);
        let _fourth = within(connect(server.addr)).await.unwrap();
        let _fourth_transport = server.transport().await;

        // Still full: a silent connection would count, but is not let in at all.
        let mut fifth = TcpStream::connect(server.addr).await.unwrap();
        assert!(matches!(within(fifth.read(&mut buf)).await, Ok(0) | Err(_)));
    }

    #[tokio::test]
    async fn stalled_handshake_times_out_and_frees_its_slot() {
        let limits = ListenerLimits {
            max_connections_per_ip: 1,
            handshake_timeout: Duration::from_millis(200),
        };
        let mut server = start(Kind::WebSocket, None, limits).await;
        let started = std::time::Instant::now();
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        let mut buf = [0; 16];
        assert!(matches!(within(silent.read(&mut buf)).await, Ok(0) | Err(_)));
        assert!(started.elapsed() >= Duration::from_millis(150));

        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let url = format!("ws://127.0.0.1:{}/", server.addr.port());
        within(tokio_tungstenite::client_async(
            ws_request(&url, Some("xmpp")),
            tcp,
        ))
        .await
        .unwrap();
        server.transport().await;
    }

    #[tokio::test]
    async fn shutdown_stops_accepting() {
        let server = start(Kind::Tcp, None, ListenerLimits::default()).await;
        server.shutdown.send(true).unwrap();
        within(server.task).await.unwrap();
        assert!(TcpStream::connect(server.addr).await.is_err());

        let server = start(Kind::WebSocket, None, ListenerLimits::default()).await;
        server.shutdown.send(true).unwrap();
        within(server.task).await.unwrap();
    }

    #[tokio::test]
    async fn transport_over_a_pipe_for_session_tests() {
        let (server_end, mut client) = tokio::io::duplex(4096);
        let peer: SocketAddr = "192.0.2.1:5222".parse().unwrap();
        let mut transport = Transport::tcp(server_end, peer, false);
        assert_eq!(transport.peer_addr(), peer);
        client.write_all(CLIENT_TCP_HEADER.as_bytes()).await.unwrap();
        assert!(matches!(
            within(transport.next()).await.unwrap(),
            Inbound::Open(_)
        ));
        transport.send_open("localhost", "s1").await.unwrap();
        assert_eq!(read_string(&mut client, TCP_OPEN.len()).await, TCP_OPEN);
    }
}
