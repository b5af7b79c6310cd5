//! The dispatcher: turns chat alerts and REST push events into queued jobs (one per notification, device
//! and provider), and works the queue.

use crate::metrics::{self, SendOutcome};
use crate::notification::{self, AlertFields, Notification, Template};
use crate::providers::apns::{Apns, ApnsCredentials};
use crate::providers::fcm::{Fcm, ServiceAccount};
use crate::providers::webhook::Webhook;
use crate::providers::SendError;
use crate::{backoff, PushConfig};
use palaver_core::events::{Event, EventReceiver};
use palaver_core::model::{ChatMessage, DialogType};
use palaver_core::push::{setting, ClaimedJob, EnqueueOutcome, PushEvent, PushJob, Subscription};
use palaver_core::{Core, CoreResult};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

/// Chat alerts being turned into jobs at once.
const ENQUEUE_CONCURRENCY: usize = 8;
/// REST events picked up per look.
const EVENT_BATCH: i64 = 20;
/// How long in-flight sends may finish after the stop signal.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// What the dispatcher did since it started.
#[derive(Debug, Default)]
struct Stats {
    alerts: AtomicU64,
    silent: AtomicU64,
    muted: AtomicU64,
    events: AtomicU64,
    queued: AtomicU64,
    duplicates: AtomicU64,
    dropped: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    invalid_tokens: AtomicU64,
}

/// A copy of the dispatcher's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Chat alerts received, and those skipped because the message was silent.
    pub alerts: u64,
    pub silent: u64,
    /// Recipients skipped because they turned the dialog's notifications off.
    pub muted: u64,
    /// REST push events expanded.
    pub events: u64,
    pub queued: u64,
    pub duplicates: u64,
    pub dropped: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub invalid_tokens: u64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            alerts: get(&self.alerts),
            silent: get(&self.silent),
            muted: get(&self.muted),
            events: get(&self.events),
            queued: get(&self.queued),
            duplicates: get(&self.duplicates),
            dropped: get(&self.dropped),
            sent: get(&self.sent),
            retried: get(&self.retried),
            failed: get(&self.failed),
            invalid_tokens: get(&self.invalid_tokens),
        }
    }
}

struct Inner {
    core: Core,
    config: PushConfig,
    webhook: Option<Webhook>,
    fcm: Fcm,
    apns: Apns,
    /// Wakes the queue worker when something was enqueued.
    wake: Notify,
    stats: Stats,
}

/// The push dispatcher. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// Which providers an app's devices can be reached through.
struct Routes {
    webhook: bool,
    fcm: bool,
    apns: bool,
}

impl Routes {
    fn for_device(&self, subscription: &Subscription) -> Vec<&'static str> {
        let mut providers = Vec::new();
        if self.webhook {
            providers.push("webhook");
        }
        match subscription.channel.as_str() {
            "gcm" if self.fcm => providers.push("fcm"),
            "apns" | "apns_voip" if self.apns => providers.push("apns"),
            _ => {}
        }
        providers
    }
}

