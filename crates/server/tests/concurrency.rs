//! Many clients writing at once, on both backends: dialogs, messages (REST and XMPP, saved to history),
//! privacy lists and contacts. Nothing gets a 5xx or an error stanza; SQLite's single writer means
//! "database is locked" can never reach a client.

mod support;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;
use support::world::World;
use support::Db;

const USERS: usize = 8;
const ROUNDS: usize = 6;

/// Reads until a frame containing `needle`, failing on any error stanza on the way (or in it).
async fn clean_until(client: &mut support::xmpp::Client, needle: &str) -> String {
    loop {
        let frame = client.recv().await.expect("the stream stays open");
        assert!(!frame.contains(r#"type="error""#), "{frame}");
        if frame.contains(needle) {
            return frame;
        }
    }
}

async fn run(db: Db) {
    let logins: Vec<String> = (0..USERS).map(|i| format!("user{i}")).collect();
    let names: Vec<&str> = logins.iter().map(String::as_str).collect();
    let env = [("PALAVER_XMPP_STANZA_RATE", "0")];
    let world = World::start(db, &env, "Busy", &names).await;
    let all: Vec<String> = (0..USERS).map(|i| world.id(i).to_string()).collect();

    let clients = (0..USERS).map(|me| {
        let world = &world;
        let all = all.clone();
        async move {
            let token = world.token(me).await;
            let mut xmpp = world.online(me).await;
            let peer = (me + 1) % USERS;
            let mut statuses = Vec::new();
            for round in 0..ROUNDS {
                // REST: a group dialog and a message in it, and a 1-1 message.
                let (status, dialog) = world
                    .rest(
                        Method::POST,
                        "/chat/Dialog.json",
                        &token,
                        Some(json!({"type": 2, "name": format!("g{me}-{round}"), "occupants_ids": all.join(",")})),
                    )
                    .await;
                statuses.push((status.as_u16(), dialog.to_string()));
                if let Some(id) = dialog["_id"].as_str() {
                    let (status, body) = world
                        .rest(
                            Method::POST,
                            "/chat/Message.json",
                            &token,
                            Some(json!({"chat_dialog_id": id, "message": "hi all", "send_to_chat": 1})),
                        )
                        .await;
                    statuses.push((status.as_u16(), body.to_string()));
                }
                let (status, body) = world
                    .rest(
                        Method::POST,
                        "/chat/Message.json",
                        &token,
                        Some(json!({"recipient_id": world.id(peer), "message": "psst", "send_to_chat": 1})),
                    )
                    .await;
                statuses.push((status.as_u16(), body.to_string()));
                // XMPP: a saved 1-1 message, a privacy list and a contact, each answered.
                let other = world.bare((me + 2 + round) % USERS);
                xmpp.send(&format!(
                    r#"<message xmlns="jabber:client" type="chat" to="{}" id="x{me}-{round}"><body>saved</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#,
                    world.bare(peer)
                ))
                .await;
                xmpp.send(&format!(
                    r#"<iq xmlns="jabber:client" type="set" id="p{round}"><query xmlns="jabber:iq:privacy"><list name="l{round}"><item type="jid" value="{other}" action="deny" order="1"><message/></item></list></query></iq>"#
                ))
                .await;
                xmpp.send(&format!(
                    r#"<iq xmlns="jabber:client" type="set" id="r{round}"><query xmlns="jabber:iq:roster"><item jid="{other}" name="friend"/></query></iq>"#
                ))
                .await;
                for id in [format!("p{round}"), format!("r{round}")] {
                    let answer = clean_until(&mut xmpp, &format!(r#"id="{id}""#)).await;
                    assert!(answer.contains(r#"type="result""#), "user{me}: {answer}");
                }
            }
            // Whatever else arrived (messages, pushes, presence) carries no error.
            let rest = xmpp.drain(std::time::Duration::from_millis(300)).await;
            for frame in rest {
                assert!(!frame.contains(r#"type="error""#), "user{me}: {frame}");
            }
            statuses
        }
    });
    for statuses in join_all(clients).await {
        assert_eq!(statuses.len(), ROUNDS * 3);
        for (status, body) in statuses {
            assert!(status == 200 || status == 201, "{status}: {body}");
        }
    }
    assert!(!world.server.log_text().contains("database is locked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_no_errors_on_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_no_errors_on_postgres() {
    run(Db::Postgres).await;
}
