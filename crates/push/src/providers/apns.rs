//! Apple Push Notification service, token-based: an ES256 JWT (`kid` = key id, `iss` = team id), reused
//! for 50 minutes, authorises `POST {endpoint}/3/device/{token}` over HTTP/2 with `apns-topic` and
//! `apns-push-type`. Development subscriptions go to the sandbox endpoint.

use super::{by_status, clip, retry_after, unix_now, SendError};
use crate::notification::Notification;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use palaver_core::push::Subscription;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEFAULT_ENDPOINT: &str = "https://api.push.apple.com";
pub const DEFAULT_SANDBOX_ENDPOINT: &str = "https://api.sandbox.push.apple.com";
/// Apple accepts a provider token for an hour and refuses new ones more often than every 20 minutes.
const TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);

/// An app's APNs signing key (`.p8`, PKCS#8 PEM) and where to send.
#[derive(Debug, Clone, Deserialize)]
pub struct ApnsCredentials {
    pub key: String,
    pub key_id: String,
    pub team_id: String,
    /// The bundle id, for devices that did not send `bundle_identifier`.
    #[serde(default)]
    pub topic: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

pub struct Apns {
    client: reqwest::Client,
    endpoint: String,
    sandbox_endpoint: String,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Apns {
    /// `client` must speak HTTP/2 (APNs has no HTTP/1).
    pub fn new(client: reqwest::Client, endpoint: Option<String>, sandbox_endpoint: Option<String>) -> Apns {
        let clean = |url: Option<String>, default: &str| {
            url.unwrap_or_else(|| default.into())
                .trim_end_matches('/')
                .to_owned()
        };
        Apns {
            client,
            endpoint: clean(endpoint, DEFAULT_ENDPOINT),
            sandbox_endpoint: clean(sandbox_endpoint, DEFAULT_SANDBOX_ENDPOINT),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn cache_key(credentials: &ApnsCredentials) -> String {
        format!("{}|{}", credentials.team_id, credentials.key_id)
    }

    fn provider_token(&self, credentials: &ApnsCredentials) -> Result<String, SendError> {
        let key = Apns::cache_key(credentials);
        if let Some((token, until)) = self.tokens.lock().unwrap().get(&key) {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(credentials.key_id.clone());
        let signing_key = EncodingKey::from_ec_pem(credentials.key.as_bytes())
            .map_err(|e| SendError::Failed(format!("APNs signing key: {e}")))?;
        let claims = Claims {
            iss: &credentials.team_id,
            iat: unix_now(),
        };
        let token = jsonwebtoken::encode(&header, &claims, &signing_key)
            .map_err(|e| SendError::Failed(format!("signing the APNs provider token: {e}")))?;
        self.tokens
            .lock()
            .unwrap()
            .insert(key, (token.clone(), Instant::now() + TOKEN_REUSE));
        Ok(token)
    }

    /// The JSON body: `aps` plus the custom keys.
    pub fn payload(n: &Notification) -> Value {
        let mut aps = Map::new();
        if n.content_available {
            aps.insert("content-available".into(), json!(1));
        } else {
            let mut alert = Map::new();
            if let Some(title) = &n.title {
                alert.insert("title".into(), json!(title));
            }
            alert.insert("body".into(), json!(n.body));
            aps.insert("alert".into(), Value::Object(alert));
            aps.insert("sound".into(), json!(n.sound.as_deref().unwrap_or("default")));
        }
        if let Some(badge) = n.badge {
            aps.insert("badge".into(), json!(badge));
        }
        if n.dialog_id.is_some() {
            aps.insert("thread-id".into(), json!(n.dialog_id));
        }
        let mut body = crate::notification::string_data(n);
        body.insert("aps".into(), Value::Object(aps));
        Value::Object(body)
    }

    pub async fn send(
        &self,
        credentials: &ApnsCredentials,
        subscription: &Subscription,
        n: &Notification,
    ) -> Result<(), SendError> {
        let voip = subscription.channel == "apns_voip" || n.voip;
        let mut topic = subscription
            .bundle_identifier
            .clone()
            .or_else(|| credentials.topic.clone())
            .ok_or_else(|| {
                SendError::Failed(
                    "no APNs topic: the device sent no bundle_identifier and the app has none".into(),
                )
            })?;
        if voip && !topic.ends_with(".voip") {
            topic.push_str(".voip");
        }
        let (push_type, priority) = if voip {
            ("voip", "10")
        } else if n.content_available {
            ("background", "5")
        } else {
            ("alert", "10")
        };
        let base = if subscription.environment == "development" {
            &self.sandbox_endpoint
        } else {
            &self.endpoint
        };
        let token = self.provider_token(credentials)?;
        let expiration = unix_now() + 24 * 60 * 60;
        let response = self
            .client
            .post(format!("{base}/3/device/{}", subscription.token))
            .header("authorization", format!("bearer {token}"))
            .header("apns-topic", topic)
            .header("apns-push-type", push_type)
            .header("apns-priority", priority)
            .header("apns-expiration", expiration.to_string())
            .json(&Apns::payload(n))
            .send()
            .await
            .map_err(SendError::from_http)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        let reason = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        match (status.as_u16(), reason.as_str()) {
            (410, _) | (400, "BadDeviceToken") => {
                Err(SendError::InvalidToken(format!("APNs {status} {reason}")))
            }
            (403, "ExpiredProviderToken") => {
                self.tokens.lock().unwrap().remove(&Apns::cache_key(credentials));
                Err(SendError::retry(format!("APNs {status} {reason}")))
            }
            _ => Err(by_status(status, after, format!("APNs {reason} {}", clip(&body)))),
        }
    }
}
