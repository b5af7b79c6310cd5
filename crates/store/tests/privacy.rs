//! Privacy lists (XEP-0016) through the core service, on both backends: list CRUD, ordering, the default
//! list, evaluation (one-way, two-way, allow before deny, group-room items), the rules cache, and lists
//! surviving a reopen of the database.

use palaver_core::clock::ManualClock;
use palaver_core::model::Profile;
use palaver_core::privacy::{Action, Kind, PrivacyItem, PrivacyList, PrivacyNames, Stanzas};
use palaver_core::store::prelude::*;
use palaver_core::{Core, CoreError, CoreSettings, Denial};
use palaver_store::testing::{drop_postgres_schema, fresh_postgres_schema, with_both_stores};
use std::future::Future;
use std::sync::Arc;

const START: i64 = 1_700_000_000_000;

struct Fixture {
    core: Core,
    app: i64,
    /// Three users of the app: the list owner and two peers.
    owner: i64,
    peer: i64,
    other: i64,
}

async fn with_both<F, Fut>(test: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let test = &test;
    with_both_stores(|store| async move { test(fixture(Arc::new(store)).await).await }).await
}

async fn fixture(store: Arc<dyn Store>) -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let core = Core::new(store, CoreSettings::default()).with_clock(clock);
    let app = core.apps().create("Privacy").await.unwrap().id;
    let mut ids = Vec::new();
    for login in ["owner", "peer", "other"] {
        ids.push(user(&core, app, login).await);
    }
    Fixture {
        core,
        app,
        owner: ids[0],
        peer: ids[1],
        other: ids[2],
    }
}

async fn user(core: &Core, app: i64, login: &str) -> i64 {
    let profile = Profile {
        login: Some(login.into()),
        ..Profile::default()
    };
    core.users()
        .signup(app, profile, Some("password1".into()))
        .await
        .unwrap()
        .id
}

fn jid(uid: i64, app: i64) -> String {
    format!("{uid}-{app}@chat.example.com")
}

fn muc(uid: i64) -> String {
    format!("muc.chat.example.com/{uid}")
}

/// The two items the SDKs write for one user, at orders `first` and `first + 1`.
fn pair(first: i64, uid: i64, app: i64, action: Action, two_way: bool) -> Vec<PrivacyItem> {
    let stanzas = if two_way {
        Stanzas::EVERYTHING
    } else {
        Stanzas::ONE_WAY
    };
    vec![
        PrivacyItem::jid(first, &jid(uid, app), action, stanzas),
        PrivacyItem::jid(first + 1, &muc(uid), action, stanzas),
    ]
}

fn list(name: &str, items: Vec<PrivacyItem>) -> PrivacyList {
    PrivacyList {
        name: name.into(),
        items,
    }
}

