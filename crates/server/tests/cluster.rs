//! End-to-end: three `palaver` nodes on one PostgreSQL database and NATS behave as one server — users on
//! different nodes chat 1-1 and in groups, see each other online and as contacts, get REST-sent messages,
//! and are disconnected everywhere when an operator blocks them. Skipped (with a message) when no NATS
//! server answers.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use support::cluster::{nats_reachable, Cluster};
use support::xmpp::between;

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
    let (status, dialog) = c
        .rest(
            0,
            Method::POST,
            "/chat/Dialog.json",
            &ann_token,
            Some(json!({"type": 2, "name": "Team",
                "occupants_ids": format!("{}, {}", c.id(1), c.id(2))})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dialog}");
    let dialog_id = dialog["_id"].as_str().unwrap().to_owned();
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
    let response = c
        .http
        .delete(format!("{}/chat/Message/{sent_id}.json", c.nodes[1].http))
        .header("CB-Token", &ben_token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("force=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
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
    let admin_token = std::fs::read_to_string(c.nodes[0].data_dir.path().join("admin_token")).unwrap();
    let (status, blocked) = support::world::answer(
        c.http
            .post(format!(
                "{}/admin/apps/{}/users/{}/block",
                c.nodes[0].http,
                c.app,
                c.id(2)
            ))
            .bearer_auth(admin_token.trim()),
    )
    .await;
    assert!(status.is_success(), "{status} {blocked}");
    let mut ended = false;
    for _ in 0..200 {
        match cid.recv().await {
            None => {
                ended = true;
                break;
            }
            Some(frame) if frame.contains("</stream:stream>") || frame.contains("<close") => {
                ended = true;
                break;
            }
            Some(_) => {}
        }
    }
    assert!(ended, "the blocked user's session on another node ended");
    drop(ben);
    let _ = tokio::time::timeout(Duration::from_secs(1), ann.drain(Duration::from_millis(10))).await;
}
