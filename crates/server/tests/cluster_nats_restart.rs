//! End-to-end: the NATS server of a three-node cluster is killed with SIGKILL in the middle of a
//! conversation between users on different nodes, and started again. While it is down, messages are
//! still acknowledged (and kept for the recipient); once it is back the nodes find each other again by
//! themselves and deliver live. Every acknowledged message is in history once and delivered once. The
//! test runs a NATS server of its own, so nobody else's is disturbed.

mod support;

use reqwest::Method;
use std::collections::HashMap;
use std::time::Duration;
use support::cluster::{Cluster, OwnNats};
use support::numbered::Numbered;

const MESSAGES: Numbered = Numbered("nats");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_restarted_under_traffic_loses_nothing_acknowledged() {
    let Some(mut nats) = OwnNats::start() else {
        return;
    };
    let c = Cluster::start_on(&nats.url(), 3, "NatsRestart", &["alice", "bob"], &[]).await;
    let alice_token = c.token(0, 0).await;
    let bob_jid = c.bare(1);
    let mut alice = c.login(0, 0).await;
    alice.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<enabled").await;
    let mut bob = c.online(1, 1).await;
    c.until_online_everywhere(&[0, 1, 2], &[1], &alice_token).await;

    let mut delivered = HashMap::new();
    assert_eq!(MESSAGES.send_acknowledged(&mut alice, &bob_jid, 0..30).await, 30);
    MESSAGES.receive_all(&mut bob, 0..30, &mut delivered).await;

    // NATS dies: alice's messages are still acknowledged (node 0 cannot reach bob's node, so they are
    // kept for him).
    nats.crash();
    assert_eq!(MESSAGES.send_acknowledged(&mut alice, &bob_jid, 30..60).await, 60);

    // NATS comes back: the nodes reconnect and rebuild the directory by themselves.
    assert!(nats.spawn());
    c.until_online_everywhere(&[0, 1, 2], &[1], &alice_token).await;
    // bob logs in again and gets what was kept for him.
    bob.send(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#)
        .await;
    let mut frames = Vec::new();
    while let Some(frame) = bob.recv().await {
        if frame.contains("<close") {
            break;
        }
        frames.push(frame);
    }
    MESSAGES.count(&frames, &mut delivered);
    drop(bob);
    let mut bob = c.online(1, 2).await;
    MESSAGES.receive_all(&mut bob, 30..60, &mut delivered).await;
    // …and live delivery across nodes works again.
    c.until_online_everywhere(&[0], &[1], &alice_token).await;
    assert_eq!(MESSAGES.send_acknowledged(&mut alice, &bob_jid, 60..90).await, 90);
    MESSAGES.receive_all(&mut bob, 60..90, &mut delivered).await;
    loop {
        let frames = bob.drain(Duration::from_millis(500)).await;
        if frames.is_empty() {
            break;
        }
        MESSAGES.count(&frames, &mut delivered);
    }
    for n in 0..90 {
        assert_eq!(
            delivered.get(&n),
            Some(&1),
            "acknowledged message {n} delivered once"
        );
    }
    assert_eq!(delivered.len(), 90, "nothing else delivered");

    let bob_token = c.token(1, 2).await;
    let (_, dialogs) = c
        .rest(2, Method::GET, "/chat/Dialog.json", &bob_token, None)
        .await;
    let dialog = dialogs["items"][0]["_id"].as_str().unwrap().to_owned();
    let (_, history) = c
        .rest(
            2,
            Method::GET,
            &format!("/chat/Message.json?chat_dialog_id={dialog}&limit=100&mark_as_read=0"),
            &bob_token,
            None,
        )
        .await;
    let mut stored: HashMap<usize, usize> = HashMap::new();
    for item in history["items"].as_array().unwrap() {
        let n = item["message"].as_str().unwrap().trim_start_matches("nats-");
        *stored.entry(n.parse().unwrap()).or_default() += 1;
    }
    for n in 0..90 {
        assert_eq!(stored.get(&n), Some(&1), "acknowledged message {n} stored once");
    }
    assert_eq!(stored.len(), 90);
}