#[tokio::test]
async fn lists_are_created_read_in_order_replaced_and_deleted() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner) = (f.app, f.owner);
        assert_eq!(privacy.names(app, owner).await.unwrap(), PrivacyNames::default());

        // Items come back sorted by order whatever order they were given in, pairs intact.
        let mut items = pair(3, f.other, app, Action::Deny, true);
        items.extend(pair(1, f.peer, app, Action::Allow, false));
        privacy.put(app, owner, list("L", items)).await.unwrap();
        privacy
            .put(app, owner, list("M", pair(1, f.peer, app, Action::Deny, false)))
            .await
            .unwrap();
        let got = privacy.list(app, owner, "L").await.unwrap().expect("list L");
        assert_eq!(got.name, "L");
        let orders: Vec<i64> = got.items.iter().map(|i| i.order).collect();
        assert_eq!(orders, vec![1, 2, 3, 4]);
        let values: Vec<String> = got.items.iter().map(|i| i.value.clone().unwrap()).collect();
        assert_eq!(
            values,
            vec![jid(f.peer, app), muc(f.peer), jid(f.other, app), muc(f.other)]
        );
        assert_eq!(got.items[0].action, Action::Allow);
        assert_eq!(got.items[0].stanzas, Stanzas::ONE_WAY);
        assert_eq!(got.items[2].action, Action::Deny);
        assert_eq!(got.items[2].stanzas, Stanzas::EVERYTHING);
        assert_eq!(
            privacy.names(app, owner).await.unwrap(),
            PrivacyNames {
                lists: vec!["L".into(), "M".into()],
                default: None
            }
        );

        // Replacing a list replaces all its items and keeps its place among the names.
        privacy
            .put(app, owner, list("L", pair(10, f.other, app, Action::Deny, false)))
            .await
            .unwrap();
        let got = privacy.list(app, owner, "L").await.unwrap().unwrap();
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.items[0].order, 10);
        assert_eq!(got.items[0].value.as_deref(), Some(jid(f.other, app).as_str()));
        assert_eq!(privacy.names(app, owner).await.unwrap().lists, vec!["L", "M"]);

        // A fall-through item (no type) keeps having no value.
        privacy
            .put(
                app,
                owner,
                list(
                    "N",
                    vec![PrivacyItem {
                        order: 7,
                        value: None,
                        action: Action::Deny,
                        stanzas: Stanzas::MESSAGE.with(Stanzas::IQ),
                    }],
                ),
            )
            .await
            .unwrap();
        let n = privacy.list(app, owner, "N").await.unwrap().unwrap();
        assert_eq!(n.items[0].value, None);
        assert_eq!(n.items[0].stanzas, Stanzas(9));

        // Unknown names, other users and other lists are separate.
        assert_eq!(privacy.list(app, owner, "nope").await.unwrap(), None);
        assert_eq!(privacy.list(app, f.peer, "L").await.unwrap(), None);

        // Delete, and an empty list deletes too.
        assert!(privacy.delete(app, owner, "M").await.unwrap());
        assert!(!privacy.delete(app, owner, "M").await.unwrap());
        privacy.put(app, owner, list("N", Vec::new())).await.unwrap();
        assert_eq!(privacy.names(app, owner).await.unwrap().lists, vec!["L"]);
        assert_eq!(privacy.list(app, owner, "M").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn lists_are_validated() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner) = (f.app, f.owner);
        let twice = vec![
            PrivacyItem::jid(1, &jid(f.peer, app), Action::Deny, Stanzas::ONE_WAY),
            PrivacyItem::jid(1, &muc(f.peer), Action::Deny, Stanzas::ONE_WAY),
        ];
        assert!(matches!(
            privacy.put(app, owner, list("L", twice)).await,
            Err(CoreError::Invalid(fields)) if fields[0].0 == "order"
        ));
        assert!(matches!(
            privacy
                .put(app, owner, list("", pair(1, f.peer, app, Action::Deny, false)))
                .await,
            Err(CoreError::Invalid(fields)) if fields[0].0 == "name"
        ));
        let too_many = (0..=palaver_core::privacy::MAX_ITEMS as i64)
            .map(|n| PrivacyItem::jid(n, &jid(f.peer, app), Action::Deny, Stanzas::ONE_WAY))
            .collect();
        assert!(matches!(
            privacy.put(app, owner, list("L", too_many)).await,
            Err(CoreError::Rejected(_))
        ));
        for n in 0..palaver_core::privacy::MAX_LISTS {
            privacy
                .put(
                    app,
                    owner,
                    list(&format!("L{n}"), pair(1, f.peer, app, Action::Deny, false)),
                )
                .await
                .unwrap();
        }
        assert!(matches!(
            privacy
                .put(
                    app,
                    owner,
                    list("one more", pair(1, f.peer, app, Action::Deny, false))
                )
                .await,
            Err(CoreError::Rejected(_))
        ));
        // Replacing an existing one is still fine at the limit.
        privacy
            .put(app, owner, list("L0", pair(1, f.other, app, Action::Deny, false)))
            .await
            .unwrap();
        // Nothing invalid was stored.
        assert_eq!(
            privacy.names(app, owner).await.unwrap().lists.len(),
            palaver_core::privacy::MAX_LISTS
        );
    })
    .await;
}

