//! REST abuse limits (token buckets from `governor`): requests per session token, requests per client
//! address, and user sign-ups per client address. Over a limit the answer is HTTP 429 with `Retry-After`
//! and a ConnectyCube error body, counted in `palaver_limited_total{limit=…}`. A limit whose rate is 0
//! is off. IPv6 addresses count per /64, the block one host usually gets.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use palaver_core::metrics::{label, limit, LIMITED};
use serde_json::json;

use crate::{ApiState, PeerAddr};

/// Keys kept per limiter before idle ones are dropped (a full bucket is the same as no entry).
const RETAIN_ABOVE: usize = 10_000;

/// One limit: a sustained rate per second and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        per_second: 0.0,
        burst: 0,
    };

    fn quota(self) -> Option<Quota> {
        if self.per_second <= 0.0 || !self.per_second.is_finite() {
            return None;
        }
        let period = std::time::Duration::from_secs_f64(1.0 / self.per_second);
        let burst = NonZeroU32::new(self.burst.max(1)).expect("at least one");
        Some(Quota::with_period(period)?.allow_burst(burst))
    }
}

/// The limits the REST API enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitsConfig {
    pub per_token: Rate,
    pub per_address: Rate,
    pub signups_per_address: Rate,
}

impl LimitsConfig {
    /// Nothing limited (tests that are not about limits, embedded use).
    pub const OFF: LimitsConfig = LimitsConfig {
        per_token: Rate::OFF,
        per_address: Rate::OFF,
        signups_per_address: Rate::OFF,
    };
}

/// The limiters, shared by every request.
pub struct RestLimits {
    per_token: Option<DefaultKeyedRateLimiter<u64>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    signups: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Tokens are keyed by a keyed hash, so no token is kept in memory for this.
    hasher: RandomState,
}

impl RestLimits {
    pub fn new(config: LimitsConfig) -> Arc<RestLimits> {
        Arc::new(RestLimits {
            per_token: config.per_token.quota().map(governor::RateLimiter::keyed),
            per_address: config.per_address.quota().map(governor::RateLimiter::keyed),
            signups: config
                .signups_per_address
                .quota()
                .map(governor::RateLimiter::keyed),
            hasher: RandomState::new(),
        })
    }

    pub fn off() -> Arc<RestLimits> {
        RestLimits::new(LimitsConfig::OFF)
    }

    /// `Err((limit, seconds to wait))` when the request is over a limit.
    fn check(
        &self,
        address: Option<IpAddr>,
        token: Option<&str>,
        signup: bool,
    ) -> Result<(), (&'static str, u64)> {
        if let (Some(limiter), Some(address)) = (&self.per_address, address) {
            check_key(limiter, &block(address)).map_err(|wait| (limit::REST_ADDRESS, wait))?;
        }
        if let (Some(limiter), Some(token)) = (&self.per_token, token) {
            check_key(limiter, &self.hasher.hash_one(token)).map_err(|wait| (limit::REST_TOKEN, wait))?;
        }
        if let (true, Some(limiter), Some(address)) = (signup, &self.signups, address) {
            check_key(limiter, &block(address)).map_err(|wait| (limit::SIGNUP, wait))?;
        }
        Ok(())
    }
}

fn check_key<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), u64> {
    if limiter.len() > RETAIN_ABOVE {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

/// IPv6 per /64.
fn block(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
    }
}

/// The middleware: checks every request against the limits before it reaches a handler.
pub async fn enforce(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let address = request.extensions().get::<PeerAddr>().map(|peer| peer.0.ip());
    let token = request
        .headers()
        .get("cb-token")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let signup = request.method() == Method::POST && request.uri().path() == "/users";
    match state.limits.check(address, token, signup) {
        Ok(()) => next.run(request).await,
        Err((which, wait)) => {
            metrics::counter!(LIMITED, label::LIMIT => which).increment(1);
            too_many_requests(wait.max(1))
        }
    }
}

/// HTTP 429 the way ConnectyCube words its errors, with the seconds to wait.
fn too_many_requests(retry_after: u64) -> Response {
    let body = json!({"errors": {"base": ["Too many requests, please retry later"]}});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}
