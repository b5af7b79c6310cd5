//! Push notifications: device subscriptions and push events (the REST API, docs/protocol.md#rest-push), the
//! app's chat-alert template and provider credentials (the admin API), and the records of the durable send
//! queue that the dispatcher (`palaver-push`) fills and drains. Sending itself is not here.
//!
//! `PushStore` (at the end) is where all of it is kept.

use crate::accounts::{UserCondition, UserField, UserQuery};
use crate::error::StoreResult;
use crate::query::{FilterOp, FilterValue};
use crate::{Core, CoreError, CoreResult};
use async_trait::async_trait;
use serde_json::{json, Map, Value};

/// Notification channels a device may subscribe on.
pub const CHANNELS: [&str; 4] = ["apns", "apns_voip", "gcm", "web"];
/// Device platforms.
pub const PLATFORMS: [&str; 3] = ["ios", "android", "web"];
pub const ENVIRONMENTS: [&str; 2] = ["development", "production"];
/// The most users one push event may reach.
pub const MAX_EVENT_RECIPIENTS: i64 = 10_000;

/// Names of the per-app settings (`push_settings`).
pub mod setting {
    /// `{"title": "...", "body": "..."}` with `{sender_name}`, `{message}`, `{dialog_name}` placeholders.
    pub const CHAT_ALERT_TEMPLATE: &str = "chat_alert_template";
    /// `{"enabled": false}` when the app's chat alerts are off; absent means on.
    pub const CHAT_ALERTS: &str = "chat_alerts";
    /// `{"service_account": {…the Google service-account JSON…}}`.
    pub const FCM: &str = "fcm";
    /// `{"key": "-----BEGIN PRIVATE KEY-----…", "key_id": "…", "team_id": "…", "topic": "…"}`.
    pub const APNS: &str = "apns";
}

/// A device subscribed to pushes.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: i64,
    pub app_id: i64,
    pub user_id: i64,
    pub channel: String,
    pub platform: String,
    pub udid: String,
    pub environment: String,
    /// The provider's device token, or the endpoint of a web push subscription.
    pub token: String,
    pub bundle_identifier: Option<String>,
    pub web_auth: Option<String>,
    pub web_p256dh: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A checked subscription to store; one per (app, udid, channel): subscribing again replaces it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    pub app_id: i64,
    pub user_id: i64,
    pub channel: String,
    pub platform: String,
    pub udid: String,
    pub environment: String,
    pub token: String,
    pub bundle_identifier: Option<String>,
    pub web_auth: Option<String>,
    pub web_p256dh: Option<String>,
}

/// `POST /subscriptions` as the SDK sends it (`notification_channel`, `push_token[…]`, `device[…]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionInput {
    pub channel: Option<String>,
    pub platform: Option<String>,
    pub udid: Option<String>,
    pub environment: Option<String>,
    /// `push_token.client_identification_sequence` (gcm, apns, apns_voip).
    pub client_identification_sequence: Option<String>,
    pub bundle_identifier: Option<String>,
    pub web_endpoint: Option<String>,
    pub web_auth: Option<String>,
    pub web_p256dh: Option<String>,
}

/// `POST /events` as the SDK sends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInput {
    pub notification_type: Option<String>,
    pub push_type: Option<String>,
    pub environment: Option<String>,
    pub event_type: Option<String>,
    pub name: Option<String>,
    pub message: Option<String>,
    pub user_ids: Vec<i64>,
    pub external_user_ids: Vec<String>,
    pub tags_any: Vec<String>,
    pub tags_all: Vec<String>,
    pub tags_exclude: Vec<String>,
}

/// A push event to store; the dispatcher turns it into notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPushEvent {
    pub app_id: i64,
    pub user_id: Option<i64>,
    pub push_type: Option<String>,
    pub environment: Option<String>,
    pub event_type: String,
    pub name: Option<String>,
    /// As the client sent it (Base64, `payload=…`, or plain).
    pub message: String,
    pub recipients: Vec<i64>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PushEvent {
    pub id: i64,
    pub app_id: i64,
    pub user_id: Option<i64>,
    pub push_type: Option<String>,
    pub environment: Option<String>,
    pub event_type: String,
    pub name: Option<String>,
    pub message: String,
    pub recipients: Vec<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One notification for one device and provider, to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct PushJob {
    pub app_id: i64,
    pub user_id: i64,
    pub subscription_id: i64,
    /// `fcm`, `apns` or `webhook`.
    pub provider: String,
    /// What makes a notification the same one (`chat:{dialog}:{sender}:{message}`, `event:{id}`): a
    /// (key, device, provider) is queued at most once.
    pub dedupe_key: String,
    /// The rendered notification, JSON.
    pub payload: String,
}

/// A queued job leased to a worker, with its device.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: i64,
    pub provider: String,
    pub dedupe_key: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub created_at: i64,
    pub subscription: Subscription,
}

