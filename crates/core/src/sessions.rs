//! Sessions: creating them (application, user, guest; plain or v3-signed), resolving a token to a caller
//! with the sliding expiry, logging a user in and out of a session, destroying it.

use crate::accounts::LoginName;
use crate::credentials::{scram_keys, token_hash};
use crate::events::Event;
use crate::model::{App, IssuedSession, Profile, Session, User};
use crate::signature::signature_matches;
use crate::{Core, CoreError, CoreResult};
use palaver_proto::random_hex_token;
use serde_json::{Map, Value};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// Random bytes in a session token; the token is their lowercase hex.
const TOKEN_BYTES: usize = 20;

/// Whether `secret` has the shape of the tokens this server issues (lowercase hex of `TOKEN_BYTES`
/// bytes). A secret of any other shape is no session's token, so nothing needs to look one up.
pub fn could_be_token(secret: &str) -> bool {
    secret.len() == 2 * TOKEN_BYTES && secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Who is calling: the application of the token and, for a user session, the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub app_id: i64,
    pub session_id: i64,
    pub user_id: Option<i64>,
}

impl Caller {
    /// The user of a user session; an application session gets "Forbidden. Need user.".
    pub fn user_id(&self) -> CoreResult<i64> {
        self.user_id.ok_or(CoreError::NeedUser)
    }
}

/// How a session request names its user.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCredentials {
    Login { login: String, password: String },
    Email { email: String, password: String },
    Guest { full_name: Option<String> },
}

/// The v3 SDK's signature and the exact parameters it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRequest {
    pub nonce: i64,
    pub timestamp: i64,
    pub signature: String,
    pub params: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRequest {
    pub application_id: i64,
    pub auth_key: String,
    pub signed: Option<SignedRequest>,
    pub user: Option<UserCredentials>,
    /// Social or phone providers need outside verification, which this server does not do.
    pub provider: Option<String>,
    /// The client's address, for the login failure throttle.
    pub origin: Option<IpAddr>,
}

pub struct SessionService {
    core: Core,
}

impl SessionService {
    pub(crate) fn new(core: Core) -> SessionService {
        SessionService { core }
    }

    /// `POST /session`: checks the application, the signature if any and the user's credentials, then
    /// hands out a new token.
    pub async fn create(&self, request: SessionRequest) -> CoreResult<IssuedSession> {
        let now = self.core.clock.now_millis();
        let app = self.check_app(&request).await?;
        if let Some(signed) = &request.signed {
            self.check_signature(&app, signed, now).await?;
        }
        if let Some(provider) = &request.provider {
            return Err(CoreError::Rejected(format!(
                "Provider '{provider}' is not supported by this server"
            )));
        }
        let (user, ttl) = match &request.user {
            None => (None, self.core.settings.session_ttl),
            Some(UserCredentials::Guest { full_name }) => (
                Some(self.create_guest(app.id, full_name.clone()).await?),
                self.core.settings.guest_session_ttl,
            ),
            Some(credentials) => (
                Some(self.check_user(app.id, credentials, request.origin).await?),
                self.core.settings.session_ttl,
            ),
        };
        let ts = request.signed.as_ref().map(|s| s.timestamp).unwrap_or(now / 1000);
        let nonce = request.signed.as_ref().map(|s| s.nonce);
        self.issue(app.id, user, ts, nonce, ttl.as_millis() as i64, now)
            .await
    }

    /// The session a token names, expired or not. A secret without a token's shape names none and costs
    /// no read: REST tokens and chat passwords (which may be tokens) are both looked up here.
    pub(crate) async fn by_token(&self, token: &str) -> CoreResult<Option<Session>> {
        if !could_be_token(token) {
            return Ok(None);
        }
        Ok(self.core.store.session_by_token_hash(&token_hash(token)).await?)
    }

    /// A use of a live session's token slides its expiry to a whole lifetime from `now`, but writing on
    /// every use would make every read a write: it is extended only once the gain is worth it (a minute,
    /// or a tenth of a short lifetime). True when it was.
    pub(crate) async fn extend_if_due(&self, session: &Session, now: i64) -> CoreResult<bool> {
        let slack = (session.ttl / 10).min(60_000);
        if now + session.ttl - session.expires_at <= slack {
            return Ok(false);
        }
        self.core
            .store
            .extend_session(session.id, now, now + session.ttl)
            .await?;
        Ok(true)
    }

    /// Resolves a `CB-Token` to its caller and slides the expiry forward.
    pub async fn authenticate(&self, token: &str) -> CoreResult<Caller> {
        let session = self.live_session(token).await?;
        Ok(Caller {
            app_id: session.app_id,
            session_id: session.id,
            user_id: session.user_id,
        })
    }