#[tokio::test]
async fn the_default_list_is_set_declined_edited_and_dropped_with_its_list() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner) = (f.app, f.owner);
        assert!(matches!(
            privacy.set_default(app, owner, Some("L")).await,
            Err(CoreError::NotFound)
        ));
        privacy
            .put(app, owner, list("L", pair(1, f.peer, app, Action::Deny, false)))
            .await
            .unwrap();
        privacy
            .put(app, owner, list("M", pair(1, f.other, app, Action::Deny, false)))
            .await
            .unwrap();
        privacy.set_default(app, owner, Some("L")).await.unwrap();
        assert_eq!(
            privacy.names(app, owner).await.unwrap().default.as_deref(),
            Some("L")
        );
        // Only one default at a time.
        privacy.set_default(app, owner, Some("M")).await.unwrap();
        let names = privacy.names(app, owner).await.unwrap();
        assert_eq!(names.default.as_deref(), Some("M"));
        assert_eq!(names.lists, vec!["L", "M"]);
        // An unknown name changes nothing.
        assert!(privacy.set_default(app, owner, Some("X")).await.is_err());
        assert_eq!(
            privacy.names(app, owner).await.unwrap().default.as_deref(),
            Some("M")
        );
        // Decline.
        privacy.set_default(app, owner, None).await.unwrap();
        assert_eq!(privacy.names(app, owner).await.unwrap().default, None);
        privacy.set_default(app, owner, None).await.unwrap();

        // Editing the default list keeps it the default, and the edit applies at once.
        privacy.set_default(app, owner, Some("L")).await.unwrap();
        assert!(privacy.blocks(app, owner, f.peer, Kind::Message).await.unwrap());
        privacy
            .put(app, owner, list("L", pair(1, f.other, app, Action::Deny, false)))
            .await
            .unwrap();
        assert_eq!(
            privacy.names(app, owner).await.unwrap().default.as_deref(),
            Some("L")
        );
        assert!(!privacy.blocks(app, owner, f.peer, Kind::Message).await.unwrap());
        assert!(privacy.blocks(app, owner, f.other, Kind::Message).await.unwrap());

        // Deleting the default list leaves no default (and nothing enforced).
        assert!(privacy.delete(app, owner, "L").await.unwrap());
        let names = privacy.names(app, owner).await.unwrap();
        assert_eq!(
            names,
            PrivacyNames {
                lists: vec!["M".into()],
                default: None
            }
        );
        assert!(!privacy.blocks(app, owner, f.other, Kind::Message).await.unwrap());
        // Each user has his own default.
        privacy
            .put(app, f.peer, list("L", pair(1, owner, app, Action::Deny, false)))
            .await
            .unwrap();
        privacy.set_default(app, f.peer, Some("L")).await.unwrap();
        assert_eq!(privacy.names(app, owner).await.unwrap().default, None);
        assert_eq!(
            privacy.names(app, f.peer).await.unwrap().default.as_deref(),
            Some("L")
        );
    })
    .await;
}

