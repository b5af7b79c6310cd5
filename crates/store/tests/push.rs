//! The push records over the real store, on both backends: subscriptions (one per device and channel,
//! taken over by a new user), the queue's bound and duplicate records, leases, retries, outcomes, giving
//! jobs back, statistics and the purge.

use palaver_core::clock::ManualClock;
use palaver_core::cluster::CacheChange;
use palaver_core::model::Profile;
use palaver_core::push::{EventInput, PushJob, SubscriptionInput};
use palaver_core::store::prelude::*;
use palaver_core::{Core, CoreError, CoreSettings};
use palaver_store::testing::with_both_stores;
use std::future::Future;
use std::sync::Arc;

const START: i64 = 1_700_000_000_000;

struct Fixture {
    core: Core,
}

async fn with_both<F, Fut>(test: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    with_both_stores(|store| test(fixture(Arc::new(store)))).await
}

fn fixture(store: Arc<dyn Store>) -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let settings = CoreSettings {
        scram_iterations: 1,
        ..CoreSettings::default()
    };
    Fixture {
        core: Core::new(store, settings).with_clock(clock),
    }
}

async fn app_with_users(core: &Core, n: usize) -> (i64, Vec<i64>) {
    let app = core.apps().create("push").await.unwrap().id;
    let mut ids = Vec::new();
    for i in 0..n {
        let profile = Profile {
            login: Some(format!("user{i}")),
            user_tags: Some(if i % 2 == 0 { "even,all" } else { "odd,all" }.into()),
            external_id: Some(format!("ext-{i}")),
            ..Profile::default()
        };
        ids.push(
            core.users()
                .signup(app, profile, Some("password1".into()))
                .await
                .unwrap()
                .id,
        );
    }
    (app, ids)
}

fn android(udid: &str, token: &str) -> SubscriptionInput {
    SubscriptionInput {
        channel: Some("gcm".into()),
        platform: Some("android".into()),
        udid: Some(udid.into()),
        environment: Some("development".into()),
        client_identification_sequence: Some(token.into()),
        ..SubscriptionInput::default()
    }
}

fn job(app: i64, user: i64, subscription: i64, key: &str) -> PushJob {
    PushJob {
        app_id: app,
        user_id: user,
        subscription_id: subscription,
        provider: "webhook".into(),
        dedupe_key: key.into(),
        payload: format!("{{\"body\":\"{key}\"}}"),
    }
}

#[tokio::test]
async fn subscriptions_are_one_per_device_and_channel() {
    with_both(|f| async move {
        let push = f.core.push();
        let (app, users) = app_with_users(&f.core, 2).await;
        let first = push
            .subscribe(app, users[0], android("phone", "t1"))
            .await
            .unwrap();
        assert_eq!(
            (
                first.channel.as_str(),
                first.environment.as_str(),
                first.token.as_str()
            ),
            ("gcm", "development", "t1")
        );
        let again = push
            .subscribe(app, users[0], android("phone", "t2"))
            .await
            .unwrap();
        assert_eq!((again.id, again.token.as_str()), (first.id, "t2"));
        let mut ios = android("phone", "apns-1");
        ios.channel = Some("apns".into());
        ios.platform = Some("ios".into());
        let other_channel = push.subscribe(app, users[0], ios).await.unwrap();
        assert_ne!(other_channel.id, first.id);
        assert_eq!(push.subscriptions(app, users[0]).await.unwrap().len(), 2);

        // Invalid input names every bad field.
        let err = push
            .subscribe(
                app,
                users[0],
                SubscriptionInput {
                    channel: Some("fax".into()),
                    ..SubscriptionInput::default()
                },
            )
            .await
            .unwrap_err();
        let CoreError::Invalid(fields) = err else {
            panic!("{err:?}")
        };
        let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "notification_channel",
                "device[platform]",
                "device[udid]",
                "push_token[client_identification_sequence]"
            ]
        );

        // A queued job of the first user goes when the device moves to the second user.
        let store = &f.core.store;
        let outcome = store
            .enqueue_push(&[job(app, users[0], first.id, "k1")], 10, START)
            .await
            .unwrap();
        assert_eq!(outcome.queued, 1);
        let moved = push
            .subscribe(app, users[1], android("phone", "t3"))
            .await
            .unwrap();
        assert_eq!((moved.id, moved.user_id), (first.id, users[1]));
        assert_eq!(push.subscriptions(app, users[0]).await.unwrap().len(), 1);
        let stats = push.stats().await.unwrap();
        assert_eq!(stats.queued, 0);
        assert_eq!(stats.records, vec![("webhook".into(), "cancelled".into(), 1)]);

        // Only the owner deletes; the app-wide delete (dead tokens) needs no owner.
        assert!(matches!(
            push.unsubscribe(app, users[0], moved.id).await,
            Err(CoreError::NotFound)
        ));
        push.unsubscribe(app, users[1], moved.id).await.unwrap();
        assert!(store
            .delete_push_subscription(app, None, other_channel.id)
            .await
            .unwrap());
        assert!(!store
            .delete_push_subscription(app, None, other_channel.id)
            .await
            .unwrap());
    })
    .await;
}