impl Dispatcher {
    pub fn new(core: Core, config: PushConfig) -> Dispatcher {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .expect("an HTTP client");
        let http2 = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .http2_prior_knowledge()
            .build()
            .expect("an HTTP/2 client");
        let webhook = config
            .webhook_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .map(|url| Webhook::new(client.clone(), url));
        Dispatcher {
            inner: Arc::new(Inner {
                fcm: Fcm::new(client, config.fcm_endpoint.clone(), config.fcm_token_uri.clone()),
                apns: Apns::new(
                    http2,
                    config.apns_endpoint.clone(),
                    config.apns_sandbox_endpoint.clone(),
                ),
                webhook,
                core,
                config,
                wake: Notify::new(),
                stats: Stats::default(),
            }),
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Runs until `stopped` turns true: follows the event bus (subscribed before this returns, so nothing
    /// published afterwards is missed), picks up REST events, and works the queue.
    pub fn run(
        self,
        stopped: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let events = self
            .inner
            .core
            .events
            .subscribe_to(|event| matches!(event, Event::ChatAlert { .. } | Event::ChatAlertTest { .. }));
        async move {
            let mut tasks = JoinSet::new();
            tasks.spawn(self.clone().follow_bus(events, stopped.clone()));
            tasks.spawn(self.clone().poll_events(stopped.clone()));
            tasks.spawn(self.clone().work_queue(stopped.clone()));
            tasks.spawn(metrics::sample_queue_depth(
                self.inner.core.clone(),
                stopped.clone(),
            ));
            while tasks.join_next().await.is_some() {}
            let stats = self.stats();
            tracing::info!(
                sent = stats.sent,
                failed = stats.failed,
                queued = stats.queued,
                "push dispatcher stopped"
            );
        }
    }

    // --- Turning things into jobs ---

    /// Handles one bus event; only `ChatAlert` and `ChatAlertTest` matter. Returns what was queued.
    pub async fn handle(&self, event: &Event) -> CoreResult<EnqueueOutcome> {
        match event {
            Event::ChatAlert {
                message,
                dialog_type,
                dialog_name,
                recipients,
                silent,
            } => {
                self.chat_alert(message, *dialog_type, dialog_name.as_deref(), recipients, *silent)
                    .await
            }
            Event::ChatAlertTest {
                app_id,
                user_id,
                id,
                text,
            } => self.test_alert(*app_id, *user_id, id, text).await,
            _ => Ok(EnqueueOutcome::default()),
        }
    }

    async fn follow_bus(self, mut events: EventReceiver, mut stopped: watch::Receiver<bool>) {
        let limit = Arc::new(Semaphore::new(ENQUEUE_CONCURRENCY));
        let mut handlers = JoinSet::new();
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = stopped.changed() => break,
            };
            match event {
                Some(event) => {
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        break;
                    };
                    let this = self.clone();
                    handlers.spawn(async move {
                        if let Err(error) = this.handle(&event).await {
                            tracing::warn!(%error, "queueing a chat alert failed");
                        }
                        drop(permit);
                    });
                }
                None => break,
            }
            while handlers.try_join_next().is_some() {}
        }
        // What was received gets queued before stopping.
        while handlers.join_next().await.is_some() {}
    }

    async fn chat_alert(
        &self,
        message: &ChatMessage,
        dialog_type: DialogType,
        dialog_name: Option<&str>,
        recipients: &[i64],
        silent: bool,
    ) -> CoreResult<EnqueueOutcome> {
        let inner = &self.inner;
        let core = &inner.core;
        Stats::add(&inner.stats.alerts, 1);
        if silent {
            Stats::add(&inner.stats.silent, 1);
            tracing::debug!(message_id = %message.id, "silent message: no chat alert");
            return Ok(EnqueueOutcome::default());
        }
        let mut users = Vec::new();
        for &user_id in recipients {
            if user_id == message.sender_id || users.contains(&user_id) {
                continue;
            }
            if !core
                .dialogs()
                .notifications_enabled(&message.dialog_id, user_id)
                .await?
            {
                Stats::add(&inner.stats.muted, 1);
                continue;
            }
            users.push(user_id);
        }
        if users.is_empty() {
            return Ok(EnqueueOutcome::default());
        }
        let devices = core.store.push_subscriptions(message.app_id, &users).await?;
        if devices.is_empty() {
            return Ok(EnqueueOutcome::default());
        }
        let routes = self.routes(message.app_id).await?;
        let sender_name = match core.store.user(message.app_id, message.sender_id).await? {
            Some(user) => user
                .profile
                .full_name
                .filter(|n| !n.trim().is_empty())
                .or(user.profile.login)
                .unwrap_or_else(|| format!("User {}", message.sender_id)),
            None => format!("User {}", message.sender_id),
        };
        let has_attachments = message.attachments.as_array().is_some_and(|a| !a.is_empty());
        let text = message.body.clone().filter(|b| !b.trim().is_empty());
        let fields = AlertFields {
            sender_name,
            message: text.clone().unwrap_or_else(|| {
                if has_attachments {
                    "Attachment".into()
                } else {
                    String::new()
                }
            }),
            dialog_name: dialog_name.unwrap_or_default().to_owned(),
        };
        let template = self.template(message.app_id).await?;
        let (title, body) = notification::render_alert(&template, &fields);
        let dedupe_key = format!("chat:{}:{}:{}", message.dialog_id, message.sender_id, message.id);
        let mut badges: HashMap<i64, i64> = HashMap::new();
        let mut jobs = Vec::new();
        for device in &devices {
            let providers = routes.for_device(device);
            if providers.is_empty() {
                continue;
            }
            let badge = match badges.get(&device.user_id) {
                Some(badge) => *badge,
                None => {
                    let (total, _) = core
                        .history()
                        .unread(message.app_id, device.user_id, None)
                        .await?;
                    badges.insert(device.user_id, total);
                    total
                }
            };
            let n = Notification {
                kind: "chat_alert".into(),
                title: Some(title.clone()),
                body: body.clone(),
                badge: Some(badge),
                sound: Some("default".into()),
                voip: false,
                content_available: false,
                dialog_id: Some(message.dialog_id.clone()),
                dialog_type: Some(dialog_type.code()),
                dialog_name: dialog_name.map(str::to_owned),
                message_id: Some(message.id.clone()),
                sender_id: Some(message.sender_id),
                text: text.clone(),
                event_id: None,
                data: Default::default(),
            };
            let payload = serde_json::to_string(&n).unwrap_or_default();
            for provider in providers {
                jobs.push(PushJob {
                    app_id: message.app_id,
                    user_id: device.user_id,
                    subscription_id: device.id,
                    provider: provider.into(),
                    dedupe_key: dedupe_key.clone(),
                    payload: payload.clone(),
                });
            }
        }
        self.enqueue(&jobs).await
    }

