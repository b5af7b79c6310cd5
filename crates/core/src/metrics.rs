//! The names of Palaver's Prometheus metrics and of their labels, in one place, and [`describe`], which
//! gives each its help text and unit at start-up. Every crate records through the `metrics` facade with
//! these constants; the server installs the recorder and serves the page at `/metrics`.
//!
//! Names follow the Prometheus conventions: a `palaver_` prefix, base units (`_seconds`), `_total` on
//! counters. Label values are always from a small fixed set (never ids, tokens or raw paths).

use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

// --- XMPP ---

/// Gauge: chat sessions bound on this node (including those waiting to be resumed), by `transport`.
pub const XMPP_SESSIONS: &str = "palaver_xmpp_sessions";
/// Counter: XMPP connections accepted, by `transport`.
pub const XMPP_CONNECTIONS_OPENED: &str = "palaver_xmpp_connections_opened_total";
/// Counter: XMPP connections ended, by `transport`.
pub const XMPP_CONNECTIONS_CLOSED: &str = "palaver_xmpp_connections_closed_total";
/// Counter: successful SASL logins, by `mechanism` and `credential` (password or session token).
pub const XMPP_LOGINS: &str = "palaver_xmpp_logins_total";
/// Counter: failed SASL logins, by `mechanism` and `reason` (the SASL failure condition).
pub const XMPP_LOGIN_FAILURES: &str = "palaver_xmpp_login_failures_total";
/// Counter: stanzas read from clients, by `kind` (message, presence, iq).
pub const XMPP_STANZAS_RECEIVED: &str = "palaver_xmpp_stanzas_received_total";
/// Counter: stanzas written to clients, by `kind`.
pub const XMPP_STANZAS_SENT: &str = "palaver_xmpp_stanzas_sent_total";
/// Counter: chat messages with content accepted from clients and routed, by `type` (chat, groupchat).
pub const XMPP_MESSAGES_ROUTED: &str = "palaver_xmpp_messages_routed_total";

// --- REST ---

/// Counter: HTTP requests answered, by `method`, `route` (the matched route pattern) and `status`.
pub const HTTP_REQUESTS: &str = "palaver_http_requests_total";
/// Histogram: time to answer an HTTP request (until the response head), by `method` and `route`.
pub const HTTP_REQUEST_DURATION: &str = "palaver_http_request_duration_seconds";

// --- Push ---

/// Gauge: push notifications waiting in the queue (sampled).
pub const PUSH_QUEUE_DEPTH: &str = "palaver_push_queue_depth";
/// Counter: push send attempts, by `provider` and `outcome` (sent, failed, retried, dead-token).
pub const PUSH_SENDS: &str = "palaver_push_sends_total";

// --- Store ---

/// Histogram: time one batched write to the database takes.
pub const STORE_WRITE_DURATION: &str = "palaver_store_write_seconds";
/// Histogram: writes in one batch.
pub const STORE_BATCH_SIZE: &str = "palaver_store_batch_size";
/// Gauge: writes waiting for the batch writer behind the batch it is on, as of that batch's start (near
/// zero while it keeps up; growing from batch to batch when it falls behind).
pub const STORE_QUEUE_DEPTH: &str = "palaver_store_queue_depth";
/// Histogram: time one checkpoint of SQLite's write-ahead log takes (run beside the writer).
pub const STORE_CHECKPOINT_DURATION: &str = "palaver_store_checkpoint_seconds";
/// Gauge: pages in SQLite's write-ahead log at the last checkpoint.
pub const STORE_CHECKPOINT_LOG_PAGES: &str = "palaver_store_checkpoint_log_pages";
/// Histogram: time from a message's arrival until it is durable and handed to its recipients.
pub const DELIVERY_DURATION: &str = "palaver_delivery_seconds";
/// Counter: messages appended to history's journal (SQLite: acknowledged from there, committed behind).
pub const HISTORY_JOURNAL_LINES: &str = "palaver_history_journal_lines_total";
/// Counter: bytes appended to history's journal.
pub const HISTORY_JOURNAL_BYTES: &str = "palaver_history_journal_bytes_total";
/// Gauge: messages in history's journal that the database has not committed yet.
pub const HISTORY_JOURNAL_PENDING: &str = "palaver_history_journal_pending";

// --- Logins ---

/// Gauge: password checks running now (bounded by the number of CPUs; the rest wait in a queue).
pub const PASSWORD_CHECKS_RUNNING: &str = "palaver_password_checks_running";
/// Counter: session tokens whose SCRAM keys a chat login derived on first use (see `token_seal`).
pub const TOKEN_KEYS_DERIVED: &str = "palaver_token_keys_derived_total";

// --- Abuse limits ---

/// Counter: requests, logins, sessions or reads held back or refused by an abuse limit, by `limit`
/// (see [`limit`]).
pub const LIMITED: &str = "palaver_limited_total";

/// Values of the `limit` label of [`LIMITED`].
pub mod limit {
    /// REST requests per session token (HTTP 429).
    pub const REST_TOKEN: &str = "rest_token";
    /// REST requests per client address (HTTP 429).
    pub const REST_ADDRESS: &str = "rest_address";
    /// User sign-ups per client address (HTTP 429).
    pub const SIGNUP: &str = "signup";
    /// Chat sessions per user (XMPP `resource-constraint` / `policy-violation`).
    pub const USER_SESSIONS: &str = "user_sessions";
    /// Inbound stanzas per connection, shaped (reading pauses).
    pub const XMPP_STANZAS: &str = "xmpp_stanzas";
    /// Inbound bytes per connection, shaped (reading pauses).
    pub const XMPP_BYTES: &str = "xmpp_bytes";
}

