//! End-to-end: dialogs in real time — group messages without joining, room presence as both SDKs need
//! it, markers/edits/deletes applied to history, REST actions (send_to_chat, read, delete, system
//! messages, removal) showing up over XMPP, and broadcast dialogs.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use support::world::World;
use support::xmpp::between;
use support::Db;

const NAMES: [&str; 4] = ["ann", "ben", "cid", "dot"];

async fn world(db: Db) -> World {
    World::start(db, &[], "Groups", &NAMES).await
}

#[tokio::test]
async fn group_messages_reach_every_member_without_joining_and_are_stored() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db).await;
        let ann_token = w.token(0).await;
        let (status, dialog) = w
            .rest(
                reqwest::Method::POST,
                "/chat/Dialog.json",
                &ann_token,
                Some(
                    json!({"type": 2, "name": "Team", "occupants_ids": format!("{}, {}", w.id(1), w.id(2))}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{dialog}");
        let dialog_id = dialog["_id"].as_str().unwrap().to_owned();
        assert_eq!(dialog["xmpp_room_jid"], w.room(&dialog_id));

        let mut ann = w.online(0).await;
        let mut ben = w.online(1).await;
        let mut cid = w.online(2).await;
        let mut dot = w.online(3).await;
        ann.send(&format!(
            r#"<message to="{}" type="groupchat" id="6b068f315f6662378a0000a1" xmlns="jabber:client"><body>hello team</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history><mood>good</mood></extraParams></message>"#,
            w.room(&dialog_id)
        ))
        .await;
        for client in [&mut ben, &mut cid, &mut ann] {
            let got = client.expect("hello team").await;
            assert!(
                got.contains(&format!(r#"from="{}/{}""#, w.room(&dialog_id), w.id(0))),
                "{got}"
            );
            assert!(
                got.contains(r#"type="groupchat""#)
                    && got.contains(&format!("<dialog_id>{dialog_id}</dialog_id>"))
            );
            assert!(
                got.contains("<mood>good</mood>") && got.contains("<date_sent>"),
                "{got}"
            );
        }
        assert!(dot
            .drain(Duration::from_millis(300))
            .await
            .iter()
            .all(|s| !s.contains("hello team")));

        // A non-member is refused with the legacy code the SDK reads.
        dot.send(&format!(r#"<message to="{}" type="groupchat" id="intruder" xmlns="jabber:client"><body>let me in</body></message>"#, w.room(&dialog_id)))
            .await;
        let refused = dot.expect(r#"id="intruder""#).await;
        assert!(
            refused.contains(r#"type="error""#) && refused.contains(r#"code="406""#),
            "{refused}"
        );

        // History has it, with the custom field; the other members count it unread.
        let ben_token = w.token(1).await;
        let (_, history) = w
            .rest(
                reqwest::Method::GET,
                &format!("/chat/Message.json?chat_dialog_id={dialog_id}&mark_as_read=0"),
                &ben_token,
                None,
            )
            .await;
        assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
        assert_eq!(history["items"][0]["_id"], "6b068f315f6662378a0000a1");
        assert_eq!(history["items"][0]["message"], "hello team");
        assert_eq!(history["items"][0]["mood"], "good");
        assert_eq!(history["items"][0]["sender_id"], w.id(0));
        let (_, unread) = w
            .rest(
                reqwest::Method::GET,
                &format!("/chat/Message/unread.json?chat_dialog_ids={dialog_id}"),
                &ben_token,
                None,
            )
            .await;
        assert_eq!(unread[&dialog_id], 1, "{unread}");

        // An edit by the author reaches everyone and changes history; a delete by a plain member is refused.
        ann.send(&format!(
            r#"<message to="{}" type="groupchat" id="edit1" xmlns="jabber:client"><body>hello team!</body><replace xmlns="urn:xmpp:message-correct:0" id="6b068f315f6662378a0000a1" last="true"/><extraParams xmlns="jabber:client"><dialog_id>{dialog_id}</dialog_id></extraParams></message>"#,
            w.room(&dialog_id)
        ))
        .await;
        ben.expect("urn:xmpp:message-correct:0").await;
        let (_, history) = w
            .rest(
                reqwest::Method::GET,
                &format!("/chat/Message.json?chat_dialog_id={dialog_id}&mark_as_read=0"),
                &ben_token,
                None,
            )
            .await;
        assert_eq!(history["items"][0]["message"], "hello team!");
        ben.send(&format!(
            r#"<message to="{}" type="groupchat" id="del1" xmlns="jabber:client"><remove xmlns="urn:xmpp:message-delete:0" id="6b068f315f6662378a0000a1"/><extraParams xmlns="jabber:client"><dialog_id>{dialog_id}</dialog_id></extraParams></message>"#,
            w.room(&dialog_id)
        ))
        .await;
        let denied = ben.expect(r#"id="del1""#).await;
        assert!(denied.contains(r#"type="error""#), "{denied}");

        // Typing is relayed live to the members.
        cid.send(&format!(r#"<message to="{}" type="groupchat" xmlns="jabber:client"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>"#, w.room(&dialog_id)))
            .await;
        let typing = ben.expect("<composing").await;
        assert!(typing.contains(&format!("/{}", w.id(2))), "{typing}");
    }
}

#[tokio::test]
async fn room_presence_satisfies_both_sdks_and_kicks_carry_the_actor() {
    let w = world(Db::Sqlite).await;
    let ann_token = w.token(0).await;
    let (_, dialog) = w
        .rest(
            reqwest::Method::POST,
            "/chat/Dialog.json",
            &ann_token,
            Some(json!({"type": 2, "name": "Room", "occupants_ids": [w.id(1), w.id(2)]})),
        )
        .await;
    let dialog_id = dialog["_id"].as_str().unwrap().to_owned();
    let room = w.room(&dialog_id);
    let mut ben = w.online(1).await;
    let mut cid = w.online(2).await;
    let mut dot = w.online(3).await;

    ben.send(&format!(r#"<presence id="join-b" to="{room}/{}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"><history maxstanzas="0"/></x></presence>"#, w.id(1))).await;
    let own = ben.expect(r#"id="join-b""#).await;
    assert!(
        own.contains(r#"<status code="110"/>"#) && own.contains("<xmlns><code>110</code></xmlns>"),
        "{own}"
    );
    assert!(own.find("<status").unwrap() < own.find("<xmlns>").unwrap());

    cid.send(&format!(r#"<presence id="join-c" to="{room}/{}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/></presence>"#, w.id(2))).await;
    let existing = cid.expect(&format!(r#"from="{room}/{}""#, w.id(1))).await;
    assert!(
        !existing.contains("<status") && !existing.contains("<xmlns>"),
        "others carry no status: {existing}"
    );
    cid.expect(r#"id="join-c""#).await;
    let joined = ben.expect(&format!(r#"from="{room}/{}""#, w.id(2))).await;
    assert!(!joined.contains("<status"), "{joined}");

    // Online members, joined or not.
    let mut ann = w.online(0).await;
    ann.send(&format!(r#"<iq type="get" id="items" to="{room}" xmlns="jabber:client"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>"#)).await;
    let items = ann.expect(r#"id="items""#).await;
    for n in 0..3 {
        assert!(items.contains(&format!(r#"jid="{room}/{}""#, w.id(n))), "{items}");
    }
    // A non-member can neither join nor list.
    dot.send(&format!(r#"<presence id="join-d" to="{room}/{}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/></presence>"#, w.id(3))).await;
    let refused = dot.expect(r#"id="join-d""#).await;
    assert!(
        refused.contains(r#"type="error""#)
            && refused.contains(r#"code="407""#)
            && refused.contains("http://jabber.org/protocol/muc"),
        "{refused}"
    );

    // The owner removes Cid over REST: Cid gets 301 with the actor, Ben a plain unavailable.
    let (status, _) = w
        .rest(
            reqwest::Method::PUT,
            &format!("/chat/Dialog/{dialog_id}.json"),
            &ann_token,
            Some(json!({"pull_all": {"occupants_ids": [w.id(2)]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kicked = cid.expect(r#"code="301""#).await;
    let actor = format!(r#"<actor jid="{}-{}@localhost"/>"#, w.id(0), w.app);
    assert_eq!(
        kicked.matches(&actor).count(),
        2,
        "actor under <x> and under <presence>: {kicked}"
    );
    assert!(kicked.contains("<xmlns><code>301</code></xmlns>"));
    let gone = ben.expect(r#"type="unavailable""#).await;
    assert!(
        gone.contains(&format!("{room}/{}", w.id(2))) && !gone.contains("<status"),
        "{gone}"
    );

    // Leaving: self-presence with 110 and the shim.
    ben.send(&format!(
        r#"<presence type="unavailable" to="{room}/{}" xmlns="jabber:client"/>"#,
        w.id(1)
    ))
    .await;
    let left = ben.expect(r#"type="unavailable""#).await;
    assert!(
        left.contains(r#"<status code="110"/>"#) && left.contains("<xmlns><code>110</code></xmlns>"),
        "{left}"
    );
}

#[tokio::test]
async fn markers_and_rest_actions_travel_in_real_time() {
    let w = world(Db::Sqlite).await;
    let mut ann = w.online(0).await;
    let mut ben = w.online(1).await;
    ann.send(&format!(
        r#"<message to="{}-{}@localhost" type="chat" id="6b068f315f6662378a0000b1" xmlns="jabber:client"><body>read me</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#,
        w.id(1), w.app
    ))
    .await;
    let got = ben.expect("read me").await;
    let dialog_id = between(&got, "<dialog_id>", "</dialog_id>").to_owned();
    ben.send(&format!(
        r#"<message to="{}-{}@localhost" type="chat" id="mk1" xmlns="jabber:client"><displayed xmlns="urn:xmpp:chat-markers:0" id="6b068f315f6662378a0000b1"/><extraParams xmlns="jabber:client"><dialog_id>{dialog_id}</dialog_id></extraParams></message>"#,
        w.id(0), w.app
    ))
    .await;
    let marker = ann.expect("<displayed").await;
    assert!(marker.contains(r#"id="6b068f315f6662378a0000b1""#), "{marker}");
    let ann_token = w.token(0).await;
    let (_, history) = w
        .rest(
            reqwest::Method::GET,
            &format!("/chat/Message.json?chat_dialog_id={dialog_id}&mark_as_read=0"),
            &ann_token,
            None,
        )
        .await;
    let read_ids: Vec<i64> = history["items"][0]["read_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(read_ids.contains(&w.id(1)), "{history}");

    // REST: send_to_chat delivers, read=1 sends the marker, force delete sends <remove/>, system messages arrive as headlines.
    let ben_token = w.token(1).await;
    let (status, created) = w
        .rest(reqwest::Method::POST, "/chat/Message.json", &ben_token,
            Some(json!({"chat_dialog_id": dialog_id, "message": "via rest", "send_to_chat": 1, "country": "NL"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let live = ann.expect("via rest").await;
    assert!(
        live.contains(&format!(r#"id="{}""#, created["_id"].as_str().unwrap()))
            && live.contains("<country>NL</country>"),
        "{live}"
    );
    let (status, _) = w
        .rest(
            reqwest::Method::PUT,
            &format!("/chat/Message/{}.json", created["_id"].as_str().unwrap()),
            &ann_token,
            Some(json!({"read": 1, "chat_dialog_id": dialog_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    ben.expect("<displayed").await;
    let response = w
        .http
        .delete(format!(
            "{}/chat/Message/{}.json",
            w.server.http,
            created["_id"].as_str().unwrap()
        ))
        .header("CB-Token", &ben_token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("force=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let removed = ann.expect("urn:xmpp:message-delete:0").await;
    assert!(removed.contains(created["_id"].as_str().unwrap()), "{removed}");
    let (status, system) = w
        .rest(
            reqwest::Method::POST,
            "/chat/Message/system.json",
            &ben_token,
            Some(json!({"recipientId": w.id(0), "userExt": {"name": "Smith"}})),
        )
        .await;
    assert_eq!(status.as_u16() / 100, 2, "{system}");
    let headline = ann.expect(r#"type="headline""#).await;
    assert!(
        headline.contains("<moduleIdentifier>SystemNotifications</moduleIdentifier>")
            && headline.contains("<name>Smith</name>"),
        "{headline}"
    );
}
