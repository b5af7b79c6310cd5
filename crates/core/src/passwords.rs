//! Password checks for every way in (XMPP PLAIN, REST sessions and `/login`, password changes): bounded,
//! throttled and cheap.
//!
//! * Bounded: at most one check per CPU runs at a time; the rest wait in a queue, where a waiting check
//!   costs a few hundred bytes, not the work or memory of a running one. A burst of logins, right or
//!   wrong, costs CPU time in that queue and cannot move the server's memory.
//! * Throttled: failures slow further attempts from the same address (see `throttle`); REST and XMPP
//!   share one set of counters, so guessing cannot move from one to the other.
//! * Cheap: one PBKDF2 derivation against the stored SCRAM-SHA-256 keys (`credentials::check_password`).
//!   An argon2id hash from an earlier version verifies once more and is then replaced by the SCRAM
//!   verifier.

use crate::credentials::{check_password, PasswordCheck, SCRAM_SHA256_VERIFIER};
use crate::model::Credentials;
use crate::throttle::AuthThrottle;
use crate::{Core, CoreError, CoreResult};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The queue in front of the password checks, and the failure throttle. One per server.
pub struct PasswordGate {
    permits: Arc<Semaphore>,
    limit: usize,
    running: AtomicUsize,
    /// The most checks ever seen running at once (tests and metrics read it).
    peak: AtomicUsize,
    pub throttle: AuthThrottle,
}

impl PasswordGate {
    /// At most `limit` checks at once (at least one).
    pub fn new(limit: usize) -> PasswordGate {
        let limit = limit.max(1);
        PasswordGate {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            throttle: AuthThrottle::new(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The most checks that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// Runs one check when its turn comes.
    async fn check(&self, password: String, credentials: Credentials) -> CoreResult<PasswordCheck> {
        self.run(move || check_password(&password, &credentials)).await
    }

    /// Runs one key derivation (a password check, or a session token's SCRAM keys) on a blocking thread
    /// when its turn comes.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        derive: impl FnOnce() -> T + Send + 'static,
    ) -> CoreResult<T> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::Rejected("The server is shutting down".into()))?;
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        metrics::gauge!(crate::metrics::PASSWORD_CHECKS_RUNNING).set(now as f64);
        let outcome = tokio::task::spawn_blocking(derive).await;
        let now = self.running.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!(crate::metrics::PASSWORD_CHECKS_RUNNING).set(now as f64);
        outcome.map_err(|e| CoreError::Rejected(e.to_string()))
    }
}

impl Default for PasswordGate {
    fn default() -> Self {
        PasswordGate::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

pub struct PasswordService {
    core: Core,
}

impl PasswordService {
    pub(crate) fn new(core: Core) -> PasswordService {
        PasswordService { core }
    }

    /// Whether `password` is the user's, given the user's stored credentials. Waits its turn; an argon2id
    /// hash that matched is replaced by the SCRAM verifier. `throttle_as` (the client's address and the
    /// name it claimed) delays the check after earlier failures and records this one's outcome.
    pub async fn verify(
        &self,
        app_id: i64,
        user_id: i64,
        credentials: Credentials,
        password: &str,
        throttle_as: Option<(IpAddr, &str)>,
    ) -> CoreResult<bool> {
        let gate = &self.core.password_gate;
        if let Some((address, name)) = throttle_as {
            let delay = gate.throttle.delay(address, name);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        let scram = credentials.scram.clone();
        let outcome = gate.check(password.to_owned(), credentials).await?;
        if let Some((address, name)) = throttle_as {
            if outcome.is_valid() {
                gate.throttle.record_success(address, name);
            } else {
                gate.throttle.record_failure(address, name);
            }
        }
        if outcome == PasswordCheck::ValidLegacy {
            let upgraded = Credentials {
                password_hash: SCRAM_SHA256_VERIFIER.to_owned(),
                scram,
            };
            if let Err(error) = self.core.store.set_credentials(app_id, user_id, &upgraded).await {
                tracing::warn!(%error, user_id, "could not replace an argon2 hash after a login");
            }
        }
        Ok(outcome.is_valid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::derive_credentials;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_checks_waits_in_the_queue_and_never_runs_past_the_limit() {
        let gate = Arc::new(PasswordGate::new(2));
        let credentials = derive_credentials("right", 4096);
        let mut checks = Vec::new();
        for i in 0..64 {
            let gate = gate.clone();
            let credentials = credentials.clone();
            let password = if i % 2 == 0 { "right" } else { "wrong" };
            checks.push(tokio::spawn(async move {
                gate.check(password.to_owned(), credentials).await.unwrap()
            }));
        }
        let mut valid = 0;
        for check in checks {
            valid += check.await.unwrap().is_valid() as usize;
        }
        assert_eq!(valid, 32);
        assert!(gate.peak() >= 1 && gate.peak() <= 2, "peak {}", gate.peak());
    }
}
