//! The SASL mechanisms' view of the accounts domain: usernames are `{uid}-{app}`, secrets are the
//! password or a live REST token.

use crate::sasl::{Authenticated, CredentialLookup, ScramCredentials, ScramHash, ScramKeyPair};
use async_trait::async_trait;
use palaver_core::model::ScramKeys;
use palaver_core::Core;
use palaver_proto::UserJid;

pub struct CoreCredentials {
    pub core: Core,
}

fn pair(keys: &ScramKeys, hash: ScramHash, token_session: Option<i64>) -> ScramKeyPair {
    let (stored_key, server_key) = match hash {
        ScramHash::Sha1 => (keys.sha1_stored_key.clone(), keys.sha1_server_key.clone()),
        ScramHash::Sha256 => (keys.sha256_stored_key.clone(), keys.sha256_server_key.clone()),
    };
    ScramKeyPair {
        stored_key,
        server_key,
        token_session,
    }
}

#[async_trait]
impl CredentialLookup for CoreCredentials {
    async fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
        let user = UserJid::parse_node(username)?;
        let secrets = match self.core.chat_auth().secrets(user.app_id, user.user_id).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::error!(%error, "reading chat credentials failed");
                return None;
            }
        };
        let mut keys = vec![pair(&secrets.password, hash, None)];
        keys.extend(
            secrets
                .tokens
                .iter()
                .map(|(session, token)| pair(token, hash, Some(*session))),
        );
        Some(ScramCredentials {
            user,
            salt: secrets.password.salt.clone(),
            iterations: secrets.password.iterations,
            keys,
            sealed_tokens: secrets.sealed_tokens,
        })
    }

    async fn token_keys(&self, user: UserJid, session_id: i64, hash: ScramHash) -> Option<ScramKeyPair> {
        match self
            .core
            .chat_auth()
            .token_keys(user.app_id, user.user_id, session_id)
            .await
        {
            Ok(keys) => keys.map(|keys| pair(&keys, hash, Some(session_id))),
            Err(error) => {
                tracing::error!(%error, "deriving a session token's chat keys failed");
                None
            }
        }
    }

    async fn token_used(&self, session_id: i64) -> bool {
        match self.core.chat_auth().keep_token_alive(session_id).await {
            Ok(alive) => alive,
            Err(error) => {
                tracing::error!(%error, "keeping a login token alive failed");
                false
            }
        }
    }

    async fn plain(&self, username: &str, password: &str) -> Option<Authenticated> {
        let user = UserJid::parse_node(username)?;
        match self
            .core
            .chat_auth()
            .check_secret(user.app_id, user.user_id, password)
            .await
        {
            Ok(Some(token_session)) => Some(Authenticated { user, token_session }),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "checking chat credentials failed");
                None
            }
        }
    }
}
