//! End-to-end: three `palaver` nodes on one PostgreSQL database and NATS behave as one server — users on
//! different nodes chat 1-1 and in groups, see each other online and as contacts, get REST-sent messages,
//! edits, deletes, reactions, markers, typing, call signalling, system messages and status changes made on
//! other nodes, are kicked from rooms and disconnected everywhere when their REST session ends or an
//! operator blocks or deletes them; and the sample HAProxy configuration (docs/cluster-haproxy.cfg) fronts
//! them over TCP, WebSocket and REST. Skipped (with a message) when no NATS server answers, the HAProxy test
//! when `haproxy` is not installed.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use support::cluster::{nats_reachable, Cluster};
use support::world::whole_history;
use support::xmpp::{between, Client};

const NAMES: [&str; 4] = ["ann", "ben", "cid", "dot"];

fn chat(to: &str, id: &str, body: &str) -> String {
    format!(
        r#"<message to="{to}" type="chat" id="{id}" xmlns="jabber:client"><body>{body}</body><markable xmlns="urn:xmpp:chat-markers:0"/><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_behave_as_one_server() {
    if !nats_reachable() {
        return;
    }
    let c = Cluster::start(3, "Cluster", &NAMES).await;
    let ann_token = c.token(0, 0).await;

    // ann on node 0, ben on node 1, cid on node 2; every node lists all three online.
    let mut ann = c.online(0, 0).await;
    let mut ben = c.online(1, 1).await;
    let mut cid = c.online(2, 2).await;
    c.until_online_everywhere(&[0, 1, 2], &[0, 1, 2], &ann_token)
        .await;

    // 1-1 across nodes, both ways, with a marker back.
    ann.send(&chat(&c.bare(1), "m1", "hello from node 0")).await;
    let got = ben.expect("hello from node 0").await;
    assert!(got.contains(&format!(r#"from="{}/"#, c.bare(0))), "{got}");
    assert!(got.contains(&format!(r#"to="{}/"#, c.bare(1))), "{got}");
    ben.send(&format!(
        r#"<message to="{}" type="chat" id="r1" xmlns="jabber:client"><displayed xmlns="urn:xmpp:chat-markers:0" id="m1"/><extraParams xmlns="jabber:client"><dialog_id>{}</dialog_id></extraParams></message>"#,
        c.bare(0),
        between(&got, "<dialog_id>", "</dialog_id>")
    ))
    .await;
    let marker = ann.expect("<displayed").await;
    assert!(marker.contains(r#"id="m1""#), "{marker}");
    cid.send(&chat(&c.bare(0), "m2", "hello from node 2")).await;
    ann.expect("hello from node 2").await;

    // Typing reaches the other node too.
    ann.send(&format!(
        r#"<message to="{}" type="chat" xmlns="jabber:client"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>"#,
        c.bare(2)
    ))
    .await;
    let typing = cid.expect("<composing").await;
    assert!(typing.contains(&format!(r#"from="{}/"#, c.bare(0))), "{typing}");

    // A group of ann, ben and cid: one message reaches the members on every node, and the sender.
    let dialog_id = c.group(0, &ann_token, "Team", &[1, 2]).await;
    ann.send(&format!(
        r#"<message to="{}" type="groupchat" id="g1" xmlns="jabber:client"><body>hello team</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#,
        c.room(&dialog_id)
    ))
    .await;
    for client in [&mut ben, &mut cid, &mut ann] {
        let got = client.expect("hello team").await;
        assert!(
            got.contains(&format!(r#"from="{}/{}""#, c.room(&dialog_id), c.id(0))),
            "{got}"
        );
        assert!(got.contains(r#"type="groupchat""#), "{got}");
    }
    // A member on another node answers in the group; the message is stored once.
    cid.send(&format!(
        r#"<message to="{}" type="groupchat" id="g2" xmlns="jabber:client"><body>reply from node 2</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#,
        c.room(&dialog_id)
    ))
    .await;
    ann.expect("reply from node 2").await;
    ben.expect("reply from node 2").await;

    // ben joins the group's room on node 1 (its announcement goes out before anything node 1 sends next).
    let room = c.room(&dialog_id);
    ben.send(&format!(
        r#"<presence id="join-b" to="{room}/{}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/></presence>"#,
        c.id(1)
    ))
    .await;
    ben.expect(r#"id="join-b""#).await;

    // A REST-sent group message (on node 1) reaches the sessions on nodes 0 and 2.
    let ben_token = c.token(1, 1).await;
    let (status, sent) = c
        .rest(
            1,
            Method::POST,
            "/chat/Message.json",
            &ben_token,
            Some(json!({"chat_dialog_id": dialog_id, "message": "sent over REST", "send_to_chat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    for client in [&mut ann, &mut cid] {
        let got = client.expect("sent over REST").await;
        assert!(got.contains(r#"type="groupchat""#), "{got}");
    }
    // ann reads it through node 0: ben, its sender, gets the marker on node 1. ben deletes it for
    // everyone through node 1: ann and cid get the removal on nodes 0 and 2.
    let sent_id = sent["_id"].as_str().unwrap().to_owned();
    let (status, _) = c
        .rest(
            0,
            Method::PUT,
            &format!("/chat/Message/{sent_id}.json"),
            &ann_token,
            Some(json!({"read": 1, "chat_dialog_id": dialog_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let displayed = ben.expect("<displayed").await;
    assert!(displayed.contains(&sent_id), "{displayed}");
    assert_eq!(
        c.delete_for_everyone(1, &ben_token, &sent_id).await,
        StatusCode::OK
    );
    for client in [&mut ann, &mut cid] {
        let removed = client.expect("urn:xmpp:message-delete:0").await;
        assert!(removed.contains(&sent_id), "{removed}");
    }

    // cid joins the room on node 2: he is told ben is in it, ben is told cid came; cid leaves, ben hears.
    cid.send(&format!(
        r#"<presence id="join-c" to="{room}/{}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/></presence>"#,
        c.id(2)
    ))
    .await;
    let existing = cid.expect(&format!(r#"from="{room}/{}""#, c.id(1))).await;
    assert!(!existing.contains(r#"type="unavailable""#), "{existing}");
    cid.expect(r#"id="join-c""#).await;
    let joined = ben.expect(&format!(r#"from="{room}/{}""#, c.id(2))).await;
    assert!(!joined.contains(r#"type="unavailable""#), "{joined}");
    cid.send(&format!(
        r#"<presence id="leave-c" to="{room}/{}" type="unavailable" xmlns="jabber:client"/>"#,
        c.id(2)
    ))
    .await;
    cid.expect(r#"id="leave-c""#).await;
    let left = ben.expect(&format!(r#"from="{room}/{}""#, c.id(2))).await;
    assert!(left.contains(r#"type="unavailable""#), "{left}");

    // …and a REST-sent private message (on node 2) reaches ann on node 0.
    let cid_token = c.token(2, 2).await;
    let (status, sent) = c
        .rest(
            2,
            Method::POST,
            "/chat/Message.json",
            &cid_token,
            Some(json!({"recipient_id": c.id(0), "message": "private over REST", "send_to_chat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let got = ann.expect("private over REST").await;
    assert!(got.contains(&format!(r#"from="{}"#, c.bare(2))), "{got}");
    // A system message through node 2 reaches ann on node 0 as a headline.
    let (status, system) = c
        .rest(
            2,
            Method::POST,
            "/chat/Message/system.json",
            &cid_token,
            Some(json!({"recipientId": c.id(0), "userExt": {"name": "Smith"}})),
        )
        .await;
    assert_eq!(status.as_u16() / 100, 2, "{system}");
    let headline = ann.expect(r#"type="headline""#).await;
    assert!(headline.contains("<name>Smith</name>"), "{headline}");

    // History (read on node 2) has the group's messages once each.
    let (_, history) = c
        .rest(
            2,
            Method::GET,
            &format!("/chat/Message.json?chat_dialog_id={dialog_id}&mark_as_read=0"),
            &cid_token,
            None,
        )
        .await;
    let bodies: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["hello team", "reply from node 2"],
        "{history} (the REST-sent one was deleted)"
    );

    // ann (node 0) follows dot's online status; ann adds dot to the group through node 0; dot logs in
    // on node 2 (where the group's dialog was read before) and may post at once.
    ann.send(&format!(
        r#"<iq type="set" id="st" xmlns="jabber:client"><subscribe xmlns="https://connectycube.com/protocol/status_streaming" user_jid="{}" enable="true"/></iq>"#,
        c.bare(3)
    ))
    .await;
    ann.expect(r#"id="st""#).await;
    let (status, updated) = c
        .rest(
            0,
            Method::PUT,
            &format!("/chat/Dialog/{dialog_id}.json"),
            &ann_token,
            Some(json!({"push_all": {"occupants_ids": [c.id(3)]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let mut dot = c.online(3, 2).await;
    let online = ann.expect("jabber:iq:last").await;
    assert!(
        online.contains(&format!(r#"from="{}""#, c.bare(3))) && online.contains(r#"seconds="0""#),
        "{online}"
    );
    dot.send(&format!(
        r#"<message to="{}" type="groupchat" id="g3" xmlns="jabber:client"><body>dot joins in</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#,
        c.room(&dialog_id)
    ))
    .await;
    ann.expect("dot joins in").await;
    ben.expect("dot joins in").await;
    drop(dot);

    // Contacts across nodes: ann (node 0) asks ben (node 1); ben accepts; ann sees ben's presence.
    ann.send(&format!(
        r#"<presence to="{}" type="subscribe" xmlns="jabber:client"/>"#,
        c.bare(1)
    ))
    .await;
    let request = ben.expect(r#"type="subscribe""#).await;
    assert!(request.contains(&format!(r#"from="{}""#, c.bare(0))), "{request}");
    ben.send(&format!(
        r#"<presence to="{}" type="subscribed" xmlns="jabber:client"/>"#,
        c.bare(0)
    ))
    .await;
    let confirmed = ann.expect(r#"type="subscribed""#).await;
    assert!(
        confirmed.contains(&format!(r#"from="{}""#, c.bare(1))),
        "{confirmed}"
    );
    ann.expect(&format!(r#"from="{}/"#, c.bare(1))).await;
    // ben's status change on node 1 reaches ann on node 0.
    ben.send(r#"<presence xmlns="jabber:client"><show>away</show></presence>"#)
        .await;
    let away = ann.expect("<show>away</show>").await;
    assert!(away.contains(&format!(r#"from="{}/"#, c.bare(1))), "{away}");
    // A second session of ann, on node 2, is told ben is online (the probe answer crosses nodes).
    let mut ann_again = c.online(0, 2).await;
    ann_again.expect(&format!(r#"from="{}/"#, c.bare(1))).await;
    // Last activity of a user on another node: online now (0 seconds).
    ann_again
        .send(&format!(
            r#"<iq type="get" id="last1" to="{}" xmlns="jabber:client"><query xmlns="jabber:iq:last"/></iq>"#,
            c.bare(2)
        ))
        .await;
    let last = ann_again.expect(r#"id="last1""#).await;
    assert!(last.contains(r#"seconds="0""#), "{last}");

    // A message to ann reaches both her sessions, on nodes 0 and 2.
    ben.send(&chat(&c.bare(0), "m3", "to both sessions of ann")).await;
    ann.expect("to both sessions of ann").await;
    ann_again.expect("to both sessions of ann").await;

    // ann's session on node 2 turns carbons on: what ann sends from node 0 is copied to it.
    ann_again
        .send(r#"<iq type="set" id="carb" xmlns="jabber:client"><enable xmlns="urn:xmpp:carbons:2"/></iq>"#)
        .await;
    ann_again.expect(r#"id="carb""#).await;
    ann.send(&chat(&c.bare(1), "m4", "carbon copy across nodes"))
        .await;
    ben.expect("carbon copy across nodes").await;
    let carbon = ann_again.expect("carbon copy across nodes").await;
    assert!(
        carbon.contains(r#"<sent xmlns="urn:xmpp:carbons:2""#) && carbon.contains(r#"id="m4""#),
        "{carbon}"
    );

    // An operator blocks cid through node 0's admin API: his session on node 2 ends.
    let (status, blocked) = c
        .admin(
            0,
            Method::POST,
            &format!("/admin/apps/{}/users/{}/block", c.app, c.id(2)),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {blocked}");
    cid.until_closed().await;
    drop(ben);
    let _ = tokio::time::timeout(Duration::from_secs(1), ann.drain(Duration::from_millis(10))).await;
}

/// A 1-1 message saved to history, with the given id (history ids are ObjectIds).
fn saved(to: &str, id: &str, body: &str) -> String {
    format!(
        r#"<message to="{to}" type="chat" id="{id}" xmlns="jabber:client"><body>{body}</body><markable xmlns="urn:xmpp:chat-markers:0"/><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
    )
}

/// A signal about a 1-1 message (marker, edit, delete, typing) in dialog `dialog`: `child` goes in as is.
fn signal(to: &str, dialog: &str, child: &str) -> String {
    format!(
        r#"<message to="{to}" type="chat" xmlns="jabber:client">{child}<extraParams xmlns="jabber:client"><dialog_id>{dialog}</dialog_id></extraParams></message>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_deletes_reactions_markers_calls_and_status_cross_nodes() {
    if !nats_reachable() {
        return;
    }
    let c = Cluster::start(3, "ClusterSignals", &NAMES).await;
    let ann_token = c.token(0, 0).await;
    let ben_token = c.token(1, 1).await;
    let (ann_jid, ben_jid) = (c.bare(0), c.bare(1));

    // ann on node 0, ben on node 1, cid on node 2; the REST calls below go through node 2, where
    // neither ann nor ben is.
    let mut ann = c.online(0, 0).await;
    let mut ben = c.online(1, 1).await;
    let mut cid = c.online(2, 2).await;
    c.until_online_everywhere(&[0, 1, 2], &[0, 1, 2], &ann_token)
        .await;
    const FIRST: &str = "66c000000000000000000001";
    const SECOND: &str = "66c000000000000000000002";
    ann.send(&saved(&ben_jid, FIRST, "first draft")).await;
    let got = ben.expect("first draft").await;
    let dialog = between(&got, "<dialog_id>", "</dialog_id>").to_owned();
    ann.send(&saved(&ben_jid, SECOND, "second message")).await;
    ben.expect("second message").await;

    // Markers and typing over XMPP: received and displayed, composing and paused.
    ben.send(&signal(
        &ann_jid,
        &dialog,
        &format!(r#"<received xmlns="urn:xmpp:chat-markers:0" id="{FIRST}"/>"#),
    ))
    .await;
    let received = ann.expect("<received").await;
    assert!(received.contains(FIRST), "{received}");
    assert!(received.contains(&format!(r#"from="{ben_jid}/"#)), "{received}");
    ben.send(&signal(
        &ann_jid,
        &dialog,
        r#"<paused xmlns="http://jabber.org/protocol/chatstates"/>"#,
    ))
    .await;
    ann.expect("<paused").await;

    // An edit over XMPP reaches ben on node 1 and is in history (read through node 2).
    ann.send(&format!(
        r#"<message to="{ben_jid}" type="chat" id="66c0000000000000000000e1" xmlns="jabber:client"><body>edited over XMPP</body><replace xmlns="urn:xmpp:message-correct:0" id="{FIRST}"/><extraParams xmlns="jabber:client"><dialog_id>{dialog}</dialog_id></extraParams></message>"#
    ))
    .await;
    let edit = ben.expect("edited over XMPP").await;
    assert!(
        edit.contains(&format!(
            r#"<replace xmlns="urn:xmpp:message-correct:0" id="{FIRST}""#
        )),
        "{edit}"
    );
    let bodies = |history: &[serde_json::Value]| -> Vec<String> {
        history
            .iter()
            .map(|m| m["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let history = whole_history(&c.http, &c.nodes[2].http, &ben_token, &dialog).await;
    assert_eq!(bodies(&history), ["edited over XMPP", "second message"]);

    // An edit over REST (node 2) reaches ben on node 1.
    let (status, body) = c
        .rest(
            2,
            Method::PUT,
            &format!("/chat/Message/{FIRST}.json"),
            &ann_token,
            Some(json!({"chat_dialog_id": dialog, "message": "edited over REST"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edit = ben.expect("edited over REST").await;
    assert!(
        edit.contains(&format!(r#"id="{FIRST}""#)) && edit.contains("<replace"),
        "{edit}"
    );
    assert!(edit.contains(&format!(r#"from="{ann_jid}""#)), "{edit}");

    // ben reads the message over REST (node 2): ann gets the displayed marker on node 0.
    let (status, _) = c
        .rest(
            2,
            Method::PUT,
            &format!("/chat/Message/{FIRST}.json"),
            &ben_token,
            Some(json!({"chat_dialog_id": dialog, "read": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let displayed = ann.expect("<displayed").await;
    assert!(displayed.contains(FIRST), "{displayed}");

    // ben reacts over REST (node 2): ann on node 0 is told, and so is ben's own session on node 1.
    let (status, body) = c
        .rest(
            2,
            Method::PUT,
            &format!("/chat/Message/{FIRST}/reactions.json"),
            &ben_token,
            Some(json!({"add": "👍"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for client in [&mut ann, &mut ben] {
        let reaction = client.expect("<reactions").await;
        assert!(
            reaction.contains(&format!(r#"message_id="{FIRST}""#)),
            "{reaction}"
        );
        assert!(
            reaction.contains(&format!(r#"user_id="{}""#, c.id(1))),
            "{reaction}"
        );
        assert!(reaction.contains("👍"), "{reaction}");
    }

    // Deletes for everyone: one over XMPP, one over REST (node 2); both reach ben on node 1.
    ann.send(&signal(
        &ben_jid,
        &dialog,
        &format!(r#"<remove xmlns="urn:xmpp:message-delete:0" id="{FIRST}"/>"#),
    ))
    .await;
    let removed = ben.expect("<remove").await;
    assert!(removed.contains(FIRST), "{removed}");
    assert_eq!(c.delete_for_everyone(2, &ann_token, SECOND).await, StatusCode::OK);
    let removed = ben.expect("<remove").await;
    assert!(removed.contains(SECOND), "{removed}");
    let history = whole_history(&c.http, &c.nodes[0].http, &ann_token, &dialog).await;
    assert!(history.is_empty(), "both deleted for everyone: {history:?}");

    // Call signalling (a headline with the video-chat module) both ways, untouched and once.
    ann.send(&format!(
        r#"<message to="{ben_jid}" type="headline" id="call1" xmlns="jabber:client"><extraParams xmlns="jabber:client"><moduleIdentifier>WebRTCVideoChat</moduleIdentifier><signalType>call</signalType><sessionID>s-1</sessionID><sdp>v=0</sdp></extraParams></message>"#
    ))
    .await;
    let call = ben.expect(r#"id="call1""#).await;
    assert_eq!(
        call.matches("<moduleIdentifier>WebRTCVideoChat</moduleIdentifier>")
            .count(),
        1,
        "{call}"
    );
    assert!(
        call.contains("<signalType>call</signalType>") && call.contains("<sdp>v=0</sdp>"),
        "{call}"
    );
    ben.send(&format!(
        r#"<message to="{ann_jid}" type="headline" id="accept1" xmlns="jabber:client"><extraParams xmlns="jabber:client"><moduleIdentifier>WebRTCVideoChat</moduleIdentifier><signalType>accept</signalType><sessionID>s-1</sessionID></extraParams></message>"#
    ))
    .await;
    let accept = ann.expect(r#"id="accept1""#).await;
    assert!(accept.contains("<signalType>accept</signalType>"), "{accept}");
    // A system message over XMPP (a headline without a module): marked as one on the way.
    cid.send(&format!(
        r#"<message to="{ann_jid}" type="headline" id="sys1" xmlns="jabber:client"><extraParams xmlns="jabber:client"><kind>ping</kind></extraParams></message>"#
    ))
    .await;
    let system = ann.expect(r#"id="sys1""#).await;
    assert!(
        system.contains("<moduleIdentifier>SystemNotifications</moduleIdentifier>"),
        "{system}"
    );
    assert!(system.contains("<kind>ping</kind>"), "{system}");

    // Last activity: ann (node 0) follows cid (node 2). cid goes offline: ann is told, and asking says
    // so; cid comes back on node 1: ann is told he is online.
    ann.send(&format!(
        r#"<iq type="set" id="st" xmlns="jabber:client"><subscribe xmlns="https://connectycube.com/protocol/status_streaming" user_jid="{}" enable="true"/></iq>"#,
        c.bare(2)
    ))
    .await;
    ann.expect(r#"id="st""#).await;
    drop(cid);
    let offline = ann.expect("jabber:iq:last").await;
    assert!(offline.contains(&format!(r#"from="{}""#, c.bare(2))), "{offline}");
    assert!(!offline.contains(r#"seconds="0""#), "{offline}");
    c.until_online_everywhere(&[0, 1, 2], &[0, 1], &ann_token).await;
    ann.send(&format!(
        r#"<iq type="get" id="last2" to="{}" xmlns="jabber:client"><query xmlns="jabber:iq:last"/></iq>"#,
        c.bare(2)
    ))
    .await;
    let last = ann.expect(r#"id="last2""#).await;
    assert!(
        last.contains(r#"type="result""#) && !last.contains(r#"seconds="0""#),
        "{last}"
    );
    let _cid = c.online(2, 1).await;
    let online = ann.expect("jabber:iq:last").await;
    assert!(
        online.contains(&format!(r#"from="{}""#, c.bare(2))) && online.contains(r#"seconds="0""#),
        "{online}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_kept_offline_as_its_recipient_comes_online_on_another_node_reaches_him() {
    use sqlx::Connection;
    if !nats_reachable() {
        return;
    }
    let c = Cluster::start(2, "ClusterOffline", &NAMES).await;
    let ann_token = c.token(0, 0).await;
    let mut ann = c.online(0, 0).await;
    // ben is bound on node 1 but not yet available: a message to him is kept offline.
    let mut ben = c.login(1, 1).await;

    // Keeping it waits: the offline table is locked against writes (reads still pass)...
    let mut lock = sqlx::PgConnection::connect(&palaver_store::testing::test_postgres_url())
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query(&format!(
        "LOCK TABLE {}.offline_messages IN SHARE ROW EXCLUSIVE MODE",
        c.schema
    ))
    .execute(&mut lock)
    .await
    .unwrap();
    ann.send(&chat(&c.bare(1), "race1", "sent as you came online"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...while ben's initial presence on node 1 looks for offline messages and finds none yet.
    let before = ben.available_and_handled().await;
    assert!(!before.contains("sent as you came online"), "{before}");
    c.until_online_everywhere(&[0], &[0, 1], &ann_token).await;

    // Once node 0 has kept it, node 1 hands it to ben's session.
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    let got = ben.expect("sent as you came online").await;
    assert!(
        got.contains(r#"id="race1""#) && got.contains("urn:xmpp:delay"),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kicks_and_forced_disconnects_reach_other_nodes() {
    if !nats_reachable() {
        return;
    }
    let c = Cluster::start(3, "ClusterKicks", &NAMES).await;
    let ann_token = c.token(0, 0).await;

    // A group of ann, ben and cid; ann joins its room on node 0, ben on node 1, cid on node 2.
    let dialog_id = c.group(0, &ann_token, "Kicks", &[1, 2]).await;
    let room = c.room(&dialog_id);
    let join = |n: usize| {
        format!(
            r#"<presence id="join{n}" to="{room}/{}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/></presence>"#,
            c.id(n)
        )
    };
    let mut ann = c.online(0, 0).await;
    let mut ben = c.online(1, 1).await;
    let mut cid = c.online(2, 2).await;
    // Who joined travels in the session directory; a node's announcements reach another before what it
    // sends there next, so a typing notification after each join makes sure the next joiner's node knows.
    let typing = |to: usize| {
        format!(
            r#"<message to="{}" type="chat" xmlns="jabber:client"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>"#,
            c.bare(to)
        )
    };
    ann.send(&join(0)).await;
    ann.expect(r#"id="join0""#).await;
    ann.send(&typing(1)).await;
    ben.expect("<composing").await;
    ben.send(&join(1)).await;
    ben.expect(r#"id="join1""#).await;
    ann.expect(&format!(r#"from="{room}/{}""#, c.id(1))).await;
    ann.send(&typing(2)).await;
    ben.send(&typing(2)).await;
    cid.expect("<composing").await;
    cid.expect("<composing").await;
    cid.send(&join(2)).await;
    cid.expect(r#"id="join2""#).await;
    for client in [&mut ann, &mut ben] {
        client.expect(&format!(r#"from="{room}/{}""#, c.id(2))).await;
    }

    // ann removes cid from the group through node 0: cid is kicked on node 2 (status 301, ann as the
    // actor), and the occupants on nodes 0 and 1 see him leave the room.
    let (status, updated) = c
        .rest(
            0,
            Method::PUT,
            &format!("/chat/Dialog/{dialog_id}.json"),
            &ann_token,
            Some(json!({"pull_all": {"occupants_ids": [c.id(2)]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let kicked = cid.expect(r#"code="301""#).await;
    assert!(kicked.contains(r#"type="unavailable""#), "{kicked}");
    assert!(kicked.contains(&format!(r#"jid="{}""#, c.bare(0))), "{kicked}");
    for client in [&mut ann, &mut ben] {
        let left = client.expect(&format!(r#"from="{room}/{}""#, c.id(2))).await;
        assert!(left.contains(r#"type="unavailable""#), "{left}");
    }

    // dot logs in to chat with a REST session's token on node 2 (and with his password on node 1);
    // the REST session is destroyed through node 0: the token's chat session ends, the other lives.
    let dot_token = c.token(3, 0).await;
    let mut dot_by_token = Client::websocket(&c.nodes[2].ws).await;
    dot_by_token.online("localhost", &c.jid_node(3), &dot_token).await;
    let mut dot_by_password = c.online(3, 1).await;
    c.until_online_everywhere(&[0], &[0, 1, 2, 3], &ann_token).await;
    let response = c
        .http
        .delete(format!("{}/session.json", c.nodes[0].http))
        .header("CB-Token", &dot_token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    dot_by_token.until_closed().await;
    dot_by_password
        .send(r#"<iq type="get" id="alive" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    dot_by_password.expect(r#"id="alive""#).await;

    // An operator ends ben's REST sessions through node 2: his chat session on node 1, logged in with
    // one of their tokens, ends.
    let ben_token = c.token(1, 1).await;
    let mut ben_by_token = Client::websocket(&c.nodes[1].ws).await;
    ben_by_token.online("localhost", &c.jid_node(1), &ben_token).await;
    let (status, ended) = c
        .admin(
            2,
            Method::DELETE,
            &format!("/admin/apps/{}/users/{}/sessions", c.app, c.id(1)),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {ended}");
    ben_by_token.until_closed().await;

    // An operator deletes cid through node 0: his session on node 2 ends.
    let (status, deleted) = c
        .admin(
            0,
            Method::DELETE,
            &format!("/admin/apps/{}/users/{}", c.app, c.id(2)),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {deleted}");
    cid.until_closed().await;

    // Nobody else was disconnected.
    for client in [&mut ann, &mut ben] {
        client
            .send(r#"<iq type="get" id="still" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
            .await;
        client.expect(r#"id="still""#).await;
    }
}

/// HAProxy running the sample configuration, with the three test nodes in place of the ones it names
/// and its frontends on free ports; killed on drop.
struct Haproxy {
    child: std::process::Child,
    /// Frontends by their port in the sample: 8080 (REST), 5222 (TCP), 5280 (WebSocket), ...
    frontends: std::collections::HashMap<u16, String>,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// `None` (saying so) when `haproxy` is not installed.
    async fn start(c: &Cluster) -> Option<Haproxy> {
        if std::process::Command::new("haproxy").arg("-v").output().is_err() {
            eprintln!("SKIPPED: haproxy is not installed (apt-get install haproxy)");
            return None;
        }
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cluster-haproxy.cfg");
        let mut config = std::fs::read_to_string(sample).unwrap();
        let mut replace = |from: String, to: String| {
            assert!(config.contains(&from), "the sample configuration has {from}");
            config = config.replace(&from, &to);
        };
        let port = |addr: &str| addr.rsplit(':').next().unwrap().to_owned();
        for (n, node) in c.nodes.iter().enumerate() {
            let n = n + 1;
            let http = node.http.trim_start_matches("http://");
            let https = node.https.trim_start_matches("https://");
            replace(format!("127.0.0.1:1808{n} "), format!("{http} "));
            replace(format!("port 1808{n}"), format!("port {}", port(http)));
            replace(format!("127.0.0.1:1844{n} "), format!("{https} "));
            replace(format!("127.0.0.1:1528{n} "), format!("{} ", node.ws));
            replace(format!("127.0.0.1:1529{n} "), format!("{} ", node.wss));
            replace(format!("127.0.0.1:1522{n} "), format!("{} ", node.c2s));
            replace(format!("127.0.0.1:1523{n} "), format!("{} ", node.c2s_tls));
        }
        let mut frontends = std::collections::HashMap::new();
        for sample_port in [8080, 8443, 5280, 5291, 5222, 5223] {
            let addr = format!("127.0.0.1:{}", support::free_port());
            replace(
                format!("bind 127.0.0.1:{sample_port}\n"),
                format!("bind {addr}\n"),
            );
            frontends.insert(sample_port, addr);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-f")
            .arg(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut haproxy = Haproxy {
            child,
            frontends,
            _dir: dir,
        };
        // Up once REST answers through it (the nodes' health checks have passed).
        let health = format!("http://{}/health", haproxy.frontends[&8080]);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = haproxy.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(haproxy._dir.path().join("haproxy.log")).unwrap();
                panic!("haproxy exited with {status}:\n{log}");
            }
            if let Ok(response) = c.http.get(&health).send().await {
                if response.status().is_success() {
                    return Some(haproxy);
                }
            }
            assert!(std::time::Instant::now() < deadline, "no health through haproxy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sample_haproxy_configuration_fronts_the_cluster() {
    if !nats_reachable() {
        return;
    }
    let c = Cluster::start(3, "ClusterHaproxy", &NAMES).await;
    let Some(haproxy) = Haproxy::start(&c).await else {
        return;
    };
    let (tcp, ws, rest) = (
        &haproxy.frontends[&5222],
        &haproxy.frontends[&5280],
        format!("http://{}", haproxy.frontends[&8080]),
    );

    // ann, ben and cid over TCP, dot over WebSocket, all through HAProxy (which spreads them over the
    // nodes); REST through it too.
    let mut clients = Vec::new();
    for n in 0..3 {
        let mut client = Client::tcp(tcp).await;
        client
            .online(
                "localhost",
                &c.jid_node(n),
                &support::world::password(&c.users[n].1),
            )
            .await;
        clients.push(client);
    }
    let mut dot = Client::websocket(ws).await;
    dot.online("localhost", &c.jid_node(3), &support::world::password("dot"))
        .await;
    let token = support::world::session_token(&c.http, &rest, c.app, &c.key, "ann").await;
    let (status, body) = support::world::call(
        &c.http,
        &rest,
        Method::GET,
        "/users/online.json?limit=100",
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Every node lists all four online, whichever node each landed on; the three TCP clients landed on
    // three different nodes (`leastconn`).
    c.until_online_everywhere(&[0, 1, 2], &[0, 1, 2, 3], &token).await;
    for at in 0..3 {
        let (_, live) = c.admin(at, Method::GET, "/admin/live", None).await;
        assert!(
            live["sessions_online"].as_i64().unwrap() >= 1,
            "node {at}: {live}"
        );
    }

    // Each of them writes to the next; everyone gets the message.
    for (n, client) in clients.iter_mut().enumerate() {
        let to = c.bare(n + 1);
        client
            .send(&chat(&to, &format!("h{n}"), &format!("through haproxy {n}")))
            .await;
    }
    for (n, client) in clients.iter_mut().enumerate().skip(1) {
        client.expect(&format!("through haproxy {}", n - 1)).await;
    }
    dot.expect("through haproxy 2").await;
    // A REST-sent message through HAProxy reaches dot's WebSocket.
    let (status, sent) = support::world::call(
        &c.http,
        &rest,
        Method::POST,
        "/chat/Message.json",
        &token,
        Some(json!({"recipient_id": c.id(3), "message": "over REST through haproxy", "send_to_chat": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    dot.expect("over REST through haproxy").await;
}
