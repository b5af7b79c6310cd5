//! End-to-end: contact lists (RFC 6121 as the v3 SDK drives it), last activity and status streaming,
//! active/inactive, and call-signalling relay.

mod support;

use std::time::Duration;
use support::world::World;
use support::Db;

const NAMES: [&str; 5] = ["amy", "bob", "cat", "dan", "eve"];

async fn world(db: Db, env: &[(&str, &str)]) -> World {
    World::start(db, env, "Contacts", &NAMES).await
}

#[tokio::test]
async fn subscriptions_follow_rfc_6121_and_wait_for_offline_contacts() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db, &[]).await;
        let mut amy = w.online(0).await;
        // Amy adds Bob and asks to see his presence while he is offline.
        amy.send(&format!(r#"<iq type="set" id="add1" xmlns="jabber:client"><query xmlns="jabber:iq:roster"><item jid="{}" name="Bobby"/></query></iq>"#, w.bare(1))).await;
        let frames = amy.drain(Duration::from_millis(400)).await;
        let push = frames
            .iter()
            .find(|f| f.contains("jabber:iq:roster"))
            .expect("a roster push");
        assert!(
            push.contains(r#"type="set""#) && !push.contains("from="),
            "pushes carry no from: {push}"
        );
        assert!(
            frames
                .iter()
                .any(|f| f.contains(r#"id="add1""#) && f.contains(r#"type="result""#)),
            "{frames:?}"
        );
        amy.send(&format!(
            r#"<presence to="{}" type="subscribe" xmlns="jabber:client"/>"#,
            w.bare(1)
        ))
        .await;
        let pending = amy.expect(r#"ask="subscribe""#).await;
        assert!(pending.contains(r#"subscription="none""#), "{pending}");

        // Bob logs in later and finds the request waiting, from Amy's bare JID.
        let mut bob = w.online(1).await;
        let request = bob.expect(r#"type="subscribe""#).await;
        assert!(request.contains(&format!(r#"from="{}""#, w.bare(0))), "{request}");
        bob.send(&format!(
            r#"<presence to="{}" type="subscribed" xmlns="jabber:client"/>"#,
            w.bare(0)
        ))
        .await;
        let confirmed = amy.expect(r#"type="subscribed""#).await;
        assert!(confirmed.contains(&format!(r#"from="{}""#, w.bare(1))));
        // …and Amy now sees Bob's presence.
        amy.expect(&format!(r#"from="{}/"#, w.bare(1))).await;

        amy.send(r#"<iq type="get" id="r1" xmlns="jabber:client"><query xmlns="jabber:iq:roster"/></iq>"#)
            .await;
        let roster = amy.expect(r#"id="r1""#).await;
        assert!(
            roster.contains(&format!(r#"jid="{}""#, w.bare(1))) && roster.contains(r#"subscription="to""#),
            "{roster}"
        );
        assert!(
            roster.contains(r#"name="Bobby""#) && !roster.contains("ask="),
            "{roster}"
        );
        bob.send(r#"<iq type="get" id="r2" xmlns="jabber:client"><query xmlns="jabber:iq:roster"/></iq>"#)
            .await;
        let roster = bob.expect(r#"id="r2""#).await;
        assert!(
            roster.contains(&format!(r#"jid="{}""#, w.bare(0))) && roster.contains(r#"subscription="from""#),
            "{roster}"
        );

        // Bob going offline reaches Amy as unavailable.
        bob.send(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#)
            .await;
        let gone = amy.expect(r#"type="unavailable""#).await;
        assert!(gone.contains(&w.bare(1)), "{gone}");

        // Cat asks Amy; Amy refuses.
        let mut cat = w.online(2).await;
        cat.send(&format!(
            r#"<presence to="{}" type="subscribe" xmlns="jabber:client"/>"#,
            w.bare(0)
        ))
        .await;
        let asked = amy.expect(r#"type="subscribe""#).await;
        assert!(asked.contains(&format!(r#"from="{}""#, w.bare(2))), "{asked}");
        amy.send(&format!(
            r#"<presence to="{}" type="unsubscribed" xmlns="jabber:client"/>"#,
            w.bare(2)
        ))
        .await;
        let refused = cat.expect(r#"type="unsubscribed""#).await;
        assert!(refused.contains(&w.bare(0)));

        // Amy removes Bob: Bob is told both ways.
        let mut bob = w.online(1).await;
        amy.send(&format!(r#"<iq type="set" id="rm" xmlns="jabber:client"><query xmlns="jabber:iq:roster"><item jid="{}" subscription="remove"/></query></iq>"#, w.bare(1))).await;
        amy.expect(r#"id="rm""#).await;
        bob.expect(r#"type="unsubscribe""#).await;
    }
}

#[tokio::test]
async fn the_contact_limit_refuses_the_next_contact() {
    let w = world(Db::Sqlite, &[("PALAVER_MAX_CONTACTS", "3")]).await;
    let mut amy = w.online(0).await;
    for n in 1..=3 {
        amy.send(&format!(r#"<iq type="set" id="add{n}" xmlns="jabber:client"><query xmlns="jabber:iq:roster"><item jid="{}"/></query></iq>"#, w.bare(n))).await;
        assert!(amy
            .expect(&format!(r#"id="add{n}""#))
            .await
            .contains(r#"type="result""#));
    }
    amy.send(&format!(r#"<iq type="set" id="add4" xmlns="jabber:client"><query xmlns="jabber:iq:roster"><item jid="{}"/></query></iq>"#, w.bare(4))).await;
    let refused = amy.expect(r#"id="add4""#).await;
    assert!(
        refused.contains(r#"code="405""#) && refused.contains("Contact list limit (3) reached"),
        "{refused}"
    );
    // v3 sends the subscription request anyway: it is refused too.
    amy.send(&format!(
        r#"<presence to="{}" type="subscribe" xmlns="jabber:client"/>"#,
        w.bare(4)
    ))
    .await;
    let refused = amy.expect(r#"type="error""#).await;
    assert!(refused.contains(r#"code="405""#), "{refused}");
}

#[tokio::test]
async fn last_activity_and_status_streaming_report_online_and_offline() {
    let w = world(Db::Sqlite, &[]).await;
    let mut amy = w.online(0).await;
    let ask = |n: usize, id: &str| {
        format!(
            r#"<iq type="get" id="{id}" to="{}" xmlns="jabber:client"><query xmlns="jabber:iq:last"/></iq>"#,
            w.bare(n)
        )
    };

    // Never seen in chat or REST: not found.
    amy.send(&ask(1, "l1")).await;
    let unknown = amy.expect(r#"id="l1""#).await;
    assert!(unknown.contains(r#"code="404""#), "{unknown}");

    amy.send(&format!(r#"<iq type="set" id="st" xmlns="jabber:client"><subscribe xmlns="https://connectycube.com/protocol/status_streaming" user_jid="{}" enable="true"/></iq>"#, w.bare(1))).await;
    amy.expect(r#"id="st""#).await;
    let mut bob = w.online(1).await;
    let online = amy.expect("jabber:iq:last").await;
    assert!(
        online.contains(&format!(r#"from="{}""#, w.bare(1))) && online.contains(r#"seconds="0""#),
        "{online}"
    );
    amy.send(&ask(1, "l2")).await;
    let now = amy.expect(r#"id="l2""#).await;
    assert!(
        now.contains(r#"seconds="0""#) && now.contains(&format!(r#"from="{}""#, w.bare(1))),
        "{now}"
    );

    bob.send(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#)
        .await;
    let offline = amy.expect(r#"seconds="1""#).await;
    assert!(offline.contains(&w.bare(1)));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    amy.send(&ask(1, "l3")).await;
    let later = amy.expect(r#"id="l3""#).await;
    let seconds: i64 = support::xmpp::between(&later, r#"seconds=""#, "\"")
        .parse()
        .unwrap();
    assert!((2..30).contains(&seconds), "{later}");
}

#[tokio::test]
async fn call_signalling_is_relayed_untouched_and_never_kept() {
    let w = world(Db::Sqlite, &[]).await;
    let mut amy = w.online(0).await;
    let mut bob = w.online(1).await;
    // Bob marks himself inactive (ConnectyCube's markInactive) and back; both are answered.
    bob.send(r#"<iq type="set" id="in" xmlns="jabber:client"><mobile xmlns="http://tigase.org/protocol/mobile#v2" enable="true"/></iq>"#).await;
    assert!(bob.expect(r#"id="in""#).await.contains(r#"type="result""#));
    let call = format!(
        r#"<message to="{}" type="headline" id="call1" xmlns="jabber:client"><extraParams xmlns="jabber:client"><moduleIdentifier>WebRTCVideoChat</moduleIdentifier><signalType>call</signalType><sessionID>s-1</sessionID><sdp>v=0 o=- 1 2 IN IP4 127.0.0.1</sdp></extraParams></message>"#,
        w.bare(1)
    );
    amy.send(&call).await;
    let relayed = bob.expect(r#"id="call1""#).await;
    assert_eq!(
        relayed.matches("moduleIdentifier>WebRTCVideoChat<").count(),
        1,
        "{relayed}"
    );
    assert!(
        relayed.contains("<sdp>v=0 o=- 1 2 IN IP4 127.0.0.1</sdp>")
            && !relayed.contains("SystemNotifications")
    );
    // To an offline callee the signal is dropped, not kept for later.
    let mut cat_call = call.replace(&w.bare(1), &w.bare(2));
    cat_call = cat_call.replace("call1", "call2");
    amy.send(&cat_call).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut cat = w.online(2).await;
    assert!(cat
        .drain(Duration::from_millis(500))
        .await
        .iter()
        .all(|s| !s.contains("call2")));
}
