//! A small XMPP test client over WebSocket (RFC 7395) and TCP (with STARTTLS or direct TLS), speaking
//! raw XML so tests see exactly what the server sends.

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub enum Link {
    Ws(Box<WebSocketStream<TcpStream>>),
    Tcp(Box<dyn Io>, String),
}

pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

pub struct Client {
    pub link: Link,
    /// The bound full JID, once bound.
    pub jid: String,
}

pub fn plain(node: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{node}\0{password}"))
}

impl Client {
    pub async fn websocket(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut request = format!("ws://{addr}/").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
        let (ws, response) = tokio_tungstenite::client_async(request, stream).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "xmpp");
        Client {
            link: Link::Ws(Box::new(ws)),
            jid: String::new(),
        }
    }

    pub async fn tcp(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            link: Link::Tcp(Box::new(stream), String::new()),
            jid: String::new(),
        }
    }

    pub async fn send(&mut self, xml: &str) {
        match &mut self.link {
            Link::Ws(ws) => ws.send(Message::text(xml)).await.unwrap(),
            Link::Tcp(io, _) => {
                io.write_all(xml.as_bytes()).await.unwrap();
                io.flush().await.unwrap();
            }
        }
    }

    /// The next frame (WebSocket) or the next chunk of the stream that ends at a tag boundary (TCP).
    pub async fn recv(&mut self) -> Option<String> {
        match tokio::time::timeout(TIMEOUT, self.recv_inner()).await {
            Ok(next) => next,
            Err(_) => panic!("nothing received within {TIMEOUT:?}"),
        }
    }

    async fn recv_inner(&mut self) -> Option<String> {
        match &mut self.link {
            // Attribute quotes are normalised to `"` so assertions need not care which the server used.
            Link::Ws(ws) => loop {
                match ws.next().await? {
                    Ok(Message::Text(text)) => return Some(text.replace('\'', "\"")),
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => continue,
                }
            },
            Link::Tcp(io, buffer) => {
                let mut chunk = [0u8; 16384];
                loop {
                    if buffer.ends_with('>') && !buffer.is_empty() {
                        return Some(std::mem::take(buffer).replace('\'', "\""));
                    }
                    let n = io.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return if buffer.is_empty() {
                            None
                        } else {
                            Some(std::mem::take(buffer))
                        };
                    }
                    buffer.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
        }
    }

    /// Reads until something containing `needle` arrives; returns it (frames before it are skipped).
    pub async fn expect(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(TIMEOUT, self.recv_inner()).await {
                Ok(Some(text)) if text.contains(needle) => return text,
                Ok(Some(text)) => seen.push(text),
                Ok(None) => panic!("stream closed while waiting for {needle:?}; saw {seen:#?}"),
                Err(_) => panic!("{needle:?} did not arrive within {TIMEOUT:?}; saw {seen:#?}"),
            }
        }
    }

    /// Like `expect`, answering the server's pings on the way (as a live client does).
    pub async fn expect_answering_pings(&mut self, needle: &str) -> String {
        loop {
            let text = self.expect("").await;
            if text.contains(needle) {
                return text;
            }
            if text.contains("urn:xmpp:ping") && text.contains(r#"type="get""#) {
                let id = between(&text, r#"id=""#, "\"").to_owned();
                self.send(&format!(
                    r#"<iq type="result" id="{id}" to="localhost" xmlns="jabber:client"/>"#
                ))
                .await;
            }
        }
    }

    /// Everything that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(Some(text)) = tokio::time::timeout(wait, self.recv_inner()).await {
            seen.push(text);
        }
        seen
    }

    /// True if nothing arrives for `wait`.
    pub async fn silent_for(&mut self, wait: Duration) -> Result<(), String> {
        match tokio::time::timeout(wait, self.recv_inner()).await {
            Err(_) => Ok(()),
            Ok(Some(text)) => Err(text),
            Ok(None) => Err("closed".into()),
        }
    }

    pub async fn open(&mut self, to: &str) -> String {
        match self.link {
            Link::Ws(_) => {
                self.send(&format!(
                    r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{to}" version="1.0"/>"#
                ))
                .await;
                self.expect("<open").await;
            }
            Link::Tcp(..) => {
                self.send(&format!(
                    r#"<?xml version='1.0'?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="{to}" version="1.0">"#
                ))
                .await;
            }
        }
        self.expect("features").await
    }

    /// Upgrades a TCP link with STARTTLS, trusting `cert_pem`.
    pub async fn starttls(&mut self, cert_pem: &[u8]) {
        self.send(r#"<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>"#)
            .await;
        self.expect("<proceed").await;
        let Link::Tcp(io, _) = std::mem::replace(
            &mut self.link,
            Link::Tcp(Box::new(tokio::io::duplex(1).0), String::new()),
        ) else {
            panic!("STARTTLS needs TCP");
        };
        self.link = Link::Tcp(Box::new(tls_connect(io, cert_pem).await), String::new());
    }

    /// Legacy SASL PLAIN, then bind: returns the full JID.
    pub async fn login(&mut self, to: &str, node: &str, password: &str) -> String {
        self.open(to).await;
        self.authenticate(to, node, password).await
    }

    /// PLAIN and bind on a stream already opened.
    pub async fn authenticate(&mut self, to: &str, node: &str, password: &str) -> String {
        self.send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            plain(node, password)
        ))
        .await;
        self.expect("<success").await;
        self.open(to).await;
        self.send(r#"<iq type="set" id="bind1" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#)
            .await;
        let bound = self.expect("bind1").await;
        let jid = between(&bound, "<jid>", "</jid>").to_owned();
        self.jid = jid.clone();
        jid
    }

    /// `login` followed by initial presence, waiting for its echo.
    pub async fn online(&mut self, to: &str, node: &str, password: &str) -> String {
        let jid = self.login(to, node, password).await;
        self.send(r#"<presence xmlns="jabber:client"/>"#).await;
        self.expect("<presence").await;
        jid
    }

    /// Initial presence on a bound session, waiting for its echo and then for the answer to a ping sent
    /// after it: a session handles its stanzas in order, so whatever the presence set off has been
    /// handled. Returns the ping's answer.
    pub async fn available_and_handled(&mut self) -> String {
        self.send(r#"<presence xmlns="jabber:client"/>"#).await;
        self.expect("<presence").await;
        self.send(
            r#"<iq type="get" id="after-presence" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#,
        )
        .await;
        self.expect("after-presence").await
    }

    /// Reads until the server ends the stream (its close, or the connection gone); returns what came
    /// before. Panics when the stream stays open for the timeout.
    pub async fn until_closed(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(TIMEOUT, self.recv_inner()).await {
                Ok(None) => return seen,
                Ok(Some(text)) => {
                    let end = text.contains("</stream:stream>") || text.contains("<close");
                    seen.push(text);
                    if end {
                        return seen;
                    }
                }
                Err(_) => panic!("the stream was not closed within {TIMEOUT:?}; saw {seen:#?}"),
            }
        }
    }

    /// Drops the connection without closing the stream.
    pub fn kill(self) {
        drop(self);
    }
}