    /// The live session a `CB-Token` names, as it is after this use of the token slid its expiry.
    async fn live_session(&self, token: &str) -> CoreResult<Session> {
        let now = self.core.clock.now_millis();
        let mut session = self
            .by_token(token)
            .await?
            .filter(|s| s.expires_at > now)
            .ok_or(CoreError::SessionRequired)?;
        if self.extend_if_due(&session, now).await? {
            session.updated_at = now;
            session.expires_at = now + session.ttl;
            if let Some(user_id) = session.user_id {
                self.core.store.touch_user(session.app_id, user_id, now).await?;
            }
        }
        Ok(session)
    }

    /// The session behind a token, as `GET /session` shows it.
    pub async fn current(&self, token: &str) -> CoreResult<(Session, Option<User>)> {
        let session = self.live_session(token).await?;
        let user = match session.user_id {
            Some(id) => self.core.store.user(session.app_id, id).await?,
            None => None,
        };
        Ok((session, user))
    }

    /// `POST /login`: attaches a user to the caller's session.
    pub async fn login(
        &self,
        token: &str,
        credentials: UserCredentials,
        origin: Option<IpAddr>,
    ) -> CoreResult<User> {
        let caller = self.authenticate(token).await?;
        let user = self.check_user(caller.app_id, &credentials, origin).await?;
        let (scram, sealed) = self.token_secret(caller.app_id, user.id, token).await?;
        let now = self.core.clock.now_millis();
        self.core
            .store
            .set_session_user(
                caller.session_id,
                Some(user.id),
                scram.as_ref(),
                sealed.as_deref(),
                now,
            )
            .await?;
        Ok(user)
    }

    /// `DELETE /login`: back to an application session.
    pub async fn logout(&self, token: &str) -> CoreResult<()> {
        let caller = self.authenticate(token).await?;
        let now = self.core.clock.now_millis();
        self.core
            .store
            .set_session_user(caller.session_id, None, None, None, now)
            .await?;
        Ok(())
    }

    /// `DELETE /session`.
    pub async fn destroy(&self, token: &str) -> CoreResult<()> {
        let caller = self.authenticate(token).await?;
        self.core.store.delete_session(caller.session_id).await?;
        self.core
            .events
            .publish(Event::SessionDestroyed {
                app_id: caller.app_id,
                session_id: caller.session_id,
            })
            .await;
        Ok(())
    }

    /// Drops expired sessions, their guests and old nonces. Run periodically.
    pub async fn purge_expired(&self) -> CoreResult<()> {
        let now = self.core.clock.now_millis();
        let sessions = self.core.store.delete_expired_sessions(now).await?;
        let guest_life = self.core.settings.guest_session_ttl.as_millis() as i64;
        let guests = self.core.store.delete_stale_guests(now - guest_life).await?;
        let window = self.core.settings.signature_window.as_millis() as i64;
        self.core.store.purge_signatures(now - 2 * window).await?;
        if sessions + guests > 0 {
            tracing::debug!(sessions, guests, "purged expired sessions");
        }
        Ok(())
    }

    async fn check_app(&self, request: &SessionRequest) -> CoreResult<App> {
        let unknown = || CoreError::Rejected("Unknown application or wrong auth_key".into());
        let app = self
            .core
            .store
            .app(request.application_id)
            .await?
            .ok_or_else(unknown)?;
        let key_matches: bool = app.auth_key.as_bytes().ct_eq(request.auth_key.as_bytes()).into();
        if key_matches {
            Ok(app)
        } else {
            Err(unknown())
        }
    }

    async fn check_signature(&self, app: &App, signed: &SignedRequest, now: i64) -> CoreResult<()> {
        let unexpected = || CoreError::Rejected("Unexpected signature".into());
        if !signature_matches(&signed.params, &app.auth_secret, &signed.signature) {
            return Err(unexpected());
        }
        let window = self.core.settings.signature_window.as_secs() as i64;
        if (signed.timestamp - now / 1000).abs() > window {
            return Err(unexpected());
        }
        // Replays are refused by signature: the exact request again. Two different requests that happen
        // to draw the same (timestamp, nonce) — the v3 SDK's nonce is 0–9999 — both pass.
        let signature = signed.signature.trim().to_ascii_lowercase();
        if !self.core.store.claim_signature(app.id, &signature, now).await? {
            return Err(unexpected());
        }
        Ok(())
    }

