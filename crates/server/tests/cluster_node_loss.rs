//! End-to-end: a node of a three-node cluster is killed with SIGKILL in the middle of a conversation. Its
//! client cannot resume its stream-management session elsewhere (a clean `<failed/>`), logs in afresh on
//! another node and gets what was sent meanwhile; every acknowledged message is in history once and was
//! delivered once. The node then restarts, rejoins and serves again. Skipped when no NATS server answers.

mod support;

use reqwest::Method;
use std::collections::HashMap;
use std::time::Duration;
use support::cluster::{nats_reachable, Cluster};
use support::numbered::Numbered;
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
