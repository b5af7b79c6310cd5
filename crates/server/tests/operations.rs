//! End-to-end: running the real binary as an operator would. The access log and request spans, JSON
//! logs, `/ready` against `/health`, unknown configuration keys refused, and SIGHUP reloading the TLS
//! certificate and the log filter.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::world::{answer, World};
use support::{Db, Server};

/// Waits until the server's log contains `text` (the server logs before it answers, so this is only
/// for things that happen on their own, like a signal being handled).
async fn log_shows(server: &Server, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log_text().contains(text) {
        assert!(
            Instant::now() < deadline,
            "the log never showed {text:?}:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn access_log_names_route_status_and_latency_but_never_a_token() {
    let w = World::start(Db::Sqlite, &[], "Logs", &["alice"]).await;
    let token = w.token(0).await;
    let path = format!("/users/{}.json", w.id(0));
    let (status, _) = w.rest(Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    // A token in the query string, as file downloads take it.
    let (status, _) = answer(
        w.http
            .get(format!("{}/blobs/none/download?token={token}", w.server.http)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let log = w.server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("palaver::access") && l.contains("route=/users/{id}"))
        .unwrap_or_else(|| panic!("no access line for /users/{{id}}:\n{log}"));
    assert!(line.contains("method=\"GET\""), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(line.contains("latency_ms="), "{line}");
    assert!(line.contains("peer=127.0.0.1"), "{line}");
    assert!(
        log.lines().any(|l| l.contains("palaver::access")
            && l.contains("route=/blobs/{id}/download")
            && l.contains("status=404")),
        "{log}"
    );
    let session = log
        .lines()
        .filter(|l| l.contains("palaver::access") && l.contains("route=/session"))
        .count();
    assert_eq!(session, 1, "{log}");
    assert!(!log.contains(&token), "the token is in the log");
}

#[tokio::test]
async fn json_logs_carry_the_request_and_connection_spans() {
    let w = World::start(Db::Sqlite, &[("PALAVER_LOG_FORMAT", "json")], "Json", &["alice"]).await;
    let token = w.token(0).await;
    let (status, _) = w.rest(Method::GET, "/chat/Dialog", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let client = w.online(0).await;

    // The session's "online" event is logged inside its connection's span.
    let user = w.node(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines: Vec<Value> = loop {
        let lines: Vec<Value> = w
            .server
            .log_text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        if lines.iter().any(|l| l["span"]["user"] == user) {
            break lines;
        }
        assert!(Instant::now() < deadline, "no event in {user}'s connection span");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(client);
    let connection = lines.iter().find(|l| l["span"]["user"] == user).unwrap();
    assert_eq!(connection["span"]["name"], "xmpp");
    assert_eq!(
        connection["span"]["port"],
        w.server.ws.rsplit(':').next().unwrap()
    );
    let access = lines
        .iter()
        .find(|l| l["target"] == "palaver::access" && l["span"]["route"] == "/chat/Dialog")
        .expect("the access event of GET /chat/Dialog");
    assert_eq!(access["span"]["method"], "GET");
    assert_eq!(access["fields"]["status"], 200);
    assert!(access["fields"]["latency_ms"].is_number());
    assert_eq!(access["level"], "INFO");
}

#[tokio::test]
async fn ready_checks_the_database_while_health_stays_a_liveness_check() {
    let server = Server::start(Db::Postgres).await;
    let http = reqwest::Client::new();
    let get = |path: &str| answer(http.get(format!("{}{path}", server.http)));
    let (status, ready) = get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        ready,
        json!({
            "status": "ready",
            "database": "ok",
            "listeners": {
                "http": "serving", "https": "serving",
                "xmpp-tcp": "serving", "xmpp-tls": "serving",
                "xmpp-websocket": "serving", "xmpp-websocket-tls": "serving",
            },
        })
    );

    // The server's schema goes away under it.
    palaver_store::testing::drop_postgres_schema(server.schema.as_deref().unwrap())
        .await
        .unwrap();
    let (status, ready) = get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(
        (&ready["status"], &ready["database"]),
        (&json!("not ready"), &json!("unreachable"))
    );
    assert_eq!(ready["listeners"]["http"], "serving");
    let (status, health) = get("/health").await;
    assert_eq!((status, health), (StatusCode::OK, json!("ok")));
}

/// Runs `palaver app list` with a configuration; (success, stderr).
fn load_config(env: &[(&str, &str)]) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args(["app", "list"])
        .env("PALAVER_DATA_DIR", data.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn unknown_configuration_keys_are_errors_naming_the_key() {
    let (ok, error) = load_config(&[("PALAVER_HTTP_ADRESS", "127.0.0.1:1")]);
    assert!(!ok);
    assert!(error.contains("http_adress"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palaver.toml");
    std::fs::write(&file, "domain = \"chat.example.com\"\nsesion_ttl_secs = 60\n").unwrap();
    let (ok, error) = load_config(&[("PALAVER_CONFIG", file.to_str().unwrap())]);
    assert!(!ok);
    assert!(error.contains("sesion_ttl_secs"), "{error}");
    assert!(error.contains("palaver.toml"), "{error}");

    // Known keys, and the test tooling's own variables, are fine.
    std::fs::write(&file, "domain = \"chat.example.com\"\nsession_ttl_secs = 60\n").unwrap();
    let (ok, error) = load_config(&[
        ("PALAVER_CONFIG", file.to_str().unwrap()),
        ("PALAVER_TEST_SOMETHING", "1"),
    ]);
    assert!(ok, "{error}");
    let (ok, error) = load_config(&[("PALAVER_LOG_FORMAT", "xml")]);
    assert!(!ok && error.contains("log_format"), "{error}");
}

/// The certificate a TLS handshake with `addr` presents, as DER.
async fn presented_certificate(addr: &str) -> Vec<u8> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    /// Accepts any certificate: the test only looks at which one it is.
    #[derive(Debug)]
    struct Anything(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for Anything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Anything(provider)))
        .with_no_client_auth();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .unwrap();
    let (_, connection) = tls.get_ref();
    connection.peer_certificates().unwrap()[0].to_vec()
}

/// A fresh self-signed certificate and key, made by `palaver cert` in a directory of its own; the
/// certificate's DER.
fn new_certificate(dir: &std::path::Path) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_palaver"))
        .arg("cert")
        .env("PALAVER_DATA_DIR", dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let pem = std::fs::read(dir.join("tls/cert.pem")).unwrap();
    let first = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    first.to_vec()
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_the_log_filter() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (old, new) = (new_certificate(first.path()), new_certificate(second.path()));
    assert_ne!(old, new);
    let live = tempfile::tempdir().unwrap();
    let (cert, key) = (live.path().join("cert.pem"), live.path().join("key.pem"));
    std::fs::copy(first.path().join("tls/cert.pem"), &cert).unwrap();
    std::fs::copy(first.path().join("tls/key.pem"), &key).unwrap();
    let file = format!(
        "log = \"info\"\ntls_cert = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let server = Server::start_with_file(Db::Sqlite, &[], Some(&file)).await;
    let https = server.https.trim_start_matches("https://").to_owned();
    assert_eq!(presented_certificate(&https).await, old);
    assert_eq!(presented_certificate(&server.c2s_tls).await, old);
    let http = reqwest::Client::new();
    http.get(format!("{}/ready", server.http)).send().await.unwrap();
    assert!(server.log_text().contains("route=/ready"));

    // The certificate is renewed and the access log turned off in the file; then SIGHUP.
    std::fs::copy(second.path().join("tls/cert.pem"), &cert).unwrap();
    std::fs::copy(second.path().join("tls/key.pem"), &key).unwrap();
    let config = server.env.iter().find(|(k, _)| k == "PALAVER_CONFIG").unwrap();
    std::fs::write(
        &config.1,
        file.replace("log = \"info\"", "log = \"info,palaver::access=off\""),
    )
    .unwrap();
    let hangup = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    log_shows(&server, "TLS certificate reloaded").await;

    assert_eq!(presented_certificate(&https).await, new);
    assert_eq!(presented_certificate(&server.c2s_tls).await, new);
    assert_eq!(presented_certificate(&server.wss.to_string()).await, new);
    http.get(format!("{}/ready", server.http)).send().await.unwrap();
    assert_eq!(server.log_text().matches("route=/ready").count(), 1);

    // A broken certificate file: the server keeps the one it has.
    std::fs::write(&cert, "not a certificate").unwrap();
    Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    log_shows(&server, "TLS certificate not reloaded").await;
    assert_eq!(presented_certificate(&https).await, new);
}