    /// An operator's test: the app's template rendered with `text` as the message, to every device of
    /// the user, marked `"test": true` in its data.
    async fn test_alert(
        &self,
        app_id: i64,
        user_id: i64,
        id: &str,
        text: &str,
    ) -> CoreResult<EnqueueOutcome> {
        let devices = self
            .inner
            .core
            .store
            .push_subscriptions(app_id, &[user_id])
            .await?;
        let routes = self.routes(app_id).await?;
        let fields = AlertFields {
            sender_name: "Palaver".into(),
            message: text.to_owned(),
            dialog_name: "Test".into(),
        };
        let (title, body) = notification::render_alert(&self.template(app_id).await?, &fields);
        let mut data = serde_json::Map::new();
        data.insert("test".into(), Value::Bool(true));
        let n = Notification {
            kind: "chat_alert".into(),
            title: Some(title),
            body,
            badge: None,
            sound: Some("default".into()),
            voip: false,
            content_available: false,
            dialog_id: None,
            dialog_type: None,
            dialog_name: Some(fields.dialog_name),
            message_id: None,
            sender_id: None,
            text: Some(text.to_owned()),
            event_id: None,
            data,
        };
        let payload = serde_json::to_string(&n).unwrap_or_default();
        let dedupe_key = format!("test:{id}");
        let mut jobs = Vec::new();
        for device in &devices {
            for provider in routes.for_device(device) {
                jobs.push(PushJob {
                    app_id,
                    user_id,
                    subscription_id: device.id,
                    provider: provider.into(),
                    dedupe_key: dedupe_key.clone(),
                    payload: payload.clone(),
                });
            }
        }
        self.enqueue(&jobs).await
    }

    /// The app's chat-alert template (the default when none is set).
    async fn template(&self, app_id: i64) -> CoreResult<Template> {
        Ok(self
            .inner
            .core
            .store
            .push_setting(app_id, setting::CHAT_ALERT_TEMPLATE)
            .await?
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .map(|v| Template::from_setting(&v))
            .unwrap_or_default())
    }

    /// Turns one stored REST event into jobs and marks it done.
    pub async fn expand_event(&self, event: &PushEvent) -> CoreResult<EnqueueOutcome> {
        let inner = &self.inner;
        let core = &inner.core;
        Stats::add(&inner.stats.events, 1);
        let content = notification::event_content(&event.message);
        let devices = core
            .store
            .push_subscriptions(event.app_id, &event.recipients)
            .await?;
        let routes = self.routes(event.app_id).await?;
        let mut jobs = Vec::new();
        let dedupe_key = format!("event:{}", event.id);
        for device in devices {
            if event.push_type.as_deref().is_some_and(|t| t != device.channel) {
                continue;
            }
            if event
                .environment
                .as_deref()
                .is_some_and(|e| e != device.environment)
            {
                continue;
            }
            let n = Notification {
                event_id: Some(event.id),
                sender_id: event.user_id,
                ..content.clone()
            };
            let payload = serde_json::to_string(&n).unwrap_or_default();
            for provider in routes.for_device(&device) {
                jobs.push(PushJob {
                    app_id: event.app_id,
                    user_id: device.user_id,
                    subscription_id: device.id,
                    provider: provider.into(),
                    dedupe_key: dedupe_key.clone(),
                    payload: payload.clone(),
                });
            }
        }
        let outcome = self.enqueue(&jobs).await?;
        core.store
            .finish_push_event(event.id, core.clock.now_millis())
            .await?;
        Ok(outcome)
    }

