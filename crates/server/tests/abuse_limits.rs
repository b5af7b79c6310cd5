//! End-to-end: the abuse limits (docs/reliability.md#abuse-limits). Each limit is set low here, with a
//! refill so slow (one request per 100 s) that the bucket does not refill during the test, so the outcome
//! does not depend on timing: the burst passes, the next request is refused with the protocol's own
//! error, and the refusal is counted in `palaver_limited_total`.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::world::{answer, World};
use support::xmpp::Client;
use support::Db;

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `palaver_limited_total{limit="…"}` from the metrics listener (which no REST limit applies to).
async fn limited(metrics_addr: &str, limit: &str) -> u64 {
    let page = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let needle = format!("palaver_limited_total{{limit=\"{limit}\"}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(&needle))
        .map(|value| value.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

fn assert_429(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        body,
        &json!({"errors": {"base": ["Too many requests, please retry later"]}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_requests_over_the_token_limit_get_429_with_retry_after() {
    let metrics = free_addr();
    let w = World::start(
        Db::Sqlite,
        &[
            ("PALAVER_METRICS_ADDR", &metrics),
            ("PALAVER_REST_RATE_PER_TOKEN", "0.01"),
            ("PALAVER_REST_BURST_PER_TOKEN", "5"),
        ],
        "Limits",
        &["ann", "ben"],
    )
    .await;
    let (ann, ben) = (w.token(0).await, w.token(1).await);
    let path = format!("/users/{}.json", w.id(1));
    for _ in 0..5 {
        let (status, body) = w.rest(Method::GET, &path, &ann, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = w
        .http
        .get(format!("{}{path}", w.server.http))
        .header("CB-Token", &ann)
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry_after), "Retry-After: {retry_after}");
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_429(status, &body);
    // Another token of the same address is not held back by ann's.
    let (status, _) = w.rest(Method::GET, &path, &ben, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limited(&metrics, "rest_token").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_requests_over_the_address_limit_get_429() {
    let metrics = free_addr();
    let w = World::start(
        Db::Sqlite,
        &[
            ("PALAVER_METRICS_ADDR", &metrics),
            ("PALAVER_REST_RATE_PER_ADDRESS", "0.01"),
            ("PALAVER_REST_BURST_PER_ADDRESS", "40"),
        ],
        "Limits",
        &["ann"],
    )
    .await;
    // The start-up health checks took some of the burst; the rest goes now.
    let mut refused = None;
    for sent in 1..=60 {
        let (status, body) = answer(w.http.get(format!("{}/health", w.server.http))).await;
        if status != StatusCode::OK {
            refused = Some((sent, status, body));
            break;
        }
    }
    let (sent, status, body) = refused.expect("the address limit was never reached");
    assert!(sent > 1, "refused at once");
    assert_429(status, &body);
    assert_eq!(limited(&metrics, "rest_address").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signups_over_the_address_limit_get_429() {
    let metrics = free_addr();
    let w = World::start(
        Db::Sqlite,
        &[
            ("PALAVER_METRICS_ADDR", &metrics),
            ("PALAVER_SIGNUP_RATE_PER_ADDRESS", "0.01"),
            ("PALAVER_SIGNUP_BURST_PER_ADDRESS", "3"),
        ],
        "Signups",
        &[],
    )
    .await;
    let signup = |n: usize| {
        w.http
            .post(format!("{}/users.json", w.server.http))
            .header("CB-AuthKey", &w.key)
            .json(&json!({"user": {"login": format!("new{n}"), "password": "password-123"}}))
    };
    for n in 0..3 {
        let (status, body) = answer(signup(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = answer(signup(3)).await;
    assert_429(status, &body);
    assert_eq!(limited(&metrics, "signup").await, 1);
    // Other requests from the address are not sign-ups and still pass.
    let (status, _) = answer(w.http.get(format!("{}/health", w.server.http))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_over_the_per_user_cap_get_resource_constraint() {
    let metrics = free_addr();
    let w = World::start(
        Db::Sqlite,
        &[
            ("PALAVER_METRICS_ADDR", &metrics),
            ("PALAVER_XMPP_MAX_SESSIONS_PER_USER", "2"),
        ],
        "Sessions",
        &["ann"],
    )
    .await;
    let first = w.login(0).await;
    let _second = w.login(0).await;
    let mut third = Client::websocket(&w.server.ws).await;
    third.open("localhost").await;
    third
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            support::xmpp::plain(&w.node(0), &support::world::password("ann"))
        ))
        .await;
    third.expect("<success").await;
    third.open("localhost").await;
    third
        .send(r#"<iq type="set" id="bind3" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#)
        .await;
    let refused = third.expect("bind3").await;
    assert!(refused.contains(r#"type="error""#), "{refused}");
    assert!(refused.contains("<resource-constraint"), "{refused}");
    assert!(refused.contains("Too many sessions for this user"), "{refused}");
    assert_eq!(limited(&metrics, "user_sessions").await, 1);
    // Once a session ends, a new one binds.
    first.kill();
    let mut again = None;
    for attempt in 0..50 {
        third
            .send(&format!(
                r#"<iq type="set" id="again{attempt}" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#
            ))
            .await;
        let answer = third.expect(&format!("again{attempt}")).await;
        if answer.contains("<jid>") {
            again = Some(answer);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "no bind after a session ended");
    // One log line per refusal, none for the sessions let in.
    let log = w.server.log_text();
    let lines = log.matches("too many sessions for this user").count() as u64;
    assert_eq!(lines, limited(&metrics, "user_sessions").await, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_its_byte_rate_is_slowed_and_loses_nothing() {
    let metrics = free_addr();
    let w = World::start(
        Db::Sqlite,
        &[
            ("PALAVER_METRICS_ADDR", &metrics),
            ("PALAVER_XMPP_BYTE_RATE", "4000"),
            ("PALAVER_XMPP_BYTE_BURST", "4000"),
        ],
        "Bytes",
        &["ann", "ben"],
    )
    .await;
    let mut ann = w.online(0).await;
    let mut ben = w.online(1).await;
    let filler = "x".repeat(1500);
    for n in 0..6 {
        ann.send(&format!(
            r#"<message xmlns="jabber:client" type="chat" to="{}" id="m{n}"><body>{n} {filler}</body></message>"#,
            w.bare(1)
        ))
        .await;
    }
    for n in 0..6 {
        ben.expect(&format!(r#"id="m{n}""#)).await;
    }
    assert!(limited(&metrics, "xmpp_bytes").await >= 1);
}