    /// Checks login/e-mail and password. Guests never log in this way. Failures from `origin` slow its
    /// next attempts (the same throttle as chat logins).
    async fn check_user(
        &self,
        app_id: i64,
        credentials: &UserCredentials,
        origin: Option<IpAddr>,
    ) -> CoreResult<User> {
        let (name, password, lookup) = match credentials {
            UserCredentials::Login { login, password } => (login, password, LoginName::Login(login)),
            UserCredentials::Email { email, password } => (email, password, LoginName::Email(email)),
            UserCredentials::Guest { .. } => return Err(CoreError::Unauthorized),
        };
        let record = self.core.store.login_record(app_id, lookup).await?;
        // The throttle knows a user by the name a chat login uses for them, so both ways in count together.
        let throttle_name = match &record {
            Some(record) => format!("{}-{app_id}", record.user.id),
            None => format!("{}@{app_id}", name.to_lowercase()),
        };
        let throttle_as = origin.map(|address| (address, throttle_name.as_str()));
        let Some(record) = record.filter(|record| !record.user.is_guest) else {
            if let Some((address, name)) = throttle_as {
                let delay = self.core.password_gate.throttle.delay(address, name);
                tokio::time::sleep(delay).await;
                self.core.password_gate.throttle.record_failure(address, name);
            }
            return Err(CoreError::Unauthorized);
        };
        let credentials = record.credentials.ok_or(CoreError::Unauthorized)?;
        let valid = self
            .core
            .passwords()
            .verify(app_id, record.user.id, credentials, password, throttle_as)
            .await?;
        if !valid {
            Err(CoreError::Unauthorized)
        } else if record.blocked {
            // An operator blocked the user (chat logins just fail).
            Err(CoreError::Forbidden("This user is blocked".into()))
        } else {
            Ok(record.user)
        }
    }

    async fn create_guest(&self, app_id: i64, full_name: Option<String>) -> CoreResult<User> {
        let profile = Profile {
            login: Some(format!("guest_login_{}", random_hex_token(8))),
            full_name,
            ..Profile::default()
        };
        // Guests never log in with a password; a random one keeps the credentials row uniform.
        let secret = random_hex_token(16);
        let iterations = self.core.settings.scram_iterations;
        let credentials =
            tokio::task::spawn_blocking(move || crate::credentials::derive_credentials(&secret, iterations))
                .await
                .map_err(|e| CoreError::Rejected(e.to_string()))?;
        let now = self.core.clock.now_millis();
        Ok(self
            .core
            .store
            .create_user(app_id, &profile, &credentials, true, now)
            .await?)
    }

    async fn issue(
        &self,
        app_id: i64,
        user: Option<User>,
        ts: i64,
        nonce: Option<i64>,
        ttl: i64,
        now: i64,
    ) -> CoreResult<IssuedSession> {
        let token = random_hex_token(TOKEN_BYTES);
        let (token_scram, token_sealed) = match &user {
            Some(user) => self.token_secret(app_id, user.id, &token).await?,
            None => (None, None),
        };
        let session = self
            .core
            .store
            .create_session(&Session {
                id: 0,
                app_id,
                user_id: user.as_ref().map(|u| u.id),
                token_hash: token_hash(&token),
                token_scram,
                token_sealed,
                nonce,
                ts,
                created_at: now,
                updated_at: now,
                expires_at: now + ttl,
                ttl,
            })
            .await?;
        Ok(IssuedSession { session, token, user })
    }

    /// What the session keeps so that an XMPP login can prove the token over SCRAM: the token sealed, whose
    /// keys the first such login derives (`token_seal`), or, on a server without a token key, the token's
    /// SCRAM keys under the user's salt, derived now.
    async fn token_secret(
        &self,
        app_id: i64,
        user_id: i64,
        token: &str,
    ) -> CoreResult<(Option<crate::model::ScramKeys>, Option<Vec<u8>>)> {
        if let Some(sealer) = &self.core.token_sealer {
            return Ok((None, Some(sealer.seal(token, &token_hash(token)))));
        }
        let Some(credentials) = self.core.store.credentials(app_id, user_id).await? else {
            return Ok((None, None));
        };
        let token = token.to_owned();
        let salt = credentials.scram.salt.clone();
        let iterations = credentials.scram.iterations;
        let keys = tokio::task::spawn_blocking(move || scram_keys(&token, &salt, iterations))
            .await
            .map_err(|e| CoreError::Rejected(e.to_string()))?;
        Ok((Some(keys), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_have_the_token_shape_and_other_secrets_do_not() {
        for _ in 0..100 {
            assert!(could_be_token(&random_hex_token(TOKEN_BYTES)));
        }
        assert!(could_be_token(&"0".repeat(40)));
        for secret in [
            String::new(),
            "benchpass".to_owned(),
            "a".repeat(39),
            "a".repeat(41),
            "A".repeat(40),
            "g".repeat(40),
            " ".repeat(40),
            "é".repeat(20),
        ] {
            assert!(!could_be_token(&secret), "{secret:?}");
        }
    }
}