/// Label names.
pub mod label {
    pub const TRANSPORT: &str = "transport";
    pub const MECHANISM: &str = "mechanism";
    pub const CREDENTIAL: &str = "credential";
    pub const REASON: &str = "reason";
    pub const KIND: &str = "kind";
    pub const TYPE: &str = "type";
    pub const METHOD: &str = "method";
    pub const ROUTE: &str = "route";
    pub const STATUS: &str = "status";
    pub const PROVIDER: &str = "provider";
    pub const OUTCOME: &str = "outcome";
    pub const LIMIT: &str = "limit";
}

/// Histograms measured in seconds (the exporter gives them latency buckets).
pub const SECONDS_HISTOGRAMS: [&str; 4] = [
    HTTP_REQUEST_DURATION,
    STORE_WRITE_DURATION,
    STORE_CHECKPOINT_DURATION,
    DELIVERY_DURATION,
];

/// Gives every metric its help text and unit. Call once, after the recorder is installed.
pub fn describe() {
    describe_gauge!(
        XMPP_SESSIONS,
        Unit::Count,
        "Chat sessions bound on this node, including those waiting to be resumed"
    );
    describe_counter!(XMPP_CONNECTIONS_OPENED, Unit::Count, "XMPP connections accepted");
    describe_counter!(XMPP_CONNECTIONS_CLOSED, Unit::Count, "XMPP connections ended");
    describe_counter!(XMPP_LOGINS, Unit::Count, "Successful SASL logins");
    describe_counter!(XMPP_LOGIN_FAILURES, Unit::Count, "Failed SASL logins");
    describe_counter!(XMPP_STANZAS_RECEIVED, Unit::Count, "Stanzas read from clients");
    describe_counter!(XMPP_STANZAS_SENT, Unit::Count, "Stanzas written to clients");
    describe_counter!(
        XMPP_MESSAGES_ROUTED,
        Unit::Count,
        "Chat messages with content accepted from clients and routed"
    );
    describe_counter!(
        LIMITED,
        Unit::Count,
        "Requests, sessions or reads held back or refused by an abuse limit"
    );
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests answered");
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request"
    );
    describe_gauge!(
        PUSH_QUEUE_DEPTH,
        Unit::Count,
        "Push notifications waiting in the queue"
    );
    describe_counter!(PUSH_SENDS, Unit::Count, "Push send attempts by outcome");
    describe_histogram!(
        STORE_WRITE_DURATION,
        Unit::Seconds,
        "Time one batched database write takes"
    );
    describe_histogram!(STORE_BATCH_SIZE, Unit::Count, "Writes in one batch");
    describe_gauge!(
        STORE_QUEUE_DEPTH,
        Unit::Count,
        "Writes waiting behind the batch the writer is on, as of its start"
    );
    describe_histogram!(
        STORE_CHECKPOINT_DURATION,
        Unit::Seconds,
        "Time one checkpoint of the embedded database's write-ahead log takes"
    );
    describe_gauge!(
        STORE_CHECKPOINT_LOG_PAGES,
        Unit::Count,
        "Pages in the embedded database's write-ahead log at the last checkpoint"
    );
    describe_gauge!(
        PASSWORD_CHECKS_RUNNING,
        Unit::Count,
        "Password checks running now; the rest wait in a queue"
    );
    describe_counter!(
        TOKEN_KEYS_DERIVED,
        Unit::Count,
        "Session tokens whose SCRAM keys a chat login derived on first use"
    );
    describe_counter!(
        HISTORY_JOURNAL_LINES,
        Unit::Count,
        "Messages appended to history's journal"
    );
    describe_counter!(
        HISTORY_JOURNAL_BYTES,
        Unit::Bytes,
        "Bytes appended to history's journal"
    );
    describe_gauge!(
        HISTORY_JOURNAL_PENDING,
        Unit::Count,
        "Messages in history's journal that the database has not committed yet"
    );
    describe_histogram!(
        DELIVERY_DURATION,
        Unit::Seconds,
        "Time from a message's arrival until it is durable and handed to its recipients"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name: the prefix, the characters Prometheus allows, and `_total` exactly on counters.
    #[test]
    fn names_follow_prometheus_conventions() {
        let counters = [
            XMPP_CONNECTIONS_OPENED,
            XMPP_CONNECTIONS_CLOSED,
            XMPP_LOGINS,
            XMPP_LOGIN_FAILURES,
            XMPP_STANZAS_RECEIVED,
            XMPP_STANZAS_SENT,
            XMPP_MESSAGES_ROUTED,
            HTTP_REQUESTS,
            PUSH_SENDS,
            HISTORY_JOURNAL_LINES,
            HISTORY_JOURNAL_BYTES,
        ];
        let others = [
            XMPP_SESSIONS,
            HTTP_REQUEST_DURATION,
            PUSH_QUEUE_DEPTH,
            STORE_WRITE_DURATION,
            STORE_BATCH_SIZE,
            STORE_QUEUE_DEPTH,
            STORE_CHECKPOINT_DURATION,
            STORE_CHECKPOINT_LOG_PAGES,
            DELIVERY_DURATION,
            HISTORY_JOURNAL_PENDING,
        ];
        for name in counters.iter().chain(&others) {
            assert!(name.starts_with("palaver_"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        assert!(counters.iter().all(|n| n.ends_with("_total")));
        assert!(others.iter().all(|n| !n.ends_with("_total")));
        assert!(SECONDS_HISTOGRAMS.iter().all(|n| n.ends_with("_seconds")));
        let mut all: Vec<&str> = counters.iter().chain(&others).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), counters.len() + others.len(), "no name twice");
    }
}
