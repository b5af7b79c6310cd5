//! What the XMPP login needs from the accounts domain: a user's password may be the password itself or any
//! live REST session token of that user (the "custom authentication provider" path of the chat guide).

use crate::accounts::{LoginName, LoginRecord};
use crate::credentials::scram_keys;
use crate::model::{ScramKeys, Session};
use crate::{Core, CoreResult};

/// Every secret a user may log in to chat with, as SCRAM keys under the user's one salt.
#[derive(Debug, Clone)]
pub struct ChatSecrets {
    pub password: ScramKeys,
    /// (REST session id, the token's keys) for each live token whose keys exist.
    pub tokens: Vec<(i64, ScramKeys)>,
    /// The REST session ids of live tokens kept sealed, whose keys no login has needed yet, newest first:
    /// `token_keys` derives them one at a time.
    pub sealed_tokens: Vec<i64>,
}

pub struct ChatAuthService {
    core: Core,
}

impl ChatAuthService {
    pub(crate) fn new(core: Core) -> ChatAuthService {
        ChatAuthService { core }
    }

    /// The SCRAM material of a user of an existing application; None for unknown apps or users.
    pub async fn secrets(&self, app_id: i64, user_id: i64) -> CoreResult<Option<ChatSecrets>> {
        let Some(credentials) = self
            .unblocked_user(app_id, user_id)
            .await?
            .and_then(|record| record.credentials)
        else {
            return Ok(None);
        };
        let now = self.core.clock.now_millis();
        let sessions = self.core.store.user_sessions(app_id, user_id, now).await?;
        let sealed_tokens = match &self.core.token_sealer {
            Some(_) => sessions
                .iter()
                .rev()
                .filter(|session| session.token_scram.is_none() && session.token_sealed.is_some())
                .map(|session| session.id)
                .collect(),
            None => Vec::new(),
        };
        let tokens = sessions
            .into_iter()
            .filter_map(|session| session.token_scram.map(|keys| (session.id, keys)))
            .filter(|(_, keys)| {
                keys.salt == credentials.scram.salt && keys.iterations == credentials.scram.iterations
            })
            .collect();
        Ok(Some(ChatSecrets {
            password: credentials.scram,
            tokens,
            sealed_tokens,
        }))
    }

    /// The SCRAM keys of a live token of the user that was kept sealed: opened, derived under the user's
    /// salt when the password gate gives a turn, and stored in place of the sealed token, so each token is
    /// derived at most once. None when the session is gone, not the user's, or its token does not open.
    pub async fn token_keys(
        &self,
        app_id: i64,
        user_id: i64,
        session_id: i64,
    ) -> CoreResult<Option<ScramKeys>> {
        let Some(sealer) = self.core.token_sealer.clone() else {
            return Ok(None);
        };
        let now = self.core.clock.now_millis();
        let Some(session) = self.core.store.session_by_id(session_id).await? else {
            return Ok(None);
        };
        if session.app_id != app_id || session.user_id != Some(user_id) || session.expires_at <= now {
            return Ok(None);
        }
        if let Some(keys) = session.token_scram {
            return Ok(Some(keys));
        }
        let (Some(sealed), Some(credentials)) = (
            session.token_sealed,
            self.core.store.credentials(app_id, user_id).await?,
        ) else {
            return Ok(None);
        };
        let Some(token) = sealer.open(&sealed, &session.token_hash) else {
            tracing::warn!(
                session_id,
                "a sealed session token does not open with this server's token key"
            );
            return Ok(None);
        };
        let (salt, iterations) = (credentials.scram.salt, credentials.scram.iterations);
        let keys = self
            .core
            .password_gate
            .run(move || scram_keys(&token, &salt, iterations))
            .await?;
        self.core.store.set_token_keys(session_id, &keys).await?;
        metrics::counter!(crate::metrics::TOKEN_KEYS_DERIVED).increment(1);
        Ok(Some(keys))
    }

    /// Checks a plain secret. `Some(None)`: the password; `Some(Some(id))`: the live token of session `id`;
    /// `None`: neither.
    pub async fn check_secret(
        &self,
        app_id: i64,
        user_id: i64,
        secret: &str,
    ) -> CoreResult<Option<Option<i64>>> {
        let Some(record) = self.unblocked_user(app_id, user_id).await? else {
            return Ok(None);
        };
        let now = self.core.clock.now_millis();
        if let Some(session) = self.live_token(app_id, user_id, secret, now).await? {
            // A login with the token is a use of it, like a REST request.
            self.core.sessions().extend_if_due(&session, now).await?;
            return Ok(Some(Some(session.id)));
        }
        let Some(credentials) = record.credentials else {
            return Ok(None);
        };
        // The XMPP login throttles the whole exchange itself.
        let valid = self
            .core
            .passwords()
            .verify(app_id, user_id, credentials, secret, None)
            .await?;
        Ok(valid.then_some(None))
    }

    /// A user of the app whom no operator blocked, with their credentials; None for anyone else.
    async fn unblocked_user(&self, app_id: i64, user_id: i64) -> CoreResult<Option<LoginRecord>> {
        let record = self
            .core
            .store
            .login_record(app_id, LoginName::Id(user_id))
            .await?;
        Ok(record.filter(|record| !record.blocked))
    }

    /// Keeps a REST session alive while a chat session that logged in with its token is up (the chat
    /// session's use of the token, under the REST rule of `SessionService::extend_if_due`). False when
    /// the session is gone (destroyed or expired), so the chat session should end too.
    pub async fn keep_token_alive(&self, session_id: i64) -> CoreResult<bool> {
        let now = self.core.clock.now_millis();
        match self.core.store.session_by_id(session_id).await? {
            Some(session) if session.expires_at > now => {
                self.core.sessions().extend_if_due(&session, now).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn live_token(
        &self,
        app_id: i64,
        user_id: i64,
        secret: &str,
        now: i64,
    ) -> CoreResult<Option<Session>> {
        // A password without a token's shape costs no read (`SessionService::by_token`).
        let session = self.core.sessions().by_token(secret).await?;
        Ok(session.filter(|s| s.app_id == app_id && s.user_id == Some(user_id) && s.expires_at > now))
    }
}
