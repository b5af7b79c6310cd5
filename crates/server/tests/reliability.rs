//! End-to-end: how the real binary treats clients that misbehave or push its limits — a client too slow to
//! read, too many connections from one address, a stanza nested too deep — and what it writes where: secrets
//! on the terminal once, never in the log.

mod support;

use support::world::World;
use support::xmpp::{tls_connect, Client, Link};
use support::{Db, Server};

const SLOW_LOG_LINE: &str = "outbound queue full; closing slow session";

fn ping(id: &str) -> String {
    format!(r#"<iq type="get" id="{id}" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_once_and_logged_once() {
    let w = World::start(Db::Sqlite, &[], "Slow", &["slow", "fast"]).await;
    // The slow client is online, then reads nothing more.
    let mut slow = w.online(0).await;
    let to = w.bare(0);

    // Several connections of another user flood it: far more than its queue (512 stanzas) and the socket
    // buffers hold. Each stays within the per-connection burst allowance.
    const SENDERS: usize = 10;
    const EACH: usize = 150;
    let body = "x".repeat(16 * 1024);
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let mut sender = w.login(1).await;
        let (to, body) = (to.clone(), body.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..EACH {
                sender
                    .send(&format!(
                        r#"<message to="{to}" type="chat" id="s{s}m{i}" xmlns="jabber:client"><body>{body}</body></message>"#
                    ))
                    .await;
            }
            // A session handles its stanzas in order: the answer to this ping means every message above
            // has been routed.
            sender.send(&ping("done")).await;
            sender.expect(r#"id="done""#).await;
            sender
        }));
    }
    let mut keep = Vec::new();
    for sender in senders {
        keep.push(sender.await.unwrap());
    }

    let log = w.server.log_text();
    assert_eq!(
        log.matches(SLOW_LOG_LINE).count(),
        1,
        "one slow session, one log line; the log has:\n{}",
        log.lines()
            .filter(|l| l.contains(SLOW_LOG_LINE))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Reading again, the client finds what was already on its way, then one stream error, then the end.
    let (mut messages, mut errors) = (0, Vec::new());
    while let Some(frame) = slow.recv().await {
        if frame.starts_with("<message") {
            messages += 1;
        } else if frame.contains("urn:ietf:params:xml:ns:xmpp-streams") {
            errors.push(frame);
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("<policy-violation"), "{errors:?}");
    assert!(
        messages < SENDERS * EACH,
        "the flood was cut short ({messages} messages arrived)"
    );
    assert_eq!(w.server.log_text().matches(SLOW_LOG_LINE).count(), 1);

    // The senders were not disturbed.
    for (n, mut sender) in keep.into_iter().enumerate() {
        sender.send(&ping(&format!("alive{n}"))).await;
        sender.expect(&format!(r#"id="alive{n}""#)).await;
    }
}

const TCP_HEADER: &str = r#"<?xml version='1.0'?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="localhost" version="1.0">"#;
const WS_OPEN: &str = r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>"#;
const TOO_MANY: &str = "Too many connections from your address";

/// Reads a refused stream to its end: everything it said, in one string.
async fn read_refusal(client: &mut Client) -> String {
    let mut said = String::new();
    while let Some(part) = client.recv().await {
        said.push_str(&part);
    }
    said
}

/// A new TCP stream: Some when the server offers its features (STARTTLS first), None when it refuses the
/// connection.
async fn admitted(addr: &str) -> Option<Client> {
    let mut client = Client::tcp(addr).await;
    client.send(TCP_HEADER).await;
    let mut said = String::new();
    while let Some(part) = client.recv().await {
        said.push_str(&part);
        if said.contains("urn:ietf:params:xml:ns:xmpp-tls") {
            return Some(client);
        }
    }
    assert!(said.contains(TOO_MANY), "{said}");
    None
}

fn assert_tcp_refusal(said: &str) {
    let header = said.find("<stream:stream").expect(said);
    // The server writes the stream error with its namespace as the default one.
    let error = said
        .find(r#"<error xmlns="http://etherx.jabber.org/streams">"#)
        .expect(said);
    let close = said.find("</stream:stream>").expect(said);
    assert!(header < error && error < close, "{said}");
    assert!(said.contains("<policy-violation"), "{said}");
    assert!(said.contains(&format!(">{TOO_MANY}</text>")), "{said}");
}

#[tokio::test]
async fn connections_over_the_per_address_limit_are_told_why() {
    let w = World::start(
        Db::Sqlite,
        &[("PALAVER_XMPP_MAX_CONNECTIONS_PER_IP", "2")],
        "Limits",
        &["ann"],
    )
    .await;
    let cert = std::fs::read(w.server.data_dir.path().join("tls/cert.pem")).unwrap();

    // Plain TCP: two connections are let in, the third gets a stream header, the error and the close.
    let mut first = Client::tcp(&w.server.c2s).await;
    first.open("localhost").await;
    let mut second = Client::tcp(&w.server.c2s).await;
    second.open("localhost").await;
    let mut third = Client::tcp(&w.server.c2s).await;
    third.send(TCP_HEADER).await;
    assert_tcp_refusal(&read_refusal(&mut third).await);

    // When one leaves, there is room again.
    drop(first);
    let mut again = None;
    for _ in 0..100 {
        if let Some(client) = admitted(&w.server.c2s).await {
            again = Some(client);
            break;
        }
        // The server has not seen the first one go yet.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a freed slot is usable");

    // Direct TLS: the same after the TLS handshake.
    let tls = |addr: String, cert: Vec<u8>| async move {
        let io = tokio::net::TcpStream::connect(&addr).await.unwrap();
        Client {
            link: Link::Tcp(Box::new(tls_connect(io, &cert).await), String::new()),
            jid: String::new(),
        }
    };
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut client = tls(w.server.c2s_tls.clone(), cert.clone()).await;
        client.open("localhost").await;
        kept.push(client);
    }
    let mut refused = tls(w.server.c2s_tls.clone(), cert.clone()).await;
    refused.send(TCP_HEADER).await;
    assert_tcp_refusal(&read_refusal(&mut refused).await);

    // WebSocket (RFC 7395): `<open/>`, the error, `<close/>`.
    let mut ann = w.login(0).await;
    let mut other = Client::websocket(&w.server.ws).await;
    other.open("localhost").await;
    let mut refused = Client::websocket(&w.server.ws).await;
    refused.send(WS_OPEN).await;
    let frames = {
        let mut frames = Vec::new();
        while let Some(frame) = refused.recv().await {
            frames.push(frame);
        }
        frames
    };
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert!(frames[0].starts_with("<open "), "{frames:?}");
    assert!(
        frames[1].starts_with(r#"<error xmlns="http://etherx.jabber.org/streams">"#),
        "{frames:?}"
    );
    assert!(frames[1].contains("<policy-violation"), "{frames:?}");
    assert!(frames[1].contains(&format!(">{TOO_MANY}</text>")), "{frames:?}");
    assert!(frames[2].starts_with("<close "), "{frames:?}");

    // The connections within the limit still work.
    ann.send(&ping("p1")).await;
    ann.expect(r#"id="p1""#).await;
}

#[tokio::test]
async fn a_stanza_nested_too_deep_is_refused_for_its_depth_not_its_size() {
    let w = World::start(Db::Sqlite, &[], "Deep", &["ann"]).await;
    for tcp in [false, true] {
        let mut client = if tcp {
            Client::tcp(&w.server.c2s).await
        } else {
            Client::websocket(&w.server.ws).await
        };
        client.open("localhost").await;
        // 200 levels: a few hundred bytes, far below the size limit.
        client
            .send(&format!(
                r#"<message xmlns="jabber:client">{}"#,
                "<a>".repeat(200)
            ))
            .await;
        let error = client.expect("policy-violation").await;
        assert!(error.contains("nested too deeply"), "{error}");
        assert!(!error.contains("size limit"), "{error}");
    }
}

#[tokio::test]
async fn secrets_go_to_the_terminal_once_and_never_to_the_log() {
    let mut server = Server::start(Db::Sqlite).await;
    let token = std::fs::read_to_string(server.data_dir.path().join("admin_token")).unwrap();
    let token = token.trim().to_owned();
    let apps = server.cli(&["app", "list"]);
    let secret = apps[0]["auth_secret"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32 && secret.len() >= 16, "{token} {secret}");

    let first_out = server.stdout_text();
    assert!(first_out.contains(&token), "stdout: {first_out}");
    assert!(first_out.contains(&secret), "stdout: {first_out}");
    let log = server.log_text();
    assert!(log.contains("generated the admin API token"), "{log}");
    assert!(log.contains("created the default application"), "{log}");
    assert!(!log.contains(&token), "the admin token is in the log:\n{log}");
    assert!(!log.contains(&secret), "the auth secret is in the log:\n{log}");

    // A restart makes nothing new, so prints nothing secret.
    let status = server.stop();
    assert!(status.success(), "{status}:\n{}", server.log_text());
    server.spawn().await;
    let later_out = server.stdout_text()[first_out.len()..].to_owned();
    assert!(!later_out.contains(&token), "stdout: {later_out}");
    assert!(!later_out.contains(&secret), "stdout: {later_out}");
    let log = server.log_text();
    assert!(!log.contains(&token) && !log.contains(&secret), "{log}");
}

#[tokio::test]
async fn every_http_response_carries_the_security_headers() {
    let server = Server::start(Db::Sqlite).await;
    let plain = reqwest::Client::new();
    let tls = server.https_client();
    let requests = [
        (plain.get(format!("{}/health", server.http)), false),
        // An error answer too, not only successful ones.
        (plain.get(format!("{}/users.json", server.http)), false),
        (tls.get(format!("{}/health", server.https)), true),
        (tls.get(format!("{}/users.json", server.https)), true),
    ];
    for (request, over_tls) in requests {
        let response = request.send().await.unwrap();
        let headers = response.headers();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(
            header("strict-transport-security").as_deref(),
            over_tls.then_some("max-age=31536000"),
            "{}",
            response.url()
        );
    }
}

#[tokio::test]
async fn a_stanza_before_login_or_invalid_utf8_ends_the_stream_and_reaches_nobody() {
    let w = World::start(Db::Sqlite, &[], "Early", &["ann", "ben"]).await;
    let mut ben = w.online(1).await;
    for tcp in [false, true] {
        let mut client = if tcp {
            Client::tcp(&w.server.c2s).await
        } else {
            Client::websocket(&w.server.ws).await
        };
        client.open("localhost").await;
        client
            .send(&format!(
                r#"<message to="{}" type="chat" id="early" xmlns="jabber:client"><body>before login</body></message>"#,
                w.bare(1)
            ))
            .await;
        let error = client.expect("not-authorized").await;
        assert!(error.contains(">Authenticate first</text>"), "{error}");
    }
    // Bytes that are not UTF-8 inside a stanza.
    let mut client = Client::tcp(&w.server.c2s).await;
    client.open("localhost").await;
    if let Link::Tcp(io, _) = &mut client.link {
        use tokio::io::AsyncWriteExt;
        io.write_all(b"<presence><status>\xff\xfe</status></presence>")
            .await
            .unwrap();
    }
    let error = client.expect("not-well-formed").await;
    assert!(error.contains("http://etherx.jabber.org/streams"), "{error}");

    // Ben got none of it, and is still served.
    ben.send(&ping("b1")).await;
    let next = ben.expect("").await;
    assert!(next.contains(r#"id="b1""#), "{next}");
}

/// Found by the `extra_params` fuzz target: text that XML 1.0 cannot carry (control characters) given over
/// REST became a stanza the serializer panicked on. It is dropped from the text instead; the message
/// arrives and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_rest_reach_xmpp_clients_without_them() {
    let w = World::start(Db::Sqlite, &[], "Control", &["ann", "ben"]).await;
    let mut ben = w.online(1).await;
    let token = w.token(0).await;
    let (status, body) = w
        .rest(
            reqwest::Method::POST,
            "/chat/Message.json",
            &token,
            Some(serde_json::json!({"recipient_id": w.id(1), "message": "bell\u{8}end\u{1}",
                "send_to_chat": 1, "custom": "a\u{0}b", "attachments": [{"id": "x\u{1b}y", "type": "image"}]})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let message = ben.expect("<body>").await;
    assert!(message.contains("<body>bellend</body>"), "{message}");
    assert!(message.contains("<custom>ab</custom>"), "{message}");
    assert!(message.contains(r#"id="xy""#), "{message}");
    // The session and the server are still there.
    ben.send(r#"<iq type="get" id="still" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    ben.expect("still").await;
}

/// A ClientHello that offers only TLS 1.`minor - 1` (legacy version 0x03`minor`, no supported_versions
/// extension): 0x02 is TLS 1.1, 0x03 TLS 1.2.
fn client_hello(minor: u8) -> Vec<u8> {
    let mut body = vec![0x03, minor]; // client_version
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // no session id
                  // Suites the server has (ECDHE with AES-GCM), so only the version can be what it refuses.
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0xc0, 0x2b]);
    body.extend_from_slice(&[0x01, 0x00]); // null compression
                                           // Extensions: supported_groups (x25519, P-256), signature_algorithms (rsa_pss_rsae_sha256,
                                           // ecdsa_secp256r1_sha256, rsa_pkcs1_sha256), ec_point_formats (uncompressed).
    let extensions: [u8; 28] = [
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, //
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x08, 0x04, 0x04, 0x03, 0x04, 0x01, //
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,
    ];
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8]; // ClientHello
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8]; // handshake record
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn a_client_offering_only_tls_1_1_is_refused_on_every_tls_listener() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(Db::Sqlite).await;
    for addr in [&server.https, &server.wss, &server.c2s_tls] {
        // host:port, whether or not the address carries a scheme and a path.
        let addr = addr.split("://").last().unwrap().split('/').next().unwrap();
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(&client_hello(0x02)).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            socket.read_to_end(&mut answer),
        )
        .await;
        // One alert record (content type 21), fatal (2), protocol_version (70); no ServerHello.
        assert!(answer.len() >= 7, "{addr}: {answer:?}");
        assert_eq!(
            (answer[0], answer[5], answer[6]),
            (0x15, 2, 70),
            "{addr}: {answer:?}"
        );

        // The same hello offering TLS 1.2 gets a ServerHello (a handshake record, type 22): the version
        // alone was refused.
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(&client_hello(0x03)).await.unwrap();
        let mut first = [0u8; 6];
        socket.read_exact(&mut first).await.unwrap();
        assert_eq!((first[0], first[5]), (0x16, 0x02), "{addr}: {first:?}");
    }
}