/// A SCRAM-SHA-1 exchange as a client (RFC 5802), over legacy SASL; returns the server's final message.
pub async fn scram_sha1(client: &mut Client, node: &str, password: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    use sha1::{Digest, Sha1};
    let b64 = base64::engine::general_purpose::STANDARD;
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    };
    let client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
    let first_bare = format!("n={node},r={client_nonce}");
    client
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="SCRAM-SHA-1">{}</auth>"#,
            b64.encode(format!("n,,{first_bare}"))
        ))
        .await;
    let challenge = client.expect("<challenge").await;
    let server_first =
        String::from_utf8(b64.decode(between(&challenge, ">", "</challenge>")).unwrap()).unwrap();
    let field = |name: &str| -> String {
        server_first
            .split(',')
            .find_map(|p| p.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    let (nonce, salt, iterations) = (
        field("r="),
        b64.decode(field("s=")).unwrap(),
        field("i=").parse::<u32>().unwrap(),
    );
    assert!(nonce.starts_with(client_nonce));
    let mut salted = [0u8; 20];
    pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha1::digest(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    client
        .send(&format!(
            r#"<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">{}</response>"#,
            b64.encode(format!("{without_proof},p={}", b64.encode(proof)))
        ))
        .await;
    let outcome = client.recv().await.expect("a SASL outcome");
    if outcome.contains("<success") {
        let server_key = hmac(&salted, b"Server Key");
        let expected = format!("v={}", b64.encode(hmac(&server_key, auth_message.as_bytes())));
        let got = String::from_utf8(b64.decode(between(&outcome, ">", "</success>")).unwrap()).unwrap();
        assert_eq!(got, expected, "server signature");
    }
    outcome
}

pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {text}"))
        + start.len();
    let to = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end} not in {text}"))
        + from;
    &text[from..to]
}

/// A TLS client connection trusting only `cert_pem`.
pub async fn tls_connect<S: Io + 'static>(io: S, cert_pem: &[u8]) -> impl Io {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &cert_pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, io).await.unwrap()
}