#[tokio::test]
async fn only_the_default_list_is_enforced_first_match_by_order() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner, peer, other) = (f.app, f.owner, f.peer, f.other);
        // One-way block of `peer`, two-way block of `other`: a list that is not the default does nothing.
        let mut items = pair(1, peer, app, Action::Deny, false);
        items.extend(pair(3, other, app, Action::Deny, true));
        privacy.put(app, owner, list("blocked", items)).await.unwrap();
        for kind in [Kind::Message, Kind::Iq, Kind::PresenceIn, Kind::MessageOut] {
            assert!(!privacy.blocks(app, owner, peer, kind).await.unwrap());
            assert!(!privacy.blocks(app, owner, other, kind).await.unwrap());
        }
        privacy.set_default(app, owner, Some("blocked")).await.unwrap();

        // One-way: everything from `peer` is blocked, the owner may still write to him.
        for kind in [Kind::Message, Kind::Iq, Kind::PresenceIn, Kind::PresenceOut] {
            assert!(privacy.blocks(app, owner, peer, kind).await.unwrap(), "{kind:?}");
        }
        assert!(!privacy.blocks(app, owner, peer, Kind::MessageOut).await.unwrap());
        assert!(!privacy.blocks(app, owner, peer, Kind::IqOut).await.unwrap());
        // Two-way: both directions.
        for kind in [Kind::Message, Kind::Iq, Kind::MessageOut, Kind::IqOut] {
            assert!(privacy.blocks(app, owner, other, kind).await.unwrap(), "{kind:?}");
        }
        // The list is the owner's: nothing applies the other way round, nor to himself.
        assert!(!privacy.blocks(app, peer, owner, Kind::Message).await.unwrap());
        assert!(!privacy.blocks(app, owner, owner, Kind::Message).await.unwrap());

        // Rooms: the muc items apply to the blocked users as occupants.
        assert!(privacy
            .blocks_in_rooms(app, owner, peer, Kind::Message)
            .await
            .unwrap());
        assert!(!privacy
            .blocks_in_rooms(app, owner, peer, Kind::MessageOut)
            .await
            .unwrap());
        assert!(privacy
            .blocks_in_rooms(app, owner, other, Kind::MessageOut)
            .await
            .unwrap());
        let third = user(&f.core, app, "third").await;
        assert!(!privacy
            .blocks_in_rooms(app, owner, third, Kind::Message)
            .await
            .unwrap());

        // An allow item before a deny item of the same user wins; after it, it does not.
        let mut items = pair(1, peer, app, Action::Allow, false);
        items.extend(pair(3, peer, app, Action::Deny, true));
        items.extend(pair(5, other, app, Action::Deny, false));
        items.extend(pair(7, other, app, Action::Allow, false));
        privacy.put(app, owner, list("blocked", items)).await.unwrap();
        assert!(!privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
        assert!(
            privacy.blocks(app, owner, peer, Kind::MessageOut).await.unwrap(),
            "an item with stanza kinds never applies outbound, so the two-way deny decides"
        );
        assert!(!privacy
            .blocks_in_rooms(app, owner, peer, Kind::Message)
            .await
            .unwrap());
        assert!(privacy.blocks(app, owner, other, Kind::Message).await.unwrap());

        // A muc item alone blocks in rooms, not in 1-1.
        privacy
            .put(
                app,
                owner,
                list(
                    "blocked",
                    vec![PrivacyItem::jid(1, &muc(peer), Action::Deny, Stanzas::ONE_WAY)],
                ),
            )
            .await
            .unwrap();
        assert!(!privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
        assert!(privacy
            .blocks_in_rooms(app, owner, peer, Kind::Message)
            .await
            .unwrap());

        // A JID item of another application's user names nobody here.
        privacy
            .put(
                app,
                owner,
                list(
                    "blocked",
                    vec![PrivacyItem::jid(
                        1,
                        &jid(peer, app + 1000),
                        Action::Deny,
                        Stanzas::EVERYTHING,
                    )],
                ),
            )
            .await
            .unwrap();
        assert!(!privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn group_messages_skip_blockers_and_two_way_blocked_users() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner, peer, other) = (f.app, f.owner, f.peer, f.other);
        let third = user(&f.core, app, "third").await;
        let everyone = vec![owner, peer, other, third];
        // Nobody has a default list: everyone gets everything.
        assert_eq!(
            privacy
                .room_recipients(app, peer, everyone.clone())
                .await
                .unwrap(),
            everyone
        );
        // The owner blocks `peer` one-way and `other` two-way.
        let mut items = pair(1, peer, app, Action::Deny, false);
        items.extend(pair(3, other, app, Action::Deny, true));
        privacy.put(app, owner, list("L", items)).await.unwrap();
        privacy.set_default(app, owner, Some("L")).await.unwrap();
        // The owner gets nothing from either; the sender always gets his own reflection.
        assert_eq!(
            privacy
                .room_recipients(app, peer, everyone.clone())
                .await
                .unwrap(),
            vec![peer, other, third]
        );
        assert_eq!(
            privacy
                .room_recipients(app, other, everyone.clone())
                .await
                .unwrap(),
            vec![peer, other, third]
        );
        // The owner's own messages reach `peer` (one-way) but not `other` (two-way).
        assert_eq!(
            privacy
                .room_recipients(app, owner, everyone.clone())
                .await
                .unwrap(),
            vec![owner, peer, third]
        );
        assert_eq!(
            privacy
                .room_recipients(app, third, everyone.clone())
                .await
                .unwrap(),
            everyone
        );
    })
    .await;
}

