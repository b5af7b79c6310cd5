//! Firebase Cloud Messaging, HTTP v1 API: the app's service account signs a JWT (RS256) that is exchanged
//! for an OAuth access token at the token URI (cached until shortly before it expires), then
//! `POST {endpoint}/v1/projects/{project_id}/messages:send` carries one message to one device token.

use super::{by_status, clip, retry_after, unix_now, SendError};
use crate::notification::{string_data, Notification};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use palaver_core::push::Subscription;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The fields of a Google service-account JSON file that signing needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

pub struct Fcm {
    client: reqwest::Client,
    endpoint: String,
    /// Replaces every service account's `token_uri` when set.
    token_uri: Option<String>,
    /// Access tokens by service account, with when to stop using them.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Fcm {
    pub fn new(client: reqwest::Client, endpoint: Option<String>, token_uri: Option<String>) -> Fcm {
        Fcm {
            client,
            endpoint: endpoint
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_owned(),
            token_uri,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn cache_key(account: &ServiceAccount) -> String {
        format!(
            "{}|{}",
            account.client_email,
            account.private_key_id.as_deref().unwrap_or("")
        )
    }

    /// An OAuth access token for the service account, from the cache or a fresh exchange.
    async fn access_token(&self, account: &ServiceAccount) -> Result<String, SendError> {
        let key = Fcm::cache_key(account);
        if let Some((token, until)) = self.tokens.lock().unwrap().get(&key) {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let token_uri = self
            .token_uri
            .clone()
            .or_else(|| account.token_uri.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.into());
        let now = unix_now();
        let claims = Claims {
            iss: &account.client_email,
            scope: SCOPE,
            aud: &token_uri,
            iat: now,
            exp: now + 3600,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = account.private_key_id.clone();
        let key_pem = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| SendError::Failed(format!("FCM service account private key: {e}")))?;
        let assertion = jsonwebtoken::encode(&header, &claims, &key_pem)
            .map_err(|e| SendError::Failed(format!("signing the FCM token request: {e}")))?;
        let response = self
            .client
            .post(&token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(SendError::from_http)?;
        let status = response.status();
        let after = retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(by_status(
                status,
                after,
                format!("OAuth token exchange: {}", clip(&body)),
            ));
        }
        let answer: Value = serde_json::from_str(&body)
            .map_err(|_| SendError::retry(format!("OAuth token exchange answered {}", clip(&body))))?;
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::retry("OAuth token exchange gave no access_token"))?
            .to_owned();
        let lifetime = answer.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        // Stop using it a minute early.
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        self.tokens.lock().unwrap().insert(key, (token.clone(), until));
        Ok(token)
    }

    /// The v1 `message` for one device.
    pub fn message(subscription: &Subscription, n: &Notification) -> Value {
        let mut message = Map::new();
        message.insert("token".into(), json!(subscription.token));
        if !n.content_available && (!n.body.is_empty() || n.title.is_some()) {
            let mut notification = Map::new();
            if let Some(title) = &n.title {
                notification.insert("title".into(), json!(title));
            }
            notification.insert("body".into(), json!(n.body));
            message.insert("notification".into(), Value::Object(notification));
        }
        message.insert("data".into(), Value::Object(string_data(n)));
        let mut android_notification = Map::new();
        if let Some(badge) = n.badge {
            android_notification.insert("notification_count".into(), json!(badge));
        }
        if let Some(sound) = &n.sound {
            android_notification.insert("sound".into(), json!(sound));
        }
        let mut android = json!({"priority": "high"});
        if !android_notification.is_empty() && message.contains_key("notification") {
            android["notification"] = Value::Object(android_notification);
        }
        message.insert("android".into(), android);
        let mut aps = Map::new();
        if let Some(badge) = n.badge {
            aps.insert("badge".into(), json!(badge));
        }
        if n.content_available {
            aps.insert("content-available".into(), json!(1));
        }
        if !aps.is_empty() {
            message.insert("apns".into(), json!({"payload": {"aps": aps}}));
        }
        json!({ "message": message })
    }

    pub async fn send(
        &self,
        account: &ServiceAccount,
        subscription: &Subscription,
        n: &Notification,
    ) -> Result<(), SendError> {
        let token = self.access_token(account).await?;
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.endpoint, account.project_id
        );
        let response = self
            .client
            .post(&url)
            .bearer_auth(&token)
            .json(&Fcm::message(subscription, n))
            .send()
            .await
            .map_err(SendError::from_http)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        let error: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let error_code = error["error"]["details"]
            .as_array()
            .and_then(|details| {
                details
                    .iter()
                    .find_map(|d| d.get("errorCode").and_then(Value::as_str))
            })
            .unwrap_or_else(|| error["error"]["status"].as_str().unwrap_or(""))
            .to_owned();
        if status.as_u16() == 404 || error_code == "UNREGISTERED" {
            return Err(SendError::InvalidToken(format!("FCM {status} {error_code}")));
        }
        if status.as_u16() == 401 {
            // The access token was refused: forget it and get a new one next time.
            self.tokens.lock().unwrap().remove(&Fcm::cache_key(account));
            return Err(SendError::retry(format!("FCM {status}: {}", clip(&body))));
        }
        Err(by_status(
            status,
            after,
            format!("FCM {error_code} {}", clip(&body)),
        ))
    }
}