#[tokio::test]
async fn the_queue_is_bounded_deduplicated_leased_and_recorded() {
    with_both(|f| async move {
        let store = &f.core.store;
        let (app, users) = app_with_users(&f.core, 1).await;
        let device = f
            .core
            .push()
            .subscribe(app, users[0], android("phone", "t"))
            .await
            .unwrap()
            .id;
        let jobs: Vec<PushJob> = (0..4)
            .map(|i| job(app, users[0], device, &format!("k{i}")))
            .collect();

        // Room for three: the fourth is recorded as dropped; the same jobs again are duplicates.
        let outcome = store.enqueue_push(&jobs, 3, START).await.unwrap();
        assert_eq!((outcome.queued, outcome.duplicates, outcome.dropped), (3, 0, 1));
        let outcome = store.enqueue_push(&jobs, 3, START).await.unwrap();
        assert_eq!((outcome.queued, outcome.duplicates, outcome.dropped), (0, 4, 0));

        // Leases: two claimed, the third left; claimed jobs are not claimed again until the lease ends.
        let claimed = store.claim_push_jobs(START, START + 1_000, 2).await.unwrap();
        assert_eq!(
            claimed.iter().map(|j| j.dedupe_key.as_str()).collect::<Vec<_>>(),
            ["k0", "k1"]
        );
        assert_eq!(claimed[0].subscription.token, "t");
        assert_eq!(claimed[0].payload, r#"{"body":"k0"}"#);
        let rest = store.claim_push_jobs(START, START + 1_000, 10).await.unwrap();
        assert_eq!(
            rest.iter().map(|j| j.dedupe_key.as_str()).collect::<Vec<_>>(),
            ["k2"]
        );
        assert!(store
            .claim_push_jobs(START + 500, START + 1_500, 10)
            .await
            .unwrap()
            .is_empty());

        // Outcomes: k0 sent; k1 retried later; k2 given back.
        store
            .finish_push_job(claimed[0].id, "sent", None, START + 10)
            .await
            .unwrap();
        store
            .retry_push_job(claimed[1].id, START + 5_000, "503")
            .await
            .unwrap();
        store.release_push_jobs(&[rest[0].id]).await.unwrap();
        let due = store
            .claim_push_jobs(START + 20, START + 10_000, 10)
            .await
            .unwrap();
        assert_eq!(
            due.iter().map(|j| j.dedupe_key.as_str()).collect::<Vec<_>>(),
            ["k2"]
        );
        let stats = f.core.push().stats().await.unwrap();
        assert_eq!((stats.queued, stats.retrying), (2, 1));
        let later = store
            .claim_push_jobs(START + 5_000, START + 6_000, 10)
            .await
            .unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!((later[0].dedupe_key.as_str(), later[0].attempts), ("k1", 1));
        store
            .finish_push_job(later[0].id, "failed", Some("gave up"), START + 5_001)
            .await
            .unwrap();
        store
            .finish_push_job(due[0].id, "invalid_token", Some("410"), START + 5_002)
            .await
            .unwrap();
        let stats = f.core.push().stats().await.unwrap();
        assert_eq!(stats.queued, 0);
        let mut records = stats.records.clone();
        records.sort();
        assert_eq!(
            records,
            vec![
                ("webhook".into(), "dropped".into(), 1),
                ("webhook".into(), "failed".into(), 1),
                ("webhook".into(), "invalid_token".into(), 1),
                ("webhook".into(), "sent".into(), 1),
            ]
        );

        // Old records go; while they are kept, the same notification is never queued again.
        assert_eq!(
            store
                .enqueue_push(&jobs[..1], 10, START)
                .await
                .unwrap()
                .duplicates,
            1
        );
        assert_eq!(store.purge_push_records(START + 1).await.unwrap(), 4);
        assert!(f.core.push().stats().await.unwrap().records.is_empty());
    })
    .await;
}

#[tokio::test]
async fn events_resolve_their_recipients_and_wait_for_the_dispatcher() {
    with_both(|f| async move {
        let push = f.core.push();
        let (app, users) = app_with_users(&f.core, 4).await;
        let input = |ids: Vec<i64>| EventInput {
            notification_type: Some("push".into()),
            message: Some("aGVsbG8=".into()),
            user_ids: ids,
            ..EventInput::default()
        };
        let by_id = push
            .create_event(app, Some(users[0]), input(vec![users[1], 999_999]))
            .await
            .unwrap();
        assert_eq!(by_id.recipients, vec![users[1]]);
        assert_eq!((by_id.event_type.as_str(), by_id.created_at), ("one_shot", START));
        let tagged = push
            .create_event(
                app,
                None,
                EventInput {
                    tags_any: vec!["all".into()],
                    tags_exclude: vec!["odd".into()],
                    ..input(Vec::new())
                },
            )
            .await
            .unwrap();
        assert_eq!(tagged.recipients, vec![users[0], users[2]]);
        let external = push
            .create_event(
                app,
                None,
                EventInput {
                    external_user_ids: vec!["ext-3".into()],
                    ..input(Vec::new())
                },
            )
            .await
            .unwrap();
        assert_eq!(external.recipients, vec![users[3]]);
        for bad in [
            EventInput {
                message: None,
                ..input(vec![users[1]])
            },
            input(Vec::new()),
            EventInput {
                push_type: Some("sms".into()),
                ..input(vec![users[1]])
            },
        ] {
            assert!(matches!(
                push.create_event(app, None, bad).await,
                Err(CoreError::Invalid(_))
            ));
        }

        let store = &f.core.store;
        let pending = store.pending_push_events(10).await.unwrap();
        assert_eq!(
            pending.iter().map(|e| e.id).collect::<Vec<_>>(),
            [by_id.id, tagged.id, external.id]
        );
        store.finish_push_event(by_id.id, START).await.unwrap();
        assert_eq!(store.pending_push_events(10).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn push_settings_are_cached_and_every_change_is_announced() {
    with_both_stores(|store| async move {
        let store = Arc::new(store);
        let f = fixture(store.clone());
        let (app, _) = app_with_users(&f.core, 1).await;
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = heard.clone();
        f.core.store.on_cache_change(Arc::new(move |change| {
            sink.lock().unwrap().push(change);
        }));
        let push = f.core.push();
        assert!(push.chat_alerts_enabled(app).await.unwrap());
        push.set_chat_alerts_enabled(app, false).await.unwrap();
        assert!(!push.chat_alerts_enabled(app).await.unwrap());
        push.set_chat_alerts_enabled(app, true).await.unwrap();
        assert!(push.chat_alerts_enabled(app).await.unwrap());
        let changes: Vec<(i64, String)> = heard
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| match c {
                CacheChange::PushSetting { app_id, name } => Some((*app_id, name.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes
            .iter()
            .all(|change| change == &changes[0] && change.0 == app));

        // Another node turns alerts off (a write this store does not see): the cached value stands
        // until that node's change arrives, then the database is read again.
        let (_, name) = changes[0].clone();
        sqlx::query("INSERT INTO push_settings (app_id, name, value, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(app)
            .bind(&name)
            .bind(r#"{"enabled":false}"#)
            .bind(START)
            .execute(store.pool())
            .await
            .unwrap();
        assert!(push.chat_alerts_enabled(app).await.unwrap(), "read from memory");
        f.core
            .store
            .apply_remote_change(&CacheChange::PushSetting { app_id: app, name });
        assert!(
            !push.chat_alerts_enabled(app).await.unwrap(),
            "read from the database"
        );
    })
    .await
}