    async fn routes(&self, app_id: i64) -> CoreResult<Routes> {
        let store = &self.inner.core.store;
        Ok(Routes {
            webhook: self.inner.webhook.is_some(),
            fcm: store.push_setting(app_id, setting::FCM).await?.is_some(),
            apns: store.push_setting(app_id, setting::APNS).await?.is_some(),
        })
    }

    async fn enqueue(&self, jobs: &[PushJob]) -> CoreResult<EnqueueOutcome> {
        if jobs.is_empty() {
            return Ok(EnqueueOutcome::default());
        }
        let inner = &self.inner;
        let now = inner.core.clock.now_millis();
        let outcome = inner
            .core
            .store
            .enqueue_push(jobs, inner.config.max_queue, now)
            .await?;
        Stats::add(&inner.stats.queued, outcome.queued);
        Stats::add(&inner.stats.duplicates, outcome.duplicates);
        Stats::add(&inner.stats.dropped, outcome.dropped);
        if outcome.dropped > 0 {
            tracing::warn!(
                dropped = outcome.dropped,
                max = inner.config.max_queue,
                "push queue full: notifications dropped"
            );
        }
        if outcome.queued > 0 {
            inner.wake.notify_one();
        }
        tracing::debug!(
            queued = outcome.queued,
            duplicates = outcome.duplicates,
            "push jobs queued"
        );
        Ok(outcome)
    }

