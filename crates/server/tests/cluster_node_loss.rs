//! End-to-end: a node of a three-node cluster is killed with SIGKILL in the middle of a conversation. Its
//! client cannot resume its stream-management session elsewhere (a clean `<failed/>`), logs in afresh on
//! another node and gets what was sent meanwhile; every acknowledged message is in history once and was
//! delivered once. The node then restarts, rejoins and serves again. Messages sent to the users of a node
//! that died or hangs, before the other nodes declare it gone, are kept offline and raise one chat alert
//! each; group messages (over XMPP and REST) alert those members too. Skipped when no NATS server
//! answers.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use support::cluster::{nats_reachable, Cluster};
use support::numbered::Numbered;
use support::webhook::{wait_for, webhook};
use support::world::{password, whole_history};
use support::xmpp::{between, plain, Client};

const BEFORE: usize = 50;
const AFTER: usize = 50;

const MESSAGES: Numbered = Numbered("loss");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_loses_no_acknowledged_message_and_rejoins() {
    if !nats_reachable() {
        return;
    }
    let mut c = Cluster::start(3, "NodeLoss", &["alice", "bob", "carol"]).await;
    let alice_token = c.token(0, 0).await;
    let bob_jid = c.bare(1);

    // alice sends from node 0 with stream management; bob reads on node 2 with resumption on.
    let mut alice = c.login(0, 0).await;
    alice.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<enabled").await;
    let mut bob = c.online(1, 2).await;
    bob.send(r#"<enable xmlns="urn:xmpp:sm:3" resume="true"/>"#).await;
    let enabled = bob.expect("<enabled").await;
    let previd = between(&enabled, r#"id=""#, "\"").to_owned();
    // carol, on node 1, has bob as a contact.
    let mut carol = c.online(2, 1).await;
    carol
        .send(&format!(
            r#"<presence to="{bob_jid}" type="subscribe" xmlns="jabber:client"/>"#
        ))
        .await;
    bob.expect(r#"type="subscribe""#).await;
    bob.send(&format!(
        r#"<presence to="{}" type="subscribed" xmlns="jabber:client"/>"#,
        c.bare(2)
    ))
    .await;
    carol.expect(r#"type="subscribed""#).await;
    c.until_online_everywhere(&[0, 1, 2], &[1, 2], &alice_token).await;

    let handled = MESSAGES.send_acknowledged(&mut alice, &bob_jid, 0..BEFORE).await;
    assert_eq!(handled, BEFORE);
    let mut delivered = HashMap::new();
    while delivered.len() < BEFORE {
        let frame = bob.expect("<body>loss-").await;
        MESSAGES.count(&[frame], &mut delivered);
    }

    // Node 2 dies; bob's connection with it.
    c.nodes[2].crash();
    drop(bob);
    // The conversation goes on: alice's next messages are acknowledged all the same.
    let handled = MESSAGES
        .send_acknowledged(&mut alice, &bob_jid, BEFORE..BEFORE + AFTER)
        .await;
    assert_eq!(handled, BEFORE + AFTER);
    // The other nodes declare node 2 gone, and bob with it; his contact is told he is unavailable.
    c.until_online_everywhere(&[0, 1], &[2], &alice_token).await;
    let gone = carol.expect(r#"type="unavailable""#).await;
    assert!(gone.contains(&format!(r#"from="{bob_jid}/"#)), "{gone}");

    // bob's client tries to resume on node 1: a clean failure, then a fresh login there.
    let mut resuming = Client::websocket(&c.nodes[1].ws).await;
    resuming.open("localhost").await;
    resuming
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            plain(&c.jid_node(1), &password("bob"))
        ))
        .await;
    resuming.expect("<success").await;
    resuming.open("localhost").await;
    resuming
        .send(&format!(
            r#"<resume xmlns="urn:xmpp:sm:3" previd="{previd}" h="{BEFORE}"/>"#
        ))
        .await;
    let failed = resuming.expect("<failed").await;
    assert!(failed.contains("item-not-found"), "{failed}");
    drop(resuming);
    let mut bob = c.online(1, 1).await;
    loop {
        let frames = bob.drain(Duration::from_secs(2)).await;
        if frames.is_empty() {
            break;
        }
        MESSAGES.count(&frames, &mut delivered);
    }
    for n in 0..BEFORE + AFTER {
        assert_eq!(
            delivered.get(&n),
            Some(&1),
            "acknowledged message {n} delivered once"
        );
    }
    assert!(delivered.values().all(|&c| c == 1), "nothing delivered twice");

    // History has each acknowledged message once.
    let bob_token = c.token(1, 1).await;
    let (_, dialogs) = c
        .rest(1, Method::GET, "/chat/Dialog.json", &bob_token, None)
        .await;
    let dialog = dialogs["items"][0]["_id"].as_str().unwrap().to_owned();
    let mut stored: HashMap<usize, usize> = HashMap::new();
    for item in whole_history(&c.http, &c.nodes[1].http, &bob_token, &dialog).await {
        let n = item["message"].as_str().unwrap().trim_start_matches("loss-");
        *stored.entry(n.parse().unwrap()).or_default() += 1;
    }
    for n in 0..BEFORE + AFTER {
        assert_eq!(stored.get(&n), Some(&1), "acknowledged message {n} stored once");
    }
    assert_eq!(stored.len(), BEFORE + AFTER);

    // Node 2 comes back (a new incarnation) and serves: alice logs in there, bob on node 1 reaches her.
    c.nodes[2].spawn().await;
    let mut alice_again = c.online(0, 2).await;
    c.until_online_everywhere(&[0, 1, 2], &[0, 1, 2], &alice_token)
        .await;
    bob.send(&MESSAGES.message(&c.bare(0), 1000)).await;
    alice_again.expect("loss-1000").await;
}

/// `pushnotifications.subscriptions.create` for an Android device of the user whose token this is.
async fn subscribe_device(c: &Cluster, at: usize, token: &str, udid: &str) {
    let (status, body) = c
        .rest(
            at,
            Method::POST,
            "/subscriptions.json",
            token,
            Some(json!({
                "notification_channel": "gcm",
                "push_token": {"environment": "development", "client_identification_sequence": format!("fcm-{udid}")},
                "device": {"platform": "android", "udid": udid},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

const ALERTED: Numbered = Numbered("alert");

/// (user, message id) of each chat alert the webhook got, sorted.
fn alerted(alerts: &[serde_json::Value]) -> Vec<(i64, String)> {
    let mut alerted: Vec<(i64, String)> = alerts
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "chat_alert", "{a}");
            (
                a["user_id"].as_i64().unwrap(),
                a["message_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    alerted.sort();
    alerted
}

/// Three nodes with alice, bob and carol, chat alerts going to a webhook (its posts), bob's and carol's
/// devices subscribed; alice's REST token.
async fn alerting_cluster(name: &str) -> (Cluster, support::webhook::Posts, String) {
    let (url, posts) = webhook().await;
    let c = Cluster::start_with(
        3,
        name,
        &["alice", "bob", "carol"],
        &[("PALAVER_PUSH_WEBHOOK_URL", url.as_str())],
    )
    .await;
    let alice_token = c.token(0, 0).await;
    for n in [1, 2] {
        let token = c.token(n, 0).await;
        subscribe_device(&c, 0, &token, &c.users[n].1.clone()).await;
    }
    (c, posts, alice_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_to_the_users_of_a_dead_node_are_kept_and_alerted_before_the_node_timeout() {
    if !nats_reachable() {
        return;
    }
    let (mut c, posts, alice_token) = alerting_cluster("NodeLossAlerts").await;
    let (bob_jid, carol_jid) = (c.bare(1), c.bare(2));

    // alice sends from node 0 (stream management: every message acknowledged), bob is on node 2,
    // carol on node 1; all three count as online (and active) everywhere.
    let mut alice = c.login(0, 0).await;
    alice.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<enabled").await;
    let bob = c.online(1, 2).await;
    let bob_session = bob.jid.clone();
    let carol = c.online(2, 1).await;
    c.until_online_everywhere(&[0, 1, 2], &[1, 2], &alice_token).await;

    // Node 2 is killed. Before anyone declares it gone, alice writes to bob twice: the first, to his
    // session there by its full JID, finds nobody to answer on NATS (node 0 then forgets node 2 at once),
    // the second no session at all.
    c.nodes[2].crash();
    drop(bob);
    let handled = ALERTED.send_acknowledged(&mut alice, &bob_session, 0..1).await;
    assert_eq!(handled, 1);
    let handled = ALERTED.send_acknowledged(&mut alice, &bob_jid, 1..2).await;
    assert_eq!(handled, 2);
    // (Their alerts are sent before node 1 hangs, so that node cannot hold one of them.)
    wait_for(&posts, 2).await;

    // Node 1 hangs (SIGSTOP: NATS still takes its subscriptions, nobody answers). alice's message to
    // carol waits out the request timeout, shorter than the node timeout, and is kept offline.
    let status = std::process::Command::new("kill")
        .args(["-STOP", &c.nodes[1].pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let handled = ALERTED.send_acknowledged(&mut alice, &carol_jid, 2..3).await;
    assert_eq!(handled, 3);
    c.nodes[1].crash();
    drop(carol);

    // One chat alert per message, to its recipient: none lost to the stale directory, none twice.
    let alerts = wait_for(&posts, 3).await;
    let alerted = alerted(&alerts);
    assert_eq!(
        alerted,
        [
            (c.id(1), "alert0".to_owned()),
            (c.id(1), "alert1".to_owned()),
            (c.id(2), "alert2".to_owned()),
        ]
    );

    // bob and carol log in again on node 0 and find their messages in the offline store, once each.
    for (n, range) in [(1, 0..2), (2, 2..3)] {
        let mut client = c.online(n, 0).await;
        let mut delivered = HashMap::new();
        ALERTED
            .receive_all(&mut client, range.clone(), &mut delivered)
            .await;
        ALERTED.count(&client.drain(Duration::from_millis(500)).await, &mut delivered);
        assert!(
            range.clone().all(|m| delivered.get(&m) == Some(&1)) && delivered.len() == range.len(),
            "{delivered:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_messages_alert_the_members_of_a_dead_node_before_the_node_timeout() {
    if !nats_reachable() {
        return;
    }
    let (mut c, posts, alice_token) = alerting_cluster("NodeLossGroupAlerts").await;
    let dialog_id = c.group(0, &alice_token, "Lost and found", &[1, 2]).await;
    let room = c.room(&dialog_id);

    // alice writes from node 0 (stream management: every message acknowledged), bob is on node 2,
    // carol on node 1; all three count as online (and active) everywhere.
    let mut alice = c.login(0, 0).await;
    alice.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<enabled").await;
    let bob = c.online(1, 2).await;
    let mut carol = c.online(2, 1).await;
    c.until_online_everywhere(&[0, 1, 2], &[1, 2], &alice_token).await;

    // Node 2 is killed. Before anyone declares it gone, alice posts to the group over REST (on node 0):
    // node 2 does not answer for bob, who is alerted; carol, on a live node, gets the message and no
    // alert.
    c.nodes[2].crash();
    drop(bob);
    let (status, sent) = c
        .rest(
            0,
            Method::POST,
            "/chat/Message.json",
            &alice_token,
            Some(json!({"chat_dialog_id": dialog_id, "message": "group over REST", "send_to_chat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let rest_id = sent["_id"].as_str().unwrap().to_owned();
    let got = carol.expect("group over REST").await;
    assert!(got.contains(r#"type="groupchat""#), "{got}");
    // (Its alert is sent before node 1 hangs, so that node cannot hold it.)
    wait_for(&posts, 1).await;

    // Node 1 hangs (SIGSTOP: NATS still takes its subscriptions, nobody answers). alice's group message
    // over XMPP waits out the request timeout for carol, shorter than the node timeout: she is alerted,
    // and so is bob (whose node either answers nobody or is forgotten by now).
    let status = std::process::Command::new("kill")
        .args(["-STOP", &c.nodes[1].pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    alice
        .send(&format!(
            r#"<message to="{room}" type="groupchat" id="galert1" xmlns="jabber:client"><body>group over XMPP</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message><r xmlns="urn:xmpp:sm:3"/>"#
        ))
        .await;
    let ack = alice.expect("<a ").await;
    assert!(ack.contains(r#"h="1""#), "{ack}");
    c.nodes[1].crash();
    drop(carol);

    // One chat alert per member whose node did not take the message: none lost to the stale directory,
    // none twice, none for carol while her node was alive.
    let alerts = wait_for(&posts, 3).await;
    let alerted = alerted(&alerts);
    let mut want = vec![
        (c.id(1), rest_id),
        (c.id(1), "galert1".to_owned()),
        (c.id(2), "galert1".to_owned()),
    ];
    want.sort();
    assert_eq!(alerted, want);
}
