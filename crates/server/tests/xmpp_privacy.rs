//! End-to-end: privacy lists (XEP-0016 as ConnectyCube profiles it, docs/protocol.md#xmpp-privacy-lists)
//! against the real binary — every list operation with the stanzas the SDKs send, the errors a blocked
//! sender (503) and the owner of a two-way block (406) get in 1-1 chat, silent filtering in groups, lists
//! surviving a restart, and the XEP-0191 blocking command on the same lists.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use support::world::World;
use support::xmpp::{between, Client};
use support::Db;

const QUIET: Duration = Duration::from_millis(400);

const NAMES: [&str; 4] = ["ann", "ben", "cid", "dot"];
const ANN: usize = 0;
const BEN: usize = 1;
const CID: usize = 2;
const DOT: usize = 3;

async fn world(db: Db) -> World {
    World::start(db, &[], "Privacy", &NAMES).await
}

impl World {
    fn muc(&self, n: usize) -> String {
        format!("muc.localhost/{}", self.id(n))
    }

    /// The two items both SDKs write for one user (docs/protocol.md#xmpp-privacy-lists): one-way items carry
    /// the four stanza kinds, two-way (`mutualBlock`) items none.
    fn pair(&self, n: usize, first: u32, action: &str, two_way: bool) -> String {
        self.items(n, first, action, two_way, |value, order| {
            format!(r#"<item type="jid" value="{value}" action="{action}" order="{order}""#)
        })
    }

    /// The same pair as the server answers it (its serialiser writes attributes alphabetically).
    fn pair_back(&self, n: usize, first: u32, action: &str, two_way: bool) -> String {
        self.items(n, first, action, two_way, |value, order| {
            format!(r#"<item action="{action}" order="{order}" type="jid" value="{value}""#)
        })
    }

    fn items(
        &self,
        n: usize,
        first: u32,
        _action: &str,
        two_way: bool,
        open: impl Fn(String, u32) -> String,
    ) -> String {
        let item = |value: String, order: u32| {
            if two_way {
                format!("{}/>", open(value, order))
            } else {
                format!(
                    "{}><message/><presence-in/><presence-out/><iq/></item>",
                    open(value, order)
                )
            }
        };
        format!("{}{}", item(self.bare(n), first), item(self.muc(n), first + 1))
    }
}

/// `privacylist.create(list)` / the set half of `update(list)`.
fn create(jid: &str, id: &str, name: &str, items: &str) -> String {
    format!(
        r#"<iq type="set" from="{jid}" id="{id}:edit" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="{name}">{items}</list></query></iq>"#
    )
}

fn get_names(jid: &str, id: &str) -> String {
    format!(
        r#"<iq type="get" from="{jid}" id="{id}:getNames" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"/></iq>"#
    )
}

fn get_list(jid: &str, id: &str, name: &str) -> String {
    format!(
        r#"<iq type="get" from="{jid}" id="{id}:getlist" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="{name}"/></query></iq>"#
    )
}

fn delete(jid: &str, id: &str, name: &str) -> String {
    format!(
        r#"<iq type="set" from="{jid}" id="{id}:remove" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="{name}"/></query></iq>"#
    )
}

/// `setAsDefault(name)`, or `setAsDefault(null)` (decline) with `None`.
fn set_default(jid: &str, id: &str, name: Option<&str>) -> String {
    let default = match name {
        Some(name) => format!(r#"<default name="{name}"/>"#),
        None => "<default/>".to_owned(),
    };
    format!(
        r#"<iq type="set" from="{jid}" id="{id}:default" xmlns="jabber:client"><query xmlns="jabber:iq:privacy">{default}</query></iq>"#
    )
}

/// Sends an iq and returns the answer with the same id.
async fn ask(client: &mut Client, stanza: &str) -> String {
    let id = between(stanza, r#"id=""#, "\"").to_owned();
    client.send(stanza).await;
    client.expect(&format!(r#"id="{id}""#)).await
}

/// Reads until `needle`, failing if anything on the way (or the match itself) contains a forbidden text.
async fn expect_clean(client: &mut Client, needle: &str, forbidden: &[&str]) -> String {
    loop {
        let next = client.expect("").await;
        for text in forbidden {
            assert!(!next.contains(text), "{text:?} must not arrive; got {next}");
        }
        if next.contains(needle) {
            return next;
        }
    }
}

async fn ok(client: &mut Client, stanza: &str) -> String {
    let answer = ask(client, stanza).await;
    assert!(
        answer.contains(r#"type="result""#),
        "expected a result for {stanza}\ngot {answer}"
    );
    answer
}

/// The `<query …>…</query>` of a result, for exact comparisons.
fn query_of(answer: &str) -> String {
    let start = answer.find("<query").expect("a query");
    answer[start..answer.rfind("</iq>").unwrap()].to_owned()
}

fn chat(to: &str, id: &str, body: &str) -> String {
    format!(
        r#"<message to="{to}" type="chat" id="{id}" xmlns="jabber:client"><body>{body}</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
    )
}

fn assert_error(got: &str, id: &str, code: &str, kind: &str, condition: &str, text: &str) {
    assert!(got.starts_with("<message"), "{got}");
    assert!(got.contains(r#"type="error""#), "{got}");
    assert!(got.contains(&format!(r#"id="{id}""#)), "{got}");
    assert!(
        got.contains(&format!(r#"<error code="{code}" type="{kind}">"#))
            || (got.contains(&format!(r#"code="{code}""#)) && got.contains(&format!(r#"type="{kind}""#))),
        "{got}"
    );
    assert!(
        got.contains(&format!(
            "<{condition} xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\""
        )),
        "{got}"
    );
    assert!(got.contains(&format!(">{text}</text>")), "{got}");
}

#[tokio::test]
async fn every_list_operation_as_the_sdks_send_it() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db).await;
        let mut ann = w.online(ANN).await;
        // A second session of the owner must not be told about list changes
        // (docs/protocol.md#xmpp-privacy-managing).
        let mut ann_phone = w.online(ANN).await;
        ann.expect("<presence").await; // the phone's presence reaches the first session
        let jid = ann.jid.clone();

        // No lists yet.
        let names = ok(&mut ann, &get_names(&jid, "n0")).await;
        assert_eq!(
            query_of(&names),
            r#"<query xmlns="jabber:iq:privacy"/>"#,
            "{names}"
        );

        // create(): ben allowed, cid denied two-way, dot denied one-way — pairs in user-id order.
        let items = format!(
            "{}{}{}",
            w.pair(BEN, 1, "allow", false),
            w.pair(CID, 3, "deny", true),
            w.pair(DOT, 5, "deny", false)
        );
        ok(&mut ann, &create(&jid, "c1", "L", &items)).await;
        // getList(): the items come back sorted by order, pairs intact, kinds as sent.
        let list = ok(&mut ann, &get_list(&jid, "g1", "L")).await;
        let expected = format!(
            "{}{}{}",
            w.pair_back(BEN, 1, "allow", false),
            w.pair_back(CID, 3, "deny", true),
            w.pair_back(DOT, 5, "deny", false)
        );
        assert_eq!(
            query_of(&list),
            format!(r#"<query xmlns="jabber:iq:privacy"><list name="L">{expected}</list></query>"#),
            "{list}"
        );

        // Items sent out of order are stored in order.
        let shuffled = format!(
            "{}{}",
            w.pair(DOT, 3, "deny", false),
            w.pair(BEN, 1, "deny", true)
        );
        ok(&mut ann, &create(&jid, "c2", "M", &shuffled)).await;
        let list = ok(&mut ann, &get_list(&jid, "g2", "M")).await;
        assert_eq!(
            query_of(&list),
            format!(
                r#"<query xmlns="jabber:iq:privacy"><list name="M">{}{}</list></query>"#,
                w.pair_back(BEN, 1, "deny", true),
                w.pair_back(DOT, 3, "deny", false)
            )
        );

        // getNames(): every list, no default yet.
        let names = ok(&mut ann, &get_names(&jid, "n1")).await;
        assert_eq!(
            query_of(&names),
            r#"<query xmlns="jabber:iq:privacy"><list name="L"/><list name="M"/></query>"#
        );

        // setAsDefault("L"): <default/> comes before the lists.
        ok(&mut ann, &set_default(&jid, "d1", Some("L"))).await;
        let names = ok(&mut ann, &get_names(&jid, "n2")).await;
        assert_eq!(
            query_of(&names),
            r#"<query xmlns="jabber:iq:privacy"><default name="L"/><list name="L"/><list name="M"/></query>"#
        );
        // An unknown default is item-not-found with the legacy code; the default stays.
        let refused = ask(&mut ann, &set_default(&jid, "d2", Some("nope"))).await;
        assert!(
            refused.contains(r#"type="error""#) && refused.contains(r#"code="404""#),
            "{refused}"
        );
        assert!(
            refused.contains("<item-not-found") && refused.contains("</text>"),
            "{refused}"
        );

        // An active list is per session and listed first.
        ok(&mut ann, r#"<iq type="set" id="a1" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><active name="M"/></query></iq>"#).await;
        let names = ok(&mut ann, &get_names(&jid, "n3")).await;
        assert!(
            query_of(&names)
                .starts_with(r#"<query xmlns="jabber:iq:privacy"><active name="M"/><default name="L"/>"#),
            "{names}"
        );
        let phone_jid = ann_phone.jid.clone();
        let phone_names = ok(&mut ann_phone, &get_names(&phone_jid, "pn")).await;
        assert!(!phone_names.contains("<active"), "{phone_names}");
        ok(&mut ann, r#"<iq type="set" id="a2" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><active/></query></iq>"#).await;
        let names = ok(&mut ann, &get_names(&jid, "n4")).await;
        assert!(!names.contains("<active"), "{names}");
        let refused = ask(&mut ann, r#"<iq type="set" id="a3" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><active name="nope"/></query></iq>"#).await;
        assert!(refused.contains(r#"code="404""#), "{refused}");

        // getList() of an unknown name: an empty list, not an error (v3 would hang on an error).
        let unknown = ok(&mut ann, &get_list(&jid, "g3", "nope")).await;
        assert_eq!(
            query_of(&unknown),
            r#"<query xmlns="jabber:iq:privacy"><list name="nope"/></query>"#
        );

        // The guide's update flow: decline the default, update (getList + create), default again.
        ok(&mut ann, &set_default(&jid, "d3", None)).await;
        let names = ok(&mut ann, &get_names(&jid, "n5")).await;
        assert!(!names.contains("<default"), "{names}");
        ok(&mut ann, &get_list(&jid, "u1", "L")).await;
        let updated = format!("{}{}", w.pair(CID, 1, "deny", true), w.pair(DOT, 3, "deny", true));
        ok(&mut ann, &create(&jid, "u2", "L", &updated)).await;
        ok(&mut ann, &set_default(&jid, "u3", Some("L"))).await;
        let list = ok(&mut ann, &get_list(&jid, "g4", "L")).await;
        assert_eq!(
            query_of(&list),
            format!(
                r#"<query xmlns="jabber:iq:privacy"><list name="L">{}{}</list></query>"#,
                w.pair_back(CID, 1, "deny", true),
                w.pair_back(DOT, 3, "deny", true)
            )
        );
        // Editing the default list without declining it first is allowed too.
        let edited = w.pair(DOT, 1, "deny", false);
        ok(&mut ann, &create(&jid, "u4", "L", &edited)).await;
        let names = ok(&mut ann, &get_names(&jid, "n6")).await;
        assert!(names.contains(r#"<default name="L"/>"#), "{names}");

        // delete(): a list without items.
        ok(&mut ann, &delete(&jid, "r1", "M")).await;
        let names = ok(&mut ann, &get_names(&jid, "n7")).await;
        assert_eq!(
            query_of(&names),
            r#"<query xmlns="jabber:iq:privacy"><default name="L"/><list name="L"/></query>"#
        );
        let gone = ok(&mut ann, &get_list(&jid, "g5", "M")).await;
        assert!(query_of(&gone).contains(r#"<list name="M"/>"#), "{gone}");

        // Malformed requests are bad-request (400) with a text.
        for bad in [
            r#"<iq type="get" id="b1" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="L"/><list name="M"/></query></iq>"#,
            r#"<iq type="set" id="b2" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="X"><item type="jid" value="1-1@localhost" action="maybe" order="1"/></list></query></iq>"#,
            r#"<iq type="set" id="b3" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="X"><item type="jid" value="1-1@localhost" action="deny" order="-1"/></list></query></iq>"#,
            r#"<iq type="set" id="b4" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><list name="X"><item type="jid" value="1-1@localhost" action="deny" order="1"/><item type="jid" value="2-1@localhost" action="deny" order="1"/></list></query></iq>"#,
            r#"<iq type="set" id="b5" xmlns="jabber:client"><query xmlns="jabber:iq:privacy"><default name="L"/><list name="L"/></query></iq>"#,
        ] {
            let answer = ask(&mut ann, bad).await;
            assert!(
                answer.contains(r#"type="error""#)
                    && answer.contains(r#"code="400""#)
                    && answer.contains("</text>"),
                "{bad}\n{answer}"
            );
        }
        let names = ok(&mut ann, &get_names(&jid, "n8")).await;
        assert!(!names.contains(r#"name="X""#), "{names}");

        // The other session heard nothing of all this.
        let heard = ann_phone.drain(QUIET).await;
        assert!(
            heard.iter().all(|s| !s.contains("jabber:iq:privacy")),
            "{heard:#?}"
        );
    }
}

#[tokio::test]
async fn blocked_users_get_503_and_two_way_blockers_get_406_in_private_chat() {
    let w = world(Db::Sqlite).await;
    let mut ann = w.online(ANN).await;
    let mut ben = w.online(BEN).await;
    let mut cid = w.online(CID).await;
    let mut dot = w.online(DOT).await;
    let jid = ann.jid.clone();
    // Ann blocks ben one-way and cid two-way.
    let items = format!(
        "{}{}",
        w.pair(BEN, 1, "deny", false),
        w.pair(CID, 3, "deny", true)
    );
    ok(&mut ann, &create(&jid, "c1", "blocked", &items)).await;
    // Not the default yet: nothing is enforced.
    ben.send(&chat(&w.bare(ANN), "before-default", "still friends"))
        .await;
    ann.expect("still friends").await;
    ok(&mut ann, &set_default(&jid, "d1", Some("blocked"))).await;

    // (a) ben → ann: not delivered; ben gets 503 with the original id.
    ben.send(&chat(&w.bare(ANN), "6b068f315f6662378a0000b1", "let me talk"))
        .await;
    let error = ben.expect("6b068f315f6662378a0000b1").await;
    assert_error(
        &error,
        "6b068f315f6662378a0000b1",
        "503",
        "cancel",
        "service-unavailable",
        "Service not available.",
    );
    assert!(error.contains(&format!(r#"from="{}""#, w.bare(ANN))), "{error}");
    assert!(error.contains(&format!(r#"to="{}""#, ben.jid)), "{error}");
    // Typing and markers are dropped without an error; iqs and directed presence do not get through either.
    ben.send(&format!(r#"<message to="{}" type="chat" xmlns="jabber:client"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>"#, w.bare(ANN))).await;
    ben.send(&format!(r#"<message to="{}" type="chat" id="marker1" xmlns="jabber:client"><received xmlns="urn:xmpp:chat-markers:0" id="still-friends"/></message>"#, w.bare(ANN))).await;
    ben.send(&format!(
        r#"<presence to="{}" xmlns="jabber:client"><status>look at me</status></presence>"#,
        w.bare(ANN)
    ))
    .await;
    ben.send(&format!(
        r#"<iq type="get" id="v1" to="{}" xmlns="jabber:client"><query xmlns="jabber:iq:version"/></iq>"#,
        ann.jid
    ))
    .await;
    let answer = expect_clean(&mut ben, r#"id="v1""#, &["marker1", "composing", "look at me"]).await;
    assert!(
        answer.contains(r#"type="error""#) && answer.contains(r#"code="503""#),
        "{answer}"
    );
    assert!(
        ben.silent_for(QUIET).await.is_ok(),
        "no error for typing, markers or presence"
    );
    let heard = ann.drain(QUIET).await;
    assert!(heard.is_empty(), "ann must get nothing from ben: {heard:#?}");

    // One-way: ann may still write to ben.
    ann.send(&chat(&w.bare(BEN), "ann-to-ben", "I can talk to you"))
        .await;
    ben.expect("I can talk to you").await;

    // (b) two-way: ann's own messages to cid are refused with 406, and cid's to her with 503.
    ann.send(&chat(&w.bare(CID), "6b068f315f6662378a0000b2", "hello cid"))
        .await;
    let error = expect_clean(
        &mut ann,
        "6b068f315f6662378a0000b2",
        &["let me talk", "hello ann"],
    )
    .await;
    assert_error(
        &error,
        "6b068f315f6662378a0000b2",
        "406",
        "modify",
        "not-acceptable",
        "You have blocked this user.",
    );
    cid.send(&chat(&w.bare(ANN), "cid-to-ann", "hello ann")).await;
    let error = expect_clean(&mut cid, "cid-to-ann", &["hello cid"]).await;
    assert_error(
        &error,
        "cid-to-ann",
        "503",
        "cancel",
        "service-unavailable",
        "Service not available.",
    );
    assert!(cid.silent_for(QUIET).await.is_ok());

    // Others are not affected.
    dot.send(&chat(&w.bare(ANN), "dot-to-ann", "hi from dot")).await;
    expect_clean(&mut ann, "hi from dot", &["hello ann", "let me talk"]).await;

    // Nothing blocked was stored: ann has dialogs with dot and ben only (before-default, ann-to-ben).
    let token = w.token(ANN).await;
    let (status, dialogs) = w
        .rest(reqwest::Method::GET, "/chat/Dialog.json", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{dialogs}");
    let mut with: Vec<i64> = dialogs["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["occupants_ids"].as_array().unwrap().clone())
        .filter_map(|v| v.as_i64())
        .filter(|&id| id != w.id(ANN))
        .collect();
    with.sort();
    assert_eq!(with, vec![w.id(BEN), w.id(DOT)], "{dialogs}");
    let ben_dialog = dialogs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["occupants_ids"].as_array().unwrap().contains(&json!(w.id(BEN))))
        .unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, history) = w
        .rest(
            reqwest::Method::GET,
            &format!("/chat/Message.json?chat_dialog_id={ben_dialog}&mark_as_read=0"),
            &token,
            None,
        )
        .await;
    let bodies: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["still friends", "I can talk to you"], "{history}");

    // The list applies while ann is offline too: nothing is kept for her.
    drop(ann);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ben.send(&chat(&w.bare(ANN), "while-away", "are you there")).await;
    let error = ben.expect("while-away").await;
    assert_error(
        &error,
        "while-away",
        "503",
        "cancel",
        "service-unavailable",
        "Service not available.",
    );
    dot.send(&chat(&w.bare(ANN), "dot-while-away", "dot was here"))
        .await;
    let mut ann = w.online(ANN).await;
    let arrived = expect_clean(&mut ann, "dot was here", &["are you there"]).await;
    assert!(arrived.contains("urn:xmpp:delay"), "{arrived}");
    let heard = ann.drain(QUIET).await;
    assert!(heard.iter().all(|s| !s.contains("are you there")), "{heard:#?}");

    // Declining the default list lifts every block at once.
    let jid = ann.jid.clone();
    ok(&mut ann, &set_default(&jid, "d2", None)).await;
    ben.send(&chat(&w.bare(ANN), "after", "friends again")).await;
    ann.expect("friends again").await;
    ann.send(&chat(&w.bare(CID), "after-cid", "sorry cid")).await;
    cid.expect("sorry cid").await;
}

#[tokio::test]
async fn blocked_occupants_reach_nobody_who_blocks_them_in_groups() {
    let w = world(Db::Sqlite).await;
    let token = w.token(ANN).await;
    let (status, dialog) = w
        .rest(
            reqwest::Method::POST,
            "/chat/Dialog.json",
            &token,
            Some(json!({"type": 2, "name": "Team", "occupants_ids": format!("{}, {}, {}", w.id(BEN), w.id(CID), w.id(DOT))})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dialog}");
    let room = w.room(dialog["_id"].as_str().unwrap());
    let mut ann = w.online(ANN).await;
    let mut ben = w.online(BEN).await;
    let mut cid = w.online(CID).await;
    let mut dot = w.online(DOT).await;
    let jid = ann.jid.clone();
    let items = format!(
        "{}{}",
        w.pair(BEN, 1, "deny", false),
        w.pair(CID, 3, "deny", true)
    );
    ok(&mut ann, &create(&jid, "c1", "blocked", &items)).await;
    ok(&mut ann, &set_default(&jid, "d1", Some("blocked"))).await;

    let group = |id: &str, body: &str| {
        format!(
            r#"<message to="{room}" type="groupchat" id="{id}" xmlns="jabber:client"><body>{body}</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
        )
    };
    // (c) ben (one-way blocked) and cid (two-way) write: everyone but ann gets it; nobody gets an error.
    ben.send(&group("g-ben", "ben speaking")).await;
    cid.send(&group("g-cid", "cid speaking")).await;
    for client in [&mut ben, &mut cid, &mut dot] {
        let first = expect_clean(client, "speaking", &[r#"type="error""#]).await;
        let second = if first.contains("ben speaking") {
            "cid speaking"
        } else {
            "ben speaking"
        };
        expect_clean(client, second, &[r#"type="error""#]).await;
    }
    let heard = ann.drain(QUIET).await;
    assert!(
        heard.is_empty(),
        "ann must get nothing from ben or cid: {heard:#?}"
    );
    // ann writes: ben gets it (one-way), cid does not (two-way), dot does, ann gets her reflection.
    ann.send(&group("g-ann", "ann speaking")).await;
    expect_clean(&mut ann, "ann speaking", &[r#"type="error""#]).await;
    ben.expect("ann speaking").await;
    dot.expect("ann speaking").await;
    let heard = cid.drain(QUIET).await;
    assert!(heard.is_empty(), "cid must get nothing from ann: {heard:#?}");
    // dot writes: everyone.
    dot.send(&group("g-dot", "dot speaking")).await;
    for client in [&mut ann, &mut ben, &mut cid, &mut dot] {
        expect_clean(client, "dot speaking", &[r#"type="error""#]).await;
    }
    for (client, name) in [
        (&mut ann, "ann"),
        (&mut ben, "ben"),
        (&mut cid, "cid"),
        (&mut dot, "dot"),
    ] {
        let heard = client.drain(QUIET).await;
        assert!(heard.is_empty(), "{name}: {heard:#?}");
    }
    let history_token = w.token(CID).await;
    let (_, history) = w
        .rest(
            reqwest::Method::GET,
            &format!(
                "/chat/Message.json?chat_dialog_id={}&mark_as_read=0",
                dialog["_id"].as_str().unwrap()
            ),
            &history_token,
            None,
        )
        .await;
    // History is the dialog's, not a delivery log: every message is in it.
    assert_eq!(history["items"].as_array().unwrap().len(), 4, "{history}");
}

#[tokio::test]
async fn lists_and_the_default_survive_a_restart() {
    for db in [Db::Sqlite, Db::Postgres] {
        let mut w = world(db).await;
        let mut ann = w.online(ANN).await;
        let jid = ann.jid.clone();
        let items = format!(
            "{}{}",
            w.pair(BEN, 1, "deny", false),
            w.pair(CID, 3, "deny", true)
        );
        ok(&mut ann, &create(&jid, "c1", "kept", &items)).await;
        ok(
            &mut ann,
            &create(&jid, "c2", "spare", &w.pair(DOT, 1, "allow", false)),
        )
        .await;
        ok(&mut ann, &set_default(&jid, "d1", Some("kept"))).await;
        drop(ann);

        assert!(w.server.stop().success());
        w.server.spawn().await;

        let mut ann = w.online(ANN).await;
        let mut ben = w.online(BEN).await;
        let jid = ann.jid.clone();
        let names = ok(&mut ann, &get_names(&jid, "n1")).await;
        assert_eq!(
            query_of(&names),
            r#"<query xmlns="jabber:iq:privacy"><default name="kept"/><list name="kept"/><list name="spare"/></query>"#
        );
        let list = ok(&mut ann, &get_list(&jid, "g1", "kept")).await;
        assert_eq!(
            query_of(&list),
            format!(
                r#"<query xmlns="jabber:iq:privacy"><list name="kept">{}{}</list></query>"#,
                w.pair_back(BEN, 1, "deny", false),
                w.pair_back(CID, 3, "deny", true)
            )
        );
        ben.send(&chat(&w.bare(ANN), "after-restart", "still blocked?"))
            .await;
        let error = ben.expect("after-restart").await;
        assert_error(
            &error,
            "after-restart",
            "503",
            "cancel",
            "service-unavailable",
            "Service not available.",
        );
        ann.send(&chat(&w.bare(CID), "to-cid", "two-way still?")).await;
        let error = ann.expect("to-cid").await;
        assert_error(
            &error,
            "to-cid",
            "406",
            "modify",
            "not-acceptable",
            "You have blocked this user.",
        );
    }
}

#[tokio::test]
async fn the_blocking_command_edits_the_default_list() {
    let w = world(Db::Sqlite).await;
    let mut ann = w.online(ANN).await;
    let mut ann_other = w.online(ANN).await;
    ann.expect("<presence").await;
    let mut ben = w.online(BEN).await;

    // The other session asks for the blocklist, so it gets pushes; this one does not.
    let empty = ok(
        &mut ann_other,
        r#"<iq type="get" id="bl0" xmlns="jabber:client"><blocklist xmlns="urn:xmpp:blocking"/></iq>"#,
    )
    .await;
    assert!(
        empty.contains(r#"<blocklist xmlns="urn:xmpp:blocking"/>"#),
        "{empty}"
    );
    ok(&mut ann, &format!(r#"<iq type="set" id="bl1" xmlns="jabber:client"><block xmlns="urn:xmpp:blocking"><item jid="{}"/></block></iq>"#, w.bare(BEN))).await;
    let push = ann_other.expect("<block ").await;
    assert!(
        push.contains(r#"type="set""#) && push.contains(&w.bare(BEN)) && !push.contains("from="),
        "{push}"
    );

    let list = ok(
        &mut ann,
        r#"<iq type="get" id="bl2" xmlns="jabber:client"><blocklist xmlns="urn:xmpp:blocking"/></iq>"#,
    )
    .await;
    assert!(
        list.contains(&format!(r#"<item jid="{}"/>"#, w.bare(BEN))),
        "{list}"
    );
    assert!(!list.contains("muc.localhost"), "{list}");
    // It is a privacy list like any other: the default one, a two-way pair.
    let jid = ann.jid.clone();
    let names = ok(&mut ann, &get_names(&jid, "n1")).await;
    assert!(names.contains(r#"<default name="blocklist"/>"#), "{names}");
    let privacy = ok(&mut ann, &get_list(&jid, "g1", "blocklist")).await;
    assert_eq!(
        query_of(&privacy),
        format!(
            r#"<query xmlns="jabber:iq:privacy"><list name="blocklist">{}</list></query>"#,
            w.pair_back(BEN, 1, "deny", true)
        )
    );

    ben.send(&chat(&w.bare(ANN), "blocked-cmd", "hello?")).await;
    let error = ben.expect("blocked-cmd").await;
    assert_error(
        &error,
        "blocked-cmd",
        "503",
        "cancel",
        "service-unavailable",
        "Service not available.",
    );

    ok(&mut ann, &format!(r#"<iq type="set" id="bl3" xmlns="jabber:client"><unblock xmlns="urn:xmpp:blocking"><item jid="{}"/></unblock></iq>"#, w.bare(BEN))).await;
    ann_other.expect("<unblock ").await;
    ben.send(&chat(&w.bare(ANN), "unblocked", "hello again")).await;
    ann.expect("hello again").await;
    let list = ok(
        &mut ann,
        r#"<iq type="get" id="bl4" xmlns="jabber:client"><blocklist xmlns="urn:xmpp:blocking"/></iq>"#,
    )
    .await;
    assert!(!list.contains("<item"), "{list}");
}

#[tokio::test]
async fn a_list_without_items_removes_a_list_but_cannot_create_one() {
    let w = world(Db::Sqlite).await;
    let mut ann = w.online(ANN).await;
    let jid = ann.jid.clone();

    // Creating: a list needs at least one item.
    let answer = ask(&mut ann, &delete(&jid, "e1", "empty")).await;
    assert!(
        answer.contains(r#"type="error""#)
            && answer.contains(r#"code="400""#)
            && answer.contains("<bad-request")
            && answer.contains(">A privacy list needs at least one item</text>"),
        "{answer}"
    );
    let names = ok(&mut ann, &get_names(&jid, "n1")).await;
    assert_eq!(query_of(&names), r#"<query xmlns="jabber:iq:privacy"/>"#);

    // Removing: the same stanza for a list that exists takes it away (XEP-0016 §2.6).
    ok(&mut ann, &create(&jid, "c1", "L", &w.pair(BEN, 1, "deny", false))).await;
    ok(&mut ann, &delete(&jid, "r1", "L")).await;
    let names = ok(&mut ann, &get_names(&jid, "n2")).await;
    assert_eq!(query_of(&names), r#"<query xmlns="jabber:iq:privacy"/>"#);
    // Gone now, so the same stanza again would create an empty list.
    let again = ask(&mut ann, &delete(&jid, "r2", "L")).await;
    assert!(again.contains("<bad-request"), "{again}");
}