    /// Picks up REST push events, and now and then forgets old records.
    async fn poll_events(self, mut stopped: watch::Receiver<bool>) {
        let core = self.inner.core.clone();
        let mut last_purge = tokio::time::Instant::now();
        loop {
            match core.store.pending_push_events(EVENT_BATCH).await {
                Ok(events) => {
                    for event in &events {
                        if let Err(error) = self.expand_event(event).await {
                            tracing::warn!(%error, event_id = event.id, "expanding a push event failed");
                        }
                    }
                    if events.len() as i64 == EVENT_BATCH {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "reading push events failed"),
            }
            if last_purge.elapsed() > Duration::from_secs(3600) {
                last_purge = tokio::time::Instant::now();
                let before = core.clock.now_millis() - self.inner.config.record_retention.as_millis() as i64;
                if let Err(error) = core.store.purge_push_records(before).await {
                    tracing::warn!(%error, "purging push records failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.inner.config.poll_interval) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    // --- Working the queue ---

    async fn work_queue(self, mut stopped: watch::Receiver<bool>) {
        let inner = self.inner.clone();
        let workers = inner.config.workers.max(1);
        let slots = Arc::new(Semaphore::new(workers));
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let mut sends = JoinSet::new();
        loop {
            while sends.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = stopped.changed() => break,
            };
            let mut permits = vec![first];
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            let now = inner.core.clock.now_millis();
            let lease_until = now + inner.config.lease.as_millis() as i64;
            let jobs = match inner
                .core
                .store
                .claim_push_jobs(now, lease_until, permits.len() as i64)
                .await
            {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, "claiming push jobs failed");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                drop(permits);
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(inner.config.poll_interval) => {}
                    _ = stopped.changed() => break,
                }
                continue;
            }
            for (job, permit) in jobs.into_iter().zip(permits) {
                in_flight.lock().unwrap().insert(job.id);
                let this = self.clone();
                let in_flight = in_flight.clone();
                sends.spawn(async move {
                    let id = job.id;
                    this.process(job).await;
                    in_flight.lock().unwrap().remove(&id);
                    drop(permit);
                });
            }
        }
        // Sends under way may finish; the rest go back to the queue for the next start.
        let _ = tokio::time::timeout(STOP_GRACE, async { while sends.join_next().await.is_some() {} }).await;
        sends.shutdown().await;
        let unfinished: Vec<i64> = in_flight.lock().unwrap().iter().copied().collect();
        if !unfinished.is_empty() {
            if let Err(error) = inner.core.store.release_push_jobs(&unfinished).await {
                tracing::warn!(%error, "releasing unfinished push jobs failed");
            }
        }
    }

    /// Sends one job and records the outcome.
    async fn process(&self, job: ClaimedJob) {
        let inner = &self.inner;
        let store = &inner.core.store;
        let device = &job.subscription;
        let result = match serde_json::from_str::<Notification>(&job.payload) {
            Ok(n) => self.send(&job.provider, device, &n).await,
            Err(error) => Err(SendError::Failed(format!("unreadable payload: {error}"))),
        };
        let now = inner.core.clock.now_millis();
        let span = (job.id, job.provider.as_str(), device.id, device.user_id);
        // The outcome is recorded in the store first (job released and push_sent updated in one
        // transaction) and only then counted, so whoever sees a counter move also sees the queue settled.
        let (recorded, counter, outcome) = match result {
            Ok(()) => {
                tracing::info!(job = span.0, provider = span.1, subscription = span.2, user_id = span.3,
                    key = %job.dedupe_key, "push sent");
                (
                    store.finish_push_job(job.id, "sent", None, now).await,
                    &inner.stats.sent,
                    SendOutcome::Sent,
                )
            }
            Err(SendError::InvalidToken(reason)) => {
                tracing::info!(job = span.0, provider = span.1, subscription = span.2, user_id = span.3,
                    %reason, "device token rejected; removing the subscription");
                let finished = store
                    .finish_push_job(job.id, "invalid_token", Some(&reason), now)
                    .await;
                let removed = store
                    .delete_push_subscription(device.app_id, None, device.id)
                    .await;
                (
                    finished.and(removed.map(|_| ())),
                    &inner.stats.invalid_tokens,
                    SendOutcome::DeadToken,
                )
            }
            Err(SendError::Retry { reason, after }) if job.attempts + 1 < inner.config.max_attempts => {
                let delay = backoff(&inner.config, job.attempts, after);
                tracing::info!(job = span.0, provider = span.1, subscription = span.2, attempt = job.attempts + 1,
                    retry_in_ms = delay.as_millis() as u64, %reason, "push failed; will retry");
                (
                    store
                        .retry_push_job(job.id, now + delay.as_millis() as i64, &reason)
                        .await,
                    &inner.stats.retried,
                    SendOutcome::Retried,
                )
            }
            Err(error) => {
                let reason = error.to_string();
                tracing::warn!(job = span.0, provider = span.1, subscription = span.2, attempts = job.attempts + 1,
                    %reason, "push failed for good");
                (
                    store.finish_push_job(job.id, "failed", Some(&reason), now).await,
                    &inner.stats.failed,
                    SendOutcome::Failed,
                )
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(%error, job = job.id, "recording a push outcome failed");
        }
        Stats::add(counter, 1);
        metrics::send(&job.provider, outcome);
    }

    async fn send(&self, provider: &str, device: &Subscription, n: &Notification) -> Result<(), SendError> {
        let inner = &self.inner;
        let store = &inner.core.store;
        let credentials = |name: &'static str| async move {
            store
                .push_setting(device.app_id, name)
                .await
                .map_err(|e| SendError::retry(format!("reading credentials: {e}")))?
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .ok_or_else(|| SendError::Failed(format!("the app has no {name} credentials")))
        };
        match provider {
            "webhook" => match &inner.webhook {
                Some(webhook) => webhook.send(device, n).await,
                None => Err(SendError::Failed("no webhook is configured".into())),
            },
            "fcm" => {
                let value = credentials(setting::FCM).await?;
                let account: ServiceAccount = serde_json::from_value(value["service_account"].clone())
                    .map_err(|e| SendError::Failed(format!("FCM service account: {e}")))?;
                inner.fcm.send(&account, device, n).await
            }
            "apns" => {
                let value = credentials(setting::APNS).await?;
                let apns: ApnsCredentials = serde_json::from_value(value)
                    .map_err(|e| SendError::Failed(format!("APNs credentials: {e}")))?;
                inner.apns.send(&apns, device, n).await
            }
            other => Err(SendError::Failed(format!("unknown provider {other}"))),
        }
    }
}