#[tokio::test]
async fn rules_are_cached_and_dropped_on_every_change() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner, peer) = (f.app, f.owner, f.peer);
        // "No default list" is cached too.
        assert!(!privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
        assert_eq!(f.core.privacy_rules.len(), 1);
        privacy
            .put(app, owner, list("L", pair(1, peer, app, Action::Deny, false)))
            .await
            .unwrap();
        assert_eq!(f.core.privacy_rules.len(), 0);
        privacy.set_default(app, owner, Some("L")).await.unwrap();
        assert!(privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
        // A second Core over the same store (another process, say) would load it too; this one now
        // answers from memory, even with the row gone behind its back.
        assert_eq!(f.core.privacy_rules.len(), 1);
        f.core.store.delete_privacy_list(app, owner, "L").await.unwrap();
        assert!(privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
        // Going through the service drops the entry.
        privacy.set_default(app, owner, None).await.unwrap();
        assert!(!privacy.blocks(app, owner, peer, Kind::Message).await.unwrap());
        // Many users load in one go.
        let many = privacy.rules_of_many(app, &[owner, peer, f.other]).await.unwrap();
        assert_eq!(many.len(), 3);
        assert!(many.values().all(|r| r.is_empty()));
    })
    .await;
}

#[tokio::test]
async fn lists_go_with_their_user() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        privacy
            .put(
                f.app,
                f.peer,
                list("L", pair(1, f.owner, f.app, Action::Deny, false)),
            )
            .await
            .unwrap();
        privacy.set_default(f.app, f.peer, Some("L")).await.unwrap();
        assert!(f.core.store.delete_user(f.app, f.peer).await.unwrap());
        assert_eq!(
            f.core.store.privacy_names(f.app, f.peer).await.unwrap(),
            PrivacyNames::default()
        );
        assert!(f
            .core
            .store
            .default_privacy_lists(f.app, &[f.peer])
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

/// Writes lists through one connection pool, closes it, and reads them through a new one.
async fn survives_reopen(url: &str) {
    let store = palaver_store::open(url).await.unwrap();
    let f = fixture(Arc::new(store.clone())).await;
    let privacy = f.core.privacy();
    let mut items = pair(1, f.peer, f.app, Action::Deny, true);
    items.extend(pair(3, f.other, f.app, Action::Allow, false));
    privacy
        .put(f.app, f.owner, list("kept", items.clone()))
        .await
        .unwrap();
    privacy
        .put(
            f.app,
            f.owner,
            list("spare", pair(1, f.other, f.app, Action::Deny, false)),
        )
        .await
        .unwrap();
    privacy.set_default(f.app, f.owner, Some("kept")).await.unwrap();
    store.close().await;

    let reopened = palaver_store::open(url).await.unwrap();
    let core = Core::new(Arc::new(reopened.clone()), CoreSettings::default());
    let privacy = core.privacy();
    assert_eq!(
        privacy.names(f.app, f.owner).await.unwrap(),
        PrivacyNames {
            lists: vec!["kept".into(), "spare".into()],
            default: Some("kept".into())
        }
    );
    assert_eq!(
        privacy.list(f.app, f.owner, "kept").await.unwrap(),
        Some(list("kept", items))
    );
    assert!(privacy
        .blocks(f.app, f.owner, f.peer, Kind::MessageOut)
        .await
        .unwrap());
    assert!(!privacy
        .blocks(f.app, f.owner, f.other, Kind::Message)
        .await
        .unwrap());
    reopened.close().await;
}

#[tokio::test]
async fn lists_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    survives_reopen(&palaver_store::sqlite_url(dir.path())).await;

    let (url, schema) = fresh_postgres_schema()
        .await
        .expect("PostgreSQL at PALAVER_TEST_POSTGRES_URL");
    survives_reopen(&url).await;
    drop_postgres_schema(&schema).await.unwrap();
}

