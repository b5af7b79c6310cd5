//! The generic webhook (`PALAVER_PUSH_WEBHOOK_URL`): one JSON POST per notification and device, for
//! operators who deliver pushes with their own service. A 2xx answer is success, `410 Gone` says the
//! device token is dead (the subscription is removed), 408/429/5xx and network errors are retried, other
//! answers are recorded as failures.

use super::{by_status, clip, retry_after, SendError};
use crate::notification::Notification;
use palaver_core::push::Subscription;
use serde_json::{json, Value};

pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    pub fn new(client: reqwest::Client, url: String) -> Webhook {
        Webhook { client, url }
    }

    /// The request body.
    pub fn body(subscription: &Subscription, n: &Notification) -> Value {
        json!({
            "kind": n.kind,
            "app_id": subscription.app_id,
            "user_id": subscription.user_id,
            "device": {
                "subscription_id": subscription.id,
                "platform": subscription.platform,
                "channel": subscription.channel,
                "udid": subscription.udid,
                "token": subscription.token,
                "environment": subscription.environment,
                "bundle_identifier": subscription.bundle_identifier,
                "web_auth": subscription.web_auth,
                "web_p256dh": subscription.web_p256dh,
            },
            "title": n.title,
            "body": n.body,
            "badge": n.badge,
            "sound": n.sound,
            "voip": n.voip,
            "content_available": n.content_available,
            "dialog_id": n.dialog_id,
            "dialog_type": n.dialog_type,
            "dialog_name": n.dialog_name,
            "message_id": n.message_id,
            "sender_id": n.sender_id,
            "text": n.text,
            "event_id": n.event_id,
            "data": n.data,
        })
    }

    pub async fn send(&self, subscription: &Subscription, n: &Notification) -> Result<(), SendError> {
        let response = self
            .client
            .post(&self.url)
            .header("user-agent", concat!("palaver-push/", env!("CARGO_PKG_VERSION")))
            .json(&Webhook::body(subscription, n))
            .send()
            .await
            .map_err(SendError::from_http)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        if status.as_u16() == 410 {
            return Err(SendError::InvalidToken(format!("webhook {status}")));
        }
        Err(by_status(status, after, format!("webhook: {}", clip(&body))))
    }
}
