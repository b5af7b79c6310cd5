//! Iqs the server answers itself (ping, carbons, session, CSI as Tigase's mobile, disco, version), iqs to
//! a user's bare JID answered on the account's behalf, and iqs to a full JID routed to that session.

use crate::context::Context;
use crate::ns;
use crate::parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity};
use crate::parsers::mobile::Mobile;
use crate::parsers::version::VersionResult;
use crate::parsers::{Iq, IqType};
use crate::policy;
use crate::router;
use crate::stanza::{self, Condition};
use palaver_proto::UserJid;

/// Features listed in disco#info.
const FEATURES: [&str; 14] = [
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::CARBONS,
    ns::SM,
    ns::VERSION,
    ns::CHAT_MARKERS,
    ns::DELAY,
    ns::ROSTER,
    ns::CSI,
    ns::MUC,
    ns::PRIVACY,
    ns::BLOCKING,
    ns::LAST,
];

/// An iq without an id or with an unknown type.
pub async fn malformed(mut ctx: Context<'_>, iq: Iq) {
    let reply = stanza::refuse(&iq, Condition::BadRequest, "An iq needs an id and a type");
    ctx.reply(reply).await
}

/// A request nobody here answers.
pub async fn unsupported(mut ctx: Context<'_>, iq: Iq) {
    let reply = stanza::refuse(
        &iq,
        Condition::ServiceUnavailable,
        "This request is not supported",
    );
    ctx.reply(reply).await
}

/// A request to an address nothing here serves.
pub async fn no_such_service(mut ctx: Context<'_>, iq: Iq) {
    let reply = stanza::refuse(&iq, Condition::ServiceUnavailable, "No such service");
    ctx.reply(reply).await
}

/// A request to the server without a payload.
pub async fn empty(mut ctx: Context<'_>, iq: Iq) {
    let reply = stanza::refuse(&iq, Condition::BadRequest, "Empty iq");
    ctx.reply(reply).await
}

/// Answered with an empty result: XEP-0199 ping, RFC 3921 session.
pub async fn ack(mut ctx: Context<'_>, iq: Iq) {
    ctx.reply(iq.result(None)).await
}

/// XEP-0280 `<enable/>` and `<disable/>`.
pub async fn carbons(mut ctx: Context<'_>, iq: Iq) {
    let enable = iq.payload().is_some_and(|p| p.name() == "enable");
    ctx.sender.handle.set_carbons(enable);
    ctx.reply(iq.result(None)).await
}

/// ConnectyCube's markInactive() sends enable="true" and markActive() enable="false"
/// (docs/protocol.md#quirk-mobile-enable-inverted).
pub async fn mobile(mut ctx: Context<'_>, iq: Iq) {
    let mobile = iq.payload().cloned().and_then(|p| Mobile::try_from(p).ok());
    ctx.sender.handle.set_inactive(mobile.is_some_and(|m| m.enable));
    ctx.reply(iq.result(None)).await
}

pub async fn disco_info(mut ctx: Context<'_>, iq: Iq) {
    let info = DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "server".into(),
            type_: "im".into(),
            lang: None,
            name: Some("Palaver".into()),
        }],
        features: FEATURES.iter().map(|f| f.to_string()).collect(),
        extensions: Vec::new(),
    };
    ctx.reply(iq.result(Some(info.into()))).await
}

pub async fn disco_items(mut ctx: Context<'_>, iq: Iq) {
    let items = DiscoItemsResult {
        node: None,
        items: Vec::new(),
        rsm: None,
    };
    ctx.reply(iq.result(Some(items.into()))).await
}

pub async fn version(mut ctx: Context<'_>, iq: Iq) {
    let version = VersionResult {
        name: "Palaver".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        os: None,
    };
    ctx.reply(iq.result(Some(version.into()))).await
}

/// A second resource binding after the session is bound.
pub async fn bind(mut ctx: Context<'_>, iq: Iq) {
    let reply = stanza::refuse(&iq, Condition::NotAllowed, "A resource is already bound");
    ctx.reply(reply).await
}

/// An iq to one session of a user of the app: routed there, unless privacy lists forbid.
pub async fn to_session(mut ctx: Context<'_>, iq: Iq, user: UserJid, resource: String) {
    if policy::iq_refused(&mut ctx, &iq, user).await {
        return;
    }
    let is_request = iq.is_request();
    let delivered = router::deliver_to_resource(ctx.shared, user, &resource, &iq.clone().into());
    if !delivered && is_request {
        let reply = stanza::refuse(&iq, Condition::ServiceUnavailable, "That session is not online");
        ctx.reply(reply).await
    }
}

/// Iqs to a user's bare JID are answered by the server for the account (RFC 6121 §8.5.1): a ping
/// succeeds when the account exists.
pub async fn account(mut ctx: Context<'_>, iq: Iq, user: UserJid) {
    let exists = ctx
        .shared
        .core
        .users()
        .get(user.app_id, user.user_id)
        .await
        .is_ok();
    let is_ping = iq.is_type(&IqType::Get) && iq.payload().is_some_and(|p| p.is("ping", ns::PING));
    let reply = match (exists, is_ping) {
        (false, _) => stanza::refuse(&iq, Condition::ServiceUnavailable, "No such user"),
        (true, true) => iq.result(None).into(),
        (true, false) => stanza::refuse(
            &iq,
            Condition::ServiceUnavailable,
            "This request is not supported",
        ),
    };
    ctx.reply(reply).await
}
