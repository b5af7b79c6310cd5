//! End-to-end: the Prometheus page of the real binary. It scrapes `/metrics`, does real traffic — a REST
//! sign-up and session, XMPP logins (PLAIN with a password over WebSocket, SCRAM-SHA-1 with the session
//! token), 1-1 messages, a failed login over TCP, a push event delivered to the webhook — and checks that
//! each counter moved by exactly what that traffic did, that the sessions gauge is back at zero once
//! everyone left, and that the page is well-formed Prometheus text. Also: `PALAVER_METRICS_ADDR` moves the
//! page to a listener of its own.

mod support;

use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::world::{answer, World};
use support::xmpp::{plain, scram_sha1, Client};
use support::Db;

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scraped page.
struct Page {
    text: String,
    samples: Vec<Sample>,
    /// Metric name -> type, from the `# TYPE` lines.
    types: BTreeMap<String, String>,
}

impl Page {
    /// Parses the text exposition format strictly: a comment is `# HELP name text` or `# TYPE name type`;
    /// every other non-empty line is one sample whose metric has a `# TYPE` line before it.
    fn parse(text: &str) -> Page {
        let mut page = Page {
            text: text.to_owned(),
            samples: Vec::new(),
            types: BTreeMap::new(),
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let (keyword, name, rest) = (parts.next(), parts.next(), parts.next());
                let name = name.unwrap_or_else(|| panic!("comment without a metric name: {line:?}"));
                assert!(is_metric_name(name), "bad metric name in {line:?}");
                match (keyword, rest) {
                    (Some("HELP"), Some(_)) => {}
                    (Some("TYPE"), Some(kind)) => {
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                            "unknown type in {line:?}"
                        );
                        page.types.insert(name.to_owned(), kind.to_owned());
                    }
                    _ => panic!("a comment that is neither HELP nor TYPE: {line:?}"),
                }
                continue;
            }
            let sample = parse_sample(line);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| sample.name.strip_suffix(suffix))
                .filter(|base| page.types.get(*base).is_some_and(|t| t == "histogram"))
                .unwrap_or(&sample.name);
            assert!(page.types.contains_key(family), "no # TYPE before {line:?}");
            page.samples.push(sample);
        }
        page
    }

    /// The sample with exactly these labels, if the page has it.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut found = self
            .samples
            .iter()
            .filter(|s| s.name == name && s.labels == wanted);
        let value = found.next().map(|s| s.value);
        assert!(found.next().is_none(), "{name} {labels:?} twice on the page");
        value
    }

    /// Like `get`, with a counter nobody touched yet reading 0.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{label="value",…} value` (labels optional; label values escape `\`, `"` and newlines).
fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let name = &line[..name_end];
    assert!(is_metric_name(name), "bad metric name in {line:?}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = inner
                .split_once("=\"")
                .unwrap_or_else(|| panic!("bad label in {line:?}"));
            assert!(
                is_metric_name(key) && !key.contains(':'),
                "bad label name {key:?} in {line:?}"
            );
            let mut value = String::new();
            let mut chars = after_key.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value in {line:?}"),
                }
            };
            labels.insert(key.to_owned(), value);
            inner = &after_key[end + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
    let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

async fn scrape(w: &World) -> Page {
    let response = w
        .http
        .get(format!("{}/metrics", w.server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Page::parse(&response.text().await.unwrap())
}

/// Scrapes until `ready` holds (the server finishes some work after the client saw its effect).
async fn scrape_until(w: &World, what: &str, ready: impl Fn(&Page) -> bool) -> Page {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = scrape(w).await;
        if ready(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "{what} never showed:\n{}", page.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A webhook receiver on a free loopback port: its URL and how many posts it got.
async fn webhook() -> (String, Arc<AtomicUsize>) {
    let posts = Arc::new(AtomicUsize::new(0));
    let counted = posts.clone();
    let router = Router::new().route(
        "/push",
        post(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, posts)
}

const WS: (&str, &str) = ("transport", "websocket");
const TCP: (&str, &str) = ("transport", "tcp");

#[tokio::test]
async fn counters_move_by_exactly_what_the_traffic_did() {
    let (webhook_url, posts) = webhook().await;
    let env = [
        ("PALAVER_PUSH_WEBHOOK_URL", webhook_url.as_str()),
        // No server pings during the test: every iq counted below is one the test caused.
        ("PALAVER_XMPP_PING_INTERVAL_SECS", "3600"),
    ];
    let w = World::start(Db::Sqlite, &env, "Metrics", &["ann", "ben"]).await;
    let before = scrape(&w).await;
    // Gauges are on the page before anything happened.
    assert_eq!(before.get("palaver_xmpp_sessions", &[WS]), Some(0.0));
    assert_eq!(before.get("palaver_xmpp_sessions", &[TCP]), Some(0.0));
    assert_eq!(before.get("palaver_push_queue_depth", &[]), Some(0.0));

    // REST: a sign-up with the application key, a user session, a read, and a path no route has.
    let (status, signed_up) = answer(
        w.http
            .post(format!("{}/users.json", w.server.http))
            .header("CB-AuthKey", &w.key)
            .json(&json!({"user": {"login": "cat", "password": "cat-password"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{signed_up}");
    let cat = signed_up["user"]["id"].as_i64().unwrap();
    let (status, session) = answer(
        w.http
            .post(format!("{}/session.json", w.server.http))
            .json(&json!({"application_id": w.app, "auth_key": w.key,
                "user": {"login": "cat", "password": "cat-password"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["session"]["token"].as_str().unwrap().to_owned();
    let (status, _) = w
        .rest(reqwest::Method::GET, &format!("/users/{cat}.json"), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w
        .rest(reqwest::Method::GET, &format!("/no/such/{cat}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // XMPP: ann and ben with PLAIN and their passwords, cat with SCRAM-SHA-1 and the session token.
    let mut ann = w.online(0).await;
    let mut ben = w.online(1).await;
    let mut cat_client = Client::websocket(&w.server.ws).await;
    cat_client.open("localhost").await;
    let outcome = scram_sha1(&mut cat_client, &format!("{cat}-{}", w.app), &token).await;
    assert!(outcome.contains("<success"), "{outcome}");
    cat_client.open("localhost").await;
    cat_client
        .send(r#"<iq type="set" id="bind1" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#)
        .await;
    cat_client.expect("bind1").await;

    // Two 1-1 messages.
    for (id, text) in [("m1", "first"), ("m2", "second")] {
        ann.send(&format!(
            r#"<message xmlns="jabber:client" to="{}" type="chat" id="{id}"><body>{text}</body></message>"#,
            w.bare(1)
        ))
        .await;
        let got = ben.expect(text).await;
        assert!(got.contains(&format!(r#"id="{id}""#)), "{got}");
    }

    // A wrong password over TCP (loopback needs no STARTTLS): failure, and the server closes the stream.
    let mut intruder = Client::tcp(&w.server.c2s).await;
    intruder.open("localhost").await;
    intruder
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            plain(&w.node(0), "not-the-password")
        ))
        .await;
    let failure = intruder.expect("<failure").await;
    assert!(failure.contains("not-authorized"), "{failure}");
    drop(intruder);

    let during = scrape(&w).await;
    assert_eq!(during.get("palaver_xmpp_sessions", &[WS]), Some(3.0));
    assert_eq!(during.get("palaver_xmpp_sessions", &[TCP]), Some(0.0));

    // Push: ben's device, and a push event for him; the webhook gets it once.
    let ben_token = w.token(1).await;
    let (status, subscribed) = w
        .rest(
            reqwest::Method::POST,
            "/subscriptions.json",
            &ben_token,
            Some(json!({
                "notification_channel": "gcm",
                "push_token": {"environment": "development", "client_identification_sequence": "fcm-ben"},
                "device": {"platform": "android", "udid": "ben-phone"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{subscribed}");
    let (status, event) = w
        .rest(
            reqwest::Method::POST,
            "/events.json",
            &token,
            Some(
                json!({"event": {"notification_type": "push", "message": "aGVsbG8=",
                "user": {"ids": w.id(1).to_string()}}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");

    // Everyone leaves.
    for client in [&mut ann, &mut ben, &mut cat_client] {
        client
            .send(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#)
            .await;
    }
    drop((ann, ben, cat_client));
    let sent_push = ("outcome", "sent");
    let webhook_label = ("provider", "webhook");
    let after = scrape_until(&w, "the end of every session and the push", |page| {
        page.get("palaver_xmpp_sessions", &[WS]) == Some(0.0)
            && page.count("palaver_xmpp_connections_closed_total", &[WS])
                == before.count("palaver_xmpp_connections_closed_total", &[WS]) + 3.0
            && page.count("palaver_push_sends_total", &[webhook_label, sent_push]) > 0.0
    })
    .await;
    assert_eq!(posts.load(Ordering::SeqCst), 1);

    let moved = |name: &str, labels: &[(&str, &str)]| after.count(name, labels) - before.count(name, labels);

    // REST, by method, matched route and status.
    let requests = "palaver_http_requests_total";
    let rest = |method, route, status| [("method", method), ("route", route), ("status", status)];
    assert_eq!(moved(requests, &rest("POST", "/users", "201")), 1.0);
    // Two sessions: cat's above, and the one `token(1)` made for ben.
    assert_eq!(moved(requests, &rest("POST", "/session", "201")), 2.0);
    assert_eq!(moved(requests, &rest("GET", "/users/{id}", "200")), 1.0);
    assert_eq!(moved(requests, &rest("GET", "unmatched", "404")), 1.0);
    assert_eq!(moved(requests, &rest("POST", "/subscriptions", "201")), 1.0);
    assert_eq!(moved(requests, &rest("POST", "/events", "201")), 1.0);
    let timed = [("method", "POST"), ("route", "/session")];
    assert_eq!(moved("palaver_http_request_duration_seconds_count", &timed), 2.0);
    let all_buckets = [("method", "POST"), ("route", "/session"), ("le", "+Inf")];
    assert_eq!(
        after.count("palaver_http_request_duration_seconds_bucket", &all_buckets),
        after.count("palaver_http_request_duration_seconds_count", &timed)
    );

    // XMPP connections and sessions.
    assert_eq!(moved("palaver_xmpp_connections_opened_total", &[WS]), 3.0);
    assert_eq!(moved("palaver_xmpp_connections_closed_total", &[WS]), 3.0);
    assert_eq!(moved("palaver_xmpp_connections_opened_total", &[TCP]), 1.0);
    assert_eq!(moved("palaver_xmpp_connections_closed_total", &[TCP]), 1.0);
    assert_eq!(after.get("palaver_xmpp_sessions", &[TCP]), Some(0.0));

    // Logins by mechanism and credential; the failure by mechanism and condition.
    let logins = "palaver_xmpp_logins_total";
    let login = |mechanism, credential| [("mechanism", mechanism), ("credential", credential)];
    assert_eq!(moved(logins, &login("PLAIN", "password")), 2.0);
    assert_eq!(moved(logins, &login("SCRAM-SHA-1", "token")), 1.0);
    assert_eq!(moved(logins, &login("SCRAM-SHA-1", "password")), 0.0);
    assert_eq!(moved(logins, &login("SCRAM-SHA-256", "password")), 0.0);
    // cat's token was kept sealed until that login derived its keys; ben's never was.
    assert_eq!(moved("palaver_token_keys_derived_total", &[]), 1.0);
    let failure = [("mechanism", "PLAIN"), ("reason", "not-authorized")];
    assert_eq!(moved("palaver_xmpp_login_failures_total", &failure), 1.0);

    // Stanzas: the clients sent three binds, two presences and two messages; the server answered the
    // binds, echoed each presence and delivered both messages.
    let kind = |k| [("kind", k)];
    let received = "palaver_xmpp_stanzas_received_total";
    let sent = "palaver_xmpp_stanzas_sent_total";
    assert_eq!(moved(received, &kind("iq")), 3.0);
    assert_eq!(moved(received, &kind("presence")), 2.0);
    assert_eq!(moved(received, &kind("message")), 2.0);
    assert_eq!(moved(sent, &kind("iq")), 3.0);
    assert_eq!(moved(sent, &kind("presence")), 2.0);
    assert_eq!(moved(sent, &kind("message")), 2.0);
    assert_eq!(
        moved("palaver_xmpp_messages_routed_total", &[("type", "chat")]),
        2.0
    );

    // Push.
    assert_eq!(
        moved("palaver_push_sends_total", &[webhook_label, sent_push]),
        1.0
    );
    for outcome in ["failed", "retried", "dead-token"] {
        assert_eq!(
            moved("palaver_push_sends_total", &[webhook_label, ("outcome", outcome)]),
            0.0
        );
    }

    // Help texts and types from the start-up descriptions.
    assert_eq!(after.types["palaver_xmpp_logins_total"], "counter");
    assert_eq!(after.types["palaver_xmpp_sessions"], "gauge");
    assert_eq!(after.types["palaver_http_request_duration_seconds"], "histogram");
    assert!(
        after
            .text
            .contains("# HELP palaver_xmpp_logins_total Successful SASL logins\n"),
        "{}",
        after.text
    );

    // No label carries an id, a token or a raw path.
    let values: HashSet<&str> = after
        .samples
        .iter()
        .flat_map(|s| s.labels.values().map(String::as_str))
        .collect();
    for value in &values {
        assert!(
            !value.contains(&token) && !value.contains(&cat.to_string()) && !value.contains("/no/"),
            "label value {value:?} leaks request details"
        );
    }
    // The token appears nowhere on the page.
    assert!(!after.text.contains(&token));
}

/// The bytes of lines in history's journal on disk (SQLite's `palaver.db.history/` in the data
/// directory): each segment's lines, up to the zeros that fill it to its reserved size.
fn journal_bytes_on_disk(w: &World) -> u64 {
    let dir = w.server.data_dir.path().join("palaver.db.history");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let lines = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |last| last + 1);
            assert!(
                bytes[lines..].iter().all(|&b| b == 0),
                "only zeros after the lines"
            );
            lines as u64
        })
        .sum()
}

#[tokio::test]
async fn the_history_journal_counts_its_lines_and_bytes_and_what_the_database_has_not_committed() {
    const LINES: &str = "palaver_history_journal_lines_total";
    const BYTES: &str = "palaver_history_journal_bytes_total";
    const PENDING: &str = "palaver_history_journal_pending";
    let w = World::start(Db::Sqlite, &[], "Journal", &["ann", "ben"]).await;
    let before = scrape(&w).await;
    assert_eq!(before.get(PENDING, &[]), Some(0.0));
    assert_eq!(before.types[PENDING], "gauge");
    let mut ann = w.online(0).await;
    let mut ben = w.online(1).await;
    // Three messages saved to history, one that is not (it never reaches the journal).
    for (id, text, saved) in [
        ("j1", "kept one", 1),
        ("j2", "not kept", 0),
        ("j3", "kept two", 1),
        ("j4", "kept three", 1),
    ] {
        ann.send(&format!(
            r#"<message xmlns="jabber:client" to="{}" type="chat" id="{id}"><body>{text}</body><extraParams xmlns="jabber:client"><save_to_history>{saved}</save_to_history></extraParams></message>"#,
            w.bare(1)
        ))
        .await;
        ben.expect(text).await;
    }
    let after = scrape_until(&w, "the journaled messages committed", |page| {
        page.count(LINES, &[]) == 3.0 && page.get(PENDING, &[]) == Some(0.0)
    })
    .await;
    assert_eq!(after.types[LINES], "counter");
    // Every byte counted is in the journal's live segment, and nothing else is.
    assert_eq!(after.count(BYTES, &[]), journal_bytes_on_disk(&w) as f64);
    assert!(after.count(BYTES, &[]) > 0.0);
}

#[tokio::test]
async fn a_metrics_address_of_its_own_takes_the_page_off_the_rest_ports() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = support::Server::start_with(Db::Sqlite, &[("PALAVER_METRICS_ADDR", &addr)]).await;
    let http = reqwest::Client::new();
    let own = http.get(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let page = Page::parse(&own.text().await.unwrap());
    assert_eq!(page.get("palaver_xmpp_sessions", &[WS]), Some(0.0));
    // The server's start-up health checks were counted.
    assert!(
        page.count(
            "palaver_http_requests_total",
            &[("method", "GET"), ("route", "/health"), ("status", "200")]
        ) >= 1.0
    );
    let rest = http.get(format!("{}/metrics", server.http)).send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_parser_refuses_malformed_lines() {
    let good = Page::parse(
        "# HELP a_total Things.\n# TYPE a_total counter\na_total{route=\"/users/{id}\",x=\"q\\\"uote\"} 3\n\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n",
    );
    assert_eq!(
        good.count("a_total", &[("route", "/users/{id}"), ("x", "q\"uote")]),
        3.0
    );
    assert_eq!(good.get("h_bucket", &[("le", "+Inf")]), Some(1.0));
    assert_eq!(good.get("h_count", &[]), Some(1.0));
    for bad in [
        "# TYPE a counter\na 1 2 3",
        "# TYPE a counter\na{x=1} 1",
        "a 1",
        "# TYPE a counter\na{x=\"1\"}1",
        "# NOTE a counter",
        "# TYPE 9a counter\n",
    ] {
        let bad = bad.to_owned();
        let result = std::panic::catch_unwind(move || Page::parse(&bad));
        assert!(result.is_err(), "accepted a malformed page");
    }
}
