//! The services that carry notifications to devices: FCM HTTP v1, APNs (token-based, HTTP/2) and a
//! generic webhook. Each answers one send with `Ok` or a `SendError` that says what to do next.

pub mod apns;
pub mod fcm;
pub mod webhook;

use std::time::Duration;

/// Why a send did not succeed, and so what the worker does with the job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// A passing failure (network, 5xx, 429, an expired provider token): try again later, not before
    /// `after` when the provider said so.
    #[error("{reason}")]
    Retry { reason: String, after: Option<Duration> },
    /// The device token is no longer valid: the subscription goes.
    #[error("invalid device token: {0}")]
    InvalidToken(String),
    /// Will never work as it is (bad credentials, a rejected payload): recorded as failed.
    #[error("{0}")]
    Failed(String),
}

impl SendError {
    pub fn retry(reason: impl Into<String>) -> SendError {
        SendError::Retry {
            reason: reason.into(),
            after: None,
        }
    }

    /// A transport error: timeouts and connection failures are worth another try.
    pub fn from_http(error: reqwest::Error) -> SendError {
        SendError::retry(format!("request failed: {error}"))
    }
}

/// `Retry-After` in seconds, if the response has one.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// What a non-success status means when the provider said nothing more specific.
pub(crate) fn by_status(status: reqwest::StatusCode, after: Option<Duration>, detail: String) -> SendError {
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        SendError::Retry {
            reason: format!("{status}: {detail}"),
            after,
        }
    } else {
        SendError::Failed(format!("{status}: {detail}"))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// At most this many characters of a response body in logs and records.
pub(crate) fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(300).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}
