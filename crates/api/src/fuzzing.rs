//! Entry point for the REST parameter fuzz target in `fuzz/` (docs/reliability.md#fuzzing); the replay
//! test `tests/fuzz_replay.rs` runs every seed and every input that ever failed through it.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use serde_json::Value;

use crate::extract::Input;
use crate::params::{flag, integer, list, parse_urlencoded, text};

/// The query string and body of a request as the SDKs send them. The first byte picks the method and
/// content type; the rest is `query 0xFF body`. Invariants: parsing never panics, every value can be read
/// with the loose readers, and body parameters win over query parameters.
pub fn rest_params(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let (query, body) = match rest.iter().position(|&b| b == 0xFF) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let parsed = parse_urlencoded(query);
    read_every_value(&Value::Object(parsed));

    let method = [Method::GET, Method::POST, Method::PUT, Method::DELETE][usize::from(control & 3)].clone();
    let content_type = if control & 4 == 0 {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    // Bytes a URI cannot hold are percent-encoded, as a client library would.
    let query: String = form_urlencoded::byte_serialize(query)
        .collect::<String>()
        .replace("%3D", "=")
        .replace("%26", "&");
    let Ok(request) = Request::builder()
        .method(method)
        .uri(format!("/chat/Dialog.json?{query}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    if let Ok(Input(params)) = block_on(Input::from_request(request, &())) {
        let body_params = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else if content_type.starts_with("application/x-www-form-urlencoded") || control & 3 == 3 {
            Some(parse_urlencoded(body))
        } else {
            match serde_json::from_slice(body) {
                Ok(Value::Object(object)) => Some(object),
                _ => panic!("a body that is not a JSON object was accepted"),
            }
        };
        for (key, value) in body_params.into_iter().flatten() {
            assert_eq!(params.get(&key), Some(&value), "body parameter {key:?} lost");
        }
        read_every_value(&Value::Object(params));
    }
}

fn read_every_value(value: &Value) {
    let _ = (
        text(Some(value)),
        integer(Some(value)),
        flag(Some(value)),
        list(Some(value)),
    );
    match value {
        Value::Object(object) => object.values().for_each(read_every_value),
        Value::Array(items) => items.iter().for_each(read_every_value),
        _ => {}
    }
}

/// Polls a future that never waits on I/O (the body is already in memory).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}