/// The message pipeline checks privacy lists before anything is stored, for REST as for XMPP: a refused
/// message leaves no history row and moves no unread counter, in either direction.
#[tokio::test]
async fn refused_messages_are_never_stored() {
    with_both(|f| async move {
        let privacy = f.core.privacy();
        let (app, owner, peer) = (f.app, f.owner, f.peer);
        privacy
            .put(app, owner, list("block", pair(1, peer, app, Action::Deny, false)))
            .await
            .unwrap();
        privacy.set_default(app, owner, Some("block")).await.unwrap();
        let send = |sender: i64, recipient: i64, body: &str| palaver_core::history::NewMessage {
            app_id: app,
            sender_id: sender,
            dialog_id: None,
            recipient_id: Some(recipient),
            body: Some(body.into()),
            attachments: serde_json::json!([]),
            custom: Default::default(),
            date_sent: None,
        };
        // The owner blocks the peer's messages one way: the peer's message is refused...
        let refused = f.core.history().create(send(peer, owner, "let me in")).await;
        assert!(
            matches!(refused, Err(CoreError::Forbidden(Denial::BlockedByRecipient))),
            "{refused:?}"
        );
        // ...while the owner still writes to the peer, in the pair's one private dialog.
        let (sent, dialog) = f.core.history().create(send(owner, peer, "hello")).await.unwrap();
        assert_eq!(sent.message.body.as_deref(), Some("hello"));
        let (unread_owner, _) = f.core.history().unread(app, owner, None).await.unwrap();
        let (unread_peer, _) = f.core.history().unread(app, peer, None).await.unwrap();
        assert_eq!((unread_owner, unread_peer), (0, 1));
        let stored = f
            .core
            .store
            .history(&palaver_core::history::HistoryQuery {
                app_id: app,
                dialog_id: dialog.id.clone(),
                viewer_id: owner,
                conditions: Vec::new(),
                sort: (palaver_core::history::MessageField::DateSent, true),
                limit: 100,
                skip: 0,
            })
            .await
            .unwrap();
        let bodies: Vec<_> = stored.iter().map(|m| m.message.body.clone().unwrap()).collect();
        assert_eq!(bodies, ["hello"]);

        // Two-way: the owner cannot write to someone he blocks that way either.
        privacy
            .put(app, owner, list("block", pair(1, peer, app, Action::Deny, true)))
            .await
            .unwrap();
        let refused = f.core.history().create(send(owner, peer, "still?")).await;
        assert!(
            matches!(refused, Err(CoreError::Forbidden(Denial::BlockedBySender))),
            "{refused:?}"
        );
        let (_, unread_peer) = (0, f.core.history().unread(app, peer, None).await.unwrap().0);
        assert_eq!(unread_peer, 1);
    })
    .await
}