/// What `enqueue_push` did with the jobs it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnqueueOutcome {
    pub queued: usize,
    /// Already queued or sent before.
    pub duplicates: usize,
    /// Not queued: the queue was full.
    pub dropped: usize,
}

/// Queue depth and what became of the recorded notifications.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushStats {
    pub queued: i64,
    /// Queued jobs whose next attempt is due now.
    pub due: i64,
    /// Queued jobs that failed at least once and wait for a retry.
    pub retrying: i64,
    /// (provider, status, count) over the kept records.
    pub records: Vec<(String, String, i64)>,
}

pub struct PushService {
    core: Core,
}

fn required(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl PushService {
    pub(crate) fn new(core: Core) -> PushService {
        PushService { core }
    }

    // --- Subscriptions ---

    /// Subscribes one of the user's devices; the same device and channel again updates the subscription
    /// (and moves it to this user).
    pub async fn subscribe(
        &self,
        app_id: i64,
        user_id: i64,
        input: SubscriptionInput,
    ) -> CoreResult<Subscription> {
        let mut errors = Vec::new();
        let channel = required(&input.channel).map(|c| c.to_ascii_lowercase());
        match channel.as_deref() {
            Some(c) if CHANNELS.contains(&c) => {}
            Some(_) => errors.push(("notification_channel".into(), "is invalid".into())),
            None => errors.push(("notification_channel".into(), "can't be blank".into())),
        }
        let platform = required(&input.platform).map(|p| p.to_ascii_lowercase());
        match platform.as_deref() {
            Some(p) if PLATFORMS.contains(&p) => {}
            Some(_) => errors.push(("device[platform]".into(), "is invalid".into())),
            None => errors.push(("device[platform]".into(), "can't be blank".into())),
        }
        let udid = required(&input.udid);
        if udid.is_none() {
            errors.push(("device[udid]".into(), "can't be blank".into()));
        }
        let environment = required(&input.environment)
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_else(|| "production".into());
        if !ENVIRONMENTS.contains(&environment.as_str()) {
            errors.push(("push_token[environment]".into(), "is invalid".into()));
        }
        let token = if channel.as_deref() == Some("web") {
            let endpoint = required(&input.web_endpoint);
            if endpoint.is_none() {
                errors.push(("push_token[web_endpoint]".into(), "can't be blank".into()));
            }
            endpoint
        } else {
            let token = required(&input.client_identification_sequence);
            if token.is_none() {
                errors.push((
                    "push_token[client_identification_sequence]".into(),
                    "can't be blank".into(),
                ));
            }
            token
        };
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let new = NewSubscription {
            app_id,
            user_id,
            channel: channel.unwrap_or_default(),
            platform: platform.unwrap_or_default(),
            udid: udid.unwrap_or_default(),
            environment,
            token: token.unwrap_or_default(),
            bundle_identifier: required(&input.bundle_identifier),
            web_auth: required(&input.web_auth),
            web_p256dh: required(&input.web_p256dh),
        };
        let now = self.core.clock.now_millis();
        Ok(self.core.store.put_push_subscription(&new, now).await?)
    }

    /// The user's subscriptions, oldest first.
    pub async fn subscriptions(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<Subscription>> {
        Ok(self.core.store.push_subscriptions(app_id, &[user_id]).await?)
    }

    /// Deletes one of the user's subscriptions; NotFound for anyone else's.
    pub async fn unsubscribe(&self, app_id: i64, user_id: i64, id: i64) -> CoreResult<()> {
        if self
            .core
            .store
            .delete_push_subscription(app_id, Some(user_id), id)
            .await?
        {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    // --- Events ---

    /// Checks a push event, resolves its recipients and stores it for the dispatcher.
    pub async fn create_event(
        &self,
        app_id: i64,
        user_id: Option<i64>,
        input: EventInput,
    ) -> CoreResult<PushEvent> {
        let mut errors = Vec::new();
        match required(&input.notification_type).as_deref() {
            None | Some("push") => {}
            Some(_) => errors.push(("event[notification_type]".into(), "is invalid".into())),
        }
        let push_type = required(&input.push_type).map(|p| p.to_ascii_lowercase());
        if push_type.as_deref().is_some_and(|p| !CHANNELS.contains(&p)) {
            errors.push(("event[push_type]".into(), "is invalid".into()));
        }
        let environment = required(&input.environment).map(|e| e.to_ascii_lowercase());
        if environment.as_deref().is_some_and(|e| !ENVIRONMENTS.contains(&e)) {
            errors.push(("event[environment]".into(), "is invalid".into()));
        }
        let event_type = required(&input.event_type).unwrap_or_else(|| "one_shot".into());
        if event_type != "one_shot" {
            errors.push((
                "event[event_type]".into(),
                "only one_shot events are supported".into(),
            ));
        }
        let message = required(&input.message);
        if message.is_none() {
            errors.push(("event[message]".into(), "can't be blank".into()));
        }
        let names_users = !input.user_ids.is_empty()
            || !input.external_user_ids.is_empty()
            || !input.tags_any.is_empty()
            || !input.tags_all.is_empty();
        if !names_users {
            errors.push((
                "event[user]".into(),
                "must name recipients (ids, tags or external ids)".into(),
            ));
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let recipients = self.recipients(app_id, &input).await?;
        let now = self.core.clock.now_millis();
        let event = NewPushEvent {
            app_id,
            user_id,
            push_type,
            environment,
            event_type,
            name: required(&input.name),
            message: message.unwrap_or_default(),
            recipients,
            now,
        };
        Ok(self.core.store.create_push_event(&event).await?)
    }

    /// The users of the app an event names: by id, by external id, having any/all of some tags, less
    /// those having an excluded tag.
    async fn recipients(&self, app_id: i64, input: &EventInput) -> CoreResult<Vec<i64>> {
        let mut ids = std::collections::BTreeSet::new();
        let find = |conditions: Vec<UserCondition>| UserQuery {
            app_id,
            conditions,
            sort: None,
            limit: MAX_EVENT_RECIPIENTS,
            skip: 0,
        };
        let mut queries = Vec::new();
        if !input.user_ids.is_empty() {
            queries.push(vec![UserCondition {
                field: UserField::Id,
                op: FilterOp::In,
                values: input.user_ids.iter().map(|i| FilterValue::Int(*i)).collect(),
            }]);
        }
        if !input.external_user_ids.is_empty() {
            queries.push(vec![UserCondition {
                field: UserField::ExternalId,
                op: FilterOp::In,
                values: input
                    .external_user_ids
                    .iter()
                    .map(|i| FilterValue::Text(i.clone()))
                    .collect(),
            }]);
        }
        if !input.tags_any.is_empty() {
            queries.push(vec![UserCondition {
                field: UserField::UserTags,
                op: FilterOp::HasTag,
                values: input
                    .tags_any
                    .iter()
                    .map(|t| FilterValue::Text(t.clone()))
                    .collect(),
            }]);
        }
        if !input.tags_all.is_empty() {
            queries.push(
                input
                    .tags_all
                    .iter()
                    .map(|t| UserCondition {
                        field: UserField::UserTags,
                        op: FilterOp::HasTag,
                        values: vec![FilterValue::Text(t.clone())],
                    })
                    .collect(),
            );
        }
        for conditions in queries {
            let (users, _) = self.core.store.list_users(&find(conditions)).await?;
            ids.extend(users.iter().map(|u| u.id));
        }
        if !input.tags_exclude.is_empty() && !ids.is_empty() {
            let (excluded, _) = self
                .core
                .store
                .list_users(&find(vec![UserCondition {
                    field: UserField::UserTags,
                    op: FilterOp::HasTag,
                    values: input
                        .tags_exclude
                        .iter()
                        .map(|t| FilterValue::Text(t.clone()))
                        .collect(),
                }]))
                .await?;
            for user in excluded {
                ids.remove(&user.id);
            }
        }
        Ok(ids.into_iter().take(MAX_EVENT_RECIPIENTS as usize).collect())
    }

    // --- Settings (admin API) ---

    /// The app's chat-alert template: `{"title": …, "body": …}`, `null` parts meaning the default.
    pub async fn template(&self, app_id: i64) -> CoreResult<Value> {
        self.core.apps().get(app_id).await?;
        Ok(self
            .setting(app_id, setting::CHAT_ALERT_TEMPLATE)
            .await?
            .unwrap_or_else(|| json!({"title": null, "body": null})))
    }

    /// Sets (or with both parts empty, resets) the chat-alert template.
    pub async fn set_template(
        &self,
        app_id: i64,
        title: Option<String>,
        body: Option<String>,
    ) -> CoreResult<Value> {
        self.core.apps().get(app_id).await?;
        let title = required(&title);
        let body = required(&body);
        for (field, value) in [("title", &title), ("body", &body)] {
            if value.as_ref().is_some_and(|v| v.chars().count() > 1000) {
                return Err(CoreError::invalid(
                    field,
                    "is too long (maximum is 1000 characters)",
                ));
            }
        }
        let value = json!({"title": title, "body": body});
        let stored = (title.is_some() || body.is_some()).then(|| value.to_string());
        let now = self.core.clock.now_millis();
        self.core
            .store
            .set_push_setting(app_id, setting::CHAT_ALERT_TEMPLATE, stored.as_deref(), now)
            .await?;
        Ok(value)
    }

    /// Whether the app sends chat alerts (on unless an operator turned them off).
    pub async fn chat_alerts_enabled(&self, app_id: i64) -> CoreResult<bool> {
        Ok(self
            .setting(app_id, setting::CHAT_ALERTS)
            .await?
            .and_then(|v| v.get("enabled").and_then(Value::as_bool))
            .unwrap_or(true))
    }

    /// Turns the app's chat alerts on or off.
    pub async fn set_chat_alerts_enabled(&self, app_id: i64, enabled: bool) -> CoreResult<()> {
        self.core.apps().get(app_id).await?;
        let stored = (!enabled).then(|| json!({"enabled": false}).to_string());
        let now = self.core.clock.now_millis();
        self.core
            .store
            .set_push_setting(app_id, setting::CHAT_ALERTS, stored.as_deref(), now)
            .await?;
        Ok(())
    }

    /// Asks the dispatcher for a test chat alert to every device of the user, rendered with the app's
    /// template (`text` as the message). Returns how many devices it goes to; a user with none is an
    /// error, so the operator knows nothing will arrive.
    pub async fn test_chat_alert(
        &self,
        app_id: i64,
        user_id: i64,
        text: Option<String>,
    ) -> CoreResult<usize> {
        self.core.users().get(app_id, user_id).await?;
        let devices = self.core.store.push_subscriptions(app_id, &[user_id]).await?;
        if devices.is_empty() {
            return Err(CoreError::invalid(
                "user_id",
                "has no device subscribed to pushes",
            ));
        }
        let text = required(&text).unwrap_or_else(|| "This is a test chat alert".into());
        if text.chars().count() > 1000 {
            return Err(CoreError::invalid(
                "message",
                "is too long (maximum is 1000 characters)",
            ));
        }
        self.core
            .events
            .publish(crate::events::Event::ChatAlertTest {
                app_id,
                user_id,
                id: palaver_proto::new_object_id().to_string(),
                text,
            })
            .await;
        Ok(devices.len())
    }

    /// Provider credentials of the app (`fcm` or `apns`), as stored.
    pub async fn credentials(&self, app_id: i64, provider: &str) -> CoreResult<Option<Value>> {
        self.setting(app_id, provider).await
    }

    /// Stores (or with `None` removes) an app's FCM or APNs credentials after checking their fields.
    pub async fn set_credentials(&self, app_id: i64, provider: &str, value: Option<Value>) -> CoreResult<()> {
        self.core.apps().get(app_id).await?;
        let value = match (provider, value) {
            (_, None) => None,
            (setting::FCM, Some(value)) => {
                let account = value.get("service_account").cloned().unwrap_or(value);
                let account = match account {
                    Value::String(text) => serde_json::from_str::<Value>(&text)
                        .map_err(|_| CoreError::invalid("service_account", "is not JSON"))?,
                    other => other,
                };
                for field in ["client_email", "private_key", "project_id"] {
                    if account
                        .get(field)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        return Err(CoreError::invalid(
                            &format!("service_account.{field}"),
                            "can't be blank",
                        ));
                    }
                }
                Some(json!({ "service_account": account }))
            }
            (setting::APNS, Some(value)) => {
                let mut checked = Map::new();
                for field in ["key", "key_id", "team_id"] {
                    match value
                        .get(field)
                        .and_then(Value::as_str)
                        .filter(|v| !v.trim().is_empty())
                    {
                        Some(v) => checked.insert(field.into(), Value::String(v.to_owned())),
                        None => return Err(CoreError::invalid(field, "can't be blank")),
                    };
                }
                if let Some(topic) = value
                    .get("topic")
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                {
                    checked.insert("topic".into(), Value::String(topic.to_owned()));
                }
                Some(Value::Object(checked))
            }
            _ => return Err(CoreError::NotFound),
        };
        let now = self.core.clock.now_millis();
        let text = value.map(|v| v.to_string());
        self.core
            .store
            .set_push_setting(app_id, provider, text.as_deref(), now)
            .await?;
        Ok(())
    }

    async fn setting(&self, app_id: i64, name: &str) -> CoreResult<Option<Value>> {
        Ok(self
            .core
            .store
            .push_setting(app_id, name)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    pub async fn stats(&self) -> CoreResult<PushStats> {
        Ok(self.core.store.push_stats(self.core.clock.now_millis()).await?)
    }
}

/// Where device subscriptions, push events, the per-app push settings and the durable send queue (with
/// its records of what was sent) are kept.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Inserts the subscription, or replaces the one of the same app, udid and channel.
    async fn put_push_subscription(
        &self,
        subscription: &NewSubscription,
        now: i64,
    ) -> StoreResult<Subscription>;
    /// The subscriptions of these users of the app, oldest first.
    async fn push_subscriptions(&self, app_id: i64, user_ids: &[i64]) -> StoreResult<Vec<Subscription>>;
    /// Deletes a subscription (only the user's own when `user_id` is given) with its queued jobs.
    async fn delete_push_subscription(&self, app_id: i64, user_id: Option<i64>, id: i64)
        -> StoreResult<bool>;
    async fn create_push_event(&self, event: &NewPushEvent) -> StoreResult<PushEvent>;
    /// Events not yet turned into notifications, oldest first.
    async fn pending_push_events(&self, limit: i64) -> StoreResult<Vec<PushEvent>>;
    async fn finish_push_event(&self, id: i64, now: i64) -> StoreResult<()>;
    /// A per-app push setting (JSON text), see `push::setting`.
    async fn push_setting(&self, app_id: i64, name: &str) -> StoreResult<Option<String>>;
    /// Sets a setting, or removes it with `None`.
    async fn set_push_setting(
        &self,
        app_id: i64,
        name: &str,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    /// Records and queues each job whose (dedupe key, subscription, provider) was never recorded, as long
    /// as the queue holds fewer than `max_queue` jobs (the rest are recorded as dropped).
    async fn enqueue_push(&self, jobs: &[PushJob], max_queue: i64, now: i64) -> StoreResult<EnqueueOutcome>;
    /// Leases up to `limit` due jobs until `lease_until`, oldest due first.
    async fn claim_push_jobs(&self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<ClaimedJob>>;
    /// Counts a failed attempt and schedules the next one.
    async fn retry_push_job(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Removes a job from the queue and records how it ended (`sent`, `failed`, `invalid_token`).
    async fn finish_push_job(&self, id: i64, status: &str, detail: Option<&str>, now: i64)
        -> StoreResult<()>;
    /// Gives leased jobs back to the queue (a worker stopped before finishing them).
    async fn release_push_jobs(&self, ids: &[i64]) -> StoreResult<()>;
    async fn push_stats(&self, now: i64) -> StoreResult<PushStats>;
    /// Forgets records (not queued jobs) created before `before`.
    async fn purge_push_records(&self, before: i64) -> StoreResult<u64>;
}
