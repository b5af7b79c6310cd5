//! Two cluster members in one process, on the NATS server of this machine (skipped, saying so, when none
//! answers): the directory replicates sessions both ways, asks are answered, a goodbye is heard, and a
//! member that stops talking is declared gone after the node timeout.

use async_trait::async_trait;
use palaver_cluster::{Cluster, ClusterConfig};
use palaver_core::cluster::{PeerHandler, Peers, SessionState};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn nats_url() -> String {
    std::env::var("PALAVER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Answers every payload with itself reversed.
struct Mirror;

#[async_trait]
impl PeerHandler for Mirror {
    async fn handle(&self, payload: &[u8]) -> Vec<u8> {
        payload.iter().rev().copied().collect()
    }
}

fn config(name: &str, prefix: &str) -> ClusterConfig {
    ClusterConfig {
        nats_url: nats_url(),
        node_name: name.to_owned(),
        prefix: prefix.to_owned(),
        node_timeout: Duration::from_millis(800),
        request_timeout: Duration::from_millis(500),
    }
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_sessions_answer_asks_and_notice_departures() {
    let url = nats_url();
    if std::net::TcpStream::connect(url.trim_start_matches("nats://")).is_err() {
        eprintln!("SKIPPED: no NATS at {url}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn palaver_core::store::Store> = Arc::new(
        palaver_store::open(&palaver_store::sqlite_url(dir.path()))
            .await
            .unwrap(),
    );
    let prefix = format!("membership{}", palaver_proto::random_hex_token(4));
    let a = Cluster::connect(config("a", &prefix)).await.unwrap();
    let b = Cluster::connect(config("b", &prefix)).await.unwrap();
    let (stop_a, stopped_a) = watch::channel(false);
    let (_stop_b, stopped_b) = watch::channel(false);
    let a_task = a.start(Arc::new(Mirror), store.clone(), stopped_a).await.unwrap();
    b.start(Arc::new(Mirror), store.clone(), stopped_b).await.unwrap();

    a.announce(
        SessionState {
            app_id: 1,
            user_id: 7,
            resource: "phone".into(),
            available: true,
            active: false,
            rooms: vec![],
        },
        false,
    );
    until("b sees a's session", || b.is_online(1, 7)).await;
    assert!(!b.is_active(1, 7));
    assert_eq!(b.nodes_of(1, 7, None), vec![a.id().to_owned()]);
    assert_eq!(b.available_resources(1, 7), vec!["phone".to_owned()]);
    assert_eq!(b.users(1, true), vec![7]);
    assert!(!a.is_online(1, 7), "a node's own sessions are not in its replica");

    // An ask is answered by the other node's handler.
    let answer = b.ask(a.id(), b"abc".to_vec()).await;
    assert_eq!(answer.as_deref(), Some(&b"cba"[..]));
    // A node that does not exist answers nothing.
    assert_eq!(b.ask("nobody-00000000", b"abc".to_vec()).await, None);

    // The session ends: b forgets it.
    a.announce(
        SessionState {
            app_id: 1,
            user_id: 7,
            resource: "phone".into(),
            available: true,
            active: false,
            rooms: vec![],
        },
        true,
    );
    until("b forgets the session", || !b.is_online(1, 7)).await;

    // a leaves with a goodbye: b forgets it at once (its session with it).
    a.announce(
        SessionState {
            app_id: 1,
            user_id: 8,
            resource: "web".into(),
            available: true,
            active: true,
            rooms: vec![],
        },
        false,
    );
    until("b sees the new session", || b.is_active(1, 8)).await;
    stop_a.send(true).unwrap();
    a_task.await.unwrap();
    until("b forgets a", || !b.is_online(1, 8)).await;

    // A member that falls silent without a goodbye is declared gone after the timeout.
    let c = Cluster::connect(config("c", &prefix)).await.unwrap();
    let (_stop_c, stopped_c) = watch::channel(false);
    let c_task = c.start(Arc::new(Mirror), store.clone(), stopped_c).await.unwrap();
    c.announce(
        SessionState {
            app_id: 1,
            user_id: 9,
            resource: "web".into(),
            available: true,
            active: true,
            rooms: vec![],
        },
        false,
    );
    until("b sees c's session", || b.is_online(1, 9)).await;
    c_task.abort();
    until("b declares c gone", || !b.is_online(1, 9)).await;
}

/// Two nodes' stores on one PostgreSQL schema: a user changed through one is forgotten by the other's
/// cache, which then reads the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_changed_on_one_node_is_forgotten_by_the_others_cache() {
    let url = nats_url();
    if std::net::TcpStream::connect(url.trim_start_matches("nats://")).is_err() {
        eprintln!("SKIPPED: no NATS at {url}");
        return;
    }
    use palaver_core::store::prelude::*;
    let (db, schema) = palaver_store::testing::fresh_postgres_schema().await.unwrap();
    let store_a = palaver_store::open(&db).await.unwrap();
    let store_b = palaver_store::open(&db).await.unwrap();
    let core_a = palaver_core::Core::new(Arc::new(store_a.clone()), Default::default());
    let (app, users) = palaver_store::testing::app_with_users(&core_a, "cache", 1).await;
    let user = users[0];

    let prefix = format!("cache{}", palaver_proto::random_hex_token(4));
    let a = Cluster::connect(config("a", &prefix)).await.unwrap();
    let b = Cluster::connect(config("b", &prefix)).await.unwrap();
    let (_stop, stopped) = watch::channel(false);
    a.start(Arc::new(Mirror), Arc::new(store_a.clone()), stopped.clone())
        .await
        .unwrap();
    b.start(Arc::new(Mirror), Arc::new(store_b.clone()), stopped)
        .await
        .unwrap();

    // b caches the user as it is now.
    let before = store_b.user(app, user).await.unwrap().unwrap();
    assert_eq!(before.profile.full_name, None);
    let mut profile = before.profile.clone();
    profile.full_name = Some("Changed On A".into());
    store_a
        .update_user(app, user, &profile, 1)
        .await
        .unwrap()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = store_b.user(app, user).await.unwrap().unwrap();
        if now.profile.full_name.as_deref() == Some("Changed On A") {
            break;
        }
        assert!(Instant::now() < deadline, "b still has the old row cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store_a.close().await;
    store_b.close().await;
    palaver_store::testing::drop_postgres_schema(&schema)
        .await
        .unwrap();
}
