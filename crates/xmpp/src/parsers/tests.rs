//! Round trips of every typed stanza: parse → serialize → parse gives the same value, over the stanzas
//! the SDK suite really sent (the stream parser's fuzz seeds, captured from it) and hand-written fixtures
//! for what the SDKs never send but the server writes.

use super::*;
use crate::stream::parser::{Framing, StreamParser};
use crate::stream::Inbound;
use crate::xml::Element;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every element of the SDK traffic: the top-level ones and, one and two levels down, their payloads.
pub(crate) fn corpus() -> Vec<Element> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/stream_parser");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fuzz seeds")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let data = std::fs::read(&file).expect("a seed");
        let Some((&control, input)) = data.split_first() else {
            continue;
        };
        let framing = if control & 1 == 0 {
            Framing::Stream
        } else {
            Framing::Fragments
        };
        let mut parser = StreamParser::new(framing, 1 << 20);
        parser.feed(input);
        while let Ok(Some(event)) = parser.next() {
            if let Inbound::Stanza(element) = event {
                for child in element.children() {
                    out.extend(child.children().cloned());
                    out.push(child.clone());
                }
                out.push(element);
            }
        }
    }
    assert!(out.len() > 100, "the SDK corpus is there");
    out
}

/// Parses, serializes and parses again; the two values and the two elements must be equal. True when
/// the parser took the element.
fn round_trip<T>(element: &Element) -> bool
where
    T: TryFrom<Element> + std::fmt::Debug + Clone + PartialEq,
    Element: From<T>,
{
    let Ok(first) = T::try_from(element.clone()) else {
        return false;
    };
    let written = Element::from(first.clone());
    let Ok(second) = T::try_from(written.clone()) else {
        panic!(
            "{} does not read back what it wrote: {written:?}",
            std::any::type_name::<T>()
        );
    };
    assert_eq!(first, second, "{}", std::any::type_name::<T>());
    assert_eq!(written, Element::from(second));
    true
}

/// For xmpp-parsers' types without `PartialEq`: the elements must be equal.
fn round_trip_element<T>(element: &Element) -> bool
where
    T: TryFrom<Element>,
    Element: From<T>,
{
    let Ok(first) = T::try_from(element.clone()) else {
        return false;
    };
    let written = Element::from(first);
    let again = T::try_from(written.clone())
        .unwrap_or_else(|_| panic!("{} does not read back", std::any::type_name::<T>()));
    assert_eq!(written, Element::from(again));
    true
}

type Check = fn(&Element) -> bool;

fn checks() -> Vec<(&'static str, Check)> {
    vec![
        ("message", round_trip::<Message>),
        ("presence", round_trip::<Presence>),
        ("iq", round_trip::<Iq>),
        ("extraParams", round_trip::<extra_params::ExtraParams>),
        ("error", round_trip::<error::ErrorElement>),
        ("privacy", round_trip::<privacy::Query>),
        ("blocking", round_trip::<blocking::Blocking>),
        ("last", round_trip::<last::LastQuery>),
        ("status streaming", round_trip::<status_streaming::Subscribe>),
        ("mobile", round_trip::<mobile::Mobile>),
        ("muc join", round_trip::<muc::Muc>),
        ("muc#user", round_trip::<muc::MucUser>),
        ("roster", round_trip::<roster::Roster>),
        ("disco#info query", round_trip::<disco::DiscoInfoQuery>),
        ("disco#info result", round_trip_element::<disco::DiscoInfoResult>),
        ("disco#items query", round_trip::<disco::DiscoItemsQuery>),
        ("disco#items result", round_trip::<disco::DiscoItemsResult>),
        ("ping", round_trip::<ping::Ping>),
        ("carbons enable", round_trip::<carbons::Enable>),
        ("carbons disable", round_trip::<carbons::Disable>),
        ("carbons private", round_trip::<carbons::Private>),
        ("sent carbon", round_trip::<carbons::Sent>),
        ("csi active", round_trip::<csi::Active>),
        ("csi inactive", round_trip::<csi::Inactive>),
        ("sm a", round_trip::<sm::A>),
        ("sm r", round_trip::<sm::R>),
        ("sm enable", round_trip::<sm::Enable>),
        ("version", round_trip::<version::VersionQuery>),
        ("delay", round_trip::<delay::Delay>),
        ("markable", round_trip::<markers::Markable>),
        ("marker", round_trip::<markers::Marker>),
        ("replace", round_trip::<correction::Replace>),
        ("remove", round_trip::<correction::Remove>),
        ("reactions", round_trip::<reactions::Reactions>),
        ("starttls", round_trip::<starttls::Request>),
        ("starttls proceed", round_trip::<starttls::Proceed>),
        ("starttls failure", round_trip::<starttls::Failure>),
        ("starttls feature", round_trip::<starttls::StartTls>),
        ("sasl auth", round_trip::<sasl::Auth>),
        ("sasl challenge", round_trip::<sasl::Challenge>),
        ("sasl response", round_trip::<sasl::Response>),
        ("sasl abort", round_trip::<sasl::Abort>),
        ("sasl success", round_trip::<sasl::Success>),
        ("sasl failure", round_trip::<sasl::Failure>),
        ("sasl2 authenticate", round_trip::<sasl2::Authenticate>),
        ("sasl2 success", round_trip::<sasl2::Success>),
        ("bind", round_trip::<bind::BindQuery>),
        ("bind result", round_trip::<bind::BindResponse>),
        ("bind feature", round_trip::<bind::BindFeature>),
        ("session", round_trip::<bind::Session>),
        ("bind2", round_trip::<bind2::BindQuery>),
        ("bind2 bound", round_trip::<bind2::Bound>),
        ("bind2 feature", round_trip::<bind2::BindFeature>),
    ]
}

/// What the server writes but the SDKs never send, in the shapes the server writes them.
const WRITTEN: &[&str] = &[
    r#"<error xmlns="jabber:client" code="404" type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">No such user</text></error>"#,
    r#"<query xmlns="jabber:iq:privacy"><active name="a"/><default name="d"/><list name="a"/><list name="d"/></query>"#,
    r#"<query xmlns="jabber:iq:privacy"><list name="public"><item type="jid" value="7-1@localhost" action="deny" order="1"><message/><presence-in/></item><item action="allow" order="2"/></list></query>"#,
    r#"<blocklist xmlns="urn:xmpp:blocking"><item jid="7-1@localhost"/></blocklist>"#,
    r#"<block xmlns="urn:xmpp:blocking"><item jid="7-1@localhost"/><item jid="8-1@localhost"/></block>"#,
    r#"<unblock xmlns="urn:xmpp:blocking"/>"#,
    r#"<query xmlns="jabber:iq:last" seconds="42"/>"#,
    r#"<x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/><xmlns><code>110</code></xmlns></x>"#,
    r#"<x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="none"><actor jid="5-1@localhost"/></item><status code="301"/><xmlns><code>301</code></xmlns></x>"#,
    r#"<query xmlns="jabber:iq:roster"><item jid="7-1@localhost" subscription="both" name="Bob"/><item jid="8-1@localhost" subscription="none" ask="subscribe"/></query>"#,
    r#"<query xmlns="http://jabber.org/protocol/disco#info"><identity category="server" type="im" name="Palaver"/><feature var="urn:xmpp:ping"/><feature var="jabber:iq:last"/></query>"#,
    r#"<query xmlns="http://jabber.org/protocol/disco#items"><item jid="1_abc@muc.localhost/7" name="7"/></query>"#,
    r#"<disable xmlns="urn:xmpp:carbons:2"/>"#,
    r#"<private xmlns="urn:xmpp:carbons:2"/>"#,
    r#"<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" type="chat" to="6-1@localhost" id="m1"><body>hi</body></message></forwarded></sent>"#,
    r#"<active xmlns="urn:xmpp:csi:0"/>"#,
    r#"<inactive xmlns="urn:xmpp:csi:0"/>"#,
    r#"<query xmlns="jabber:iq:version"/>"#,
    r#"<delay xmlns="urn:xmpp:delay" from="localhost" stamp="2026-12-04T20:00:00.000Z"/>"#,
    r#"<replace xmlns="urn:xmpp:message-correct:0" id="m1" last="true"/>"#,
    r#"<proceed xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>"#,
    r#"<failure xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>"#,
    r#"<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/></starttls>"#,
    r#"<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl">cj1hYmMscz1kZWYsaT00MDk2</challenge>"#,
    r#"<challenge xmlns="urn:xmpp:sasl:2">cj1hYmMscz1kZWYsaT00MDk2</challenge>"#,
    r#"<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">Yz1iaXdzLHI9YWJj</response>"#,
    r#"<abort xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>"#,
    r#"<abort xmlns="urn:xmpp:sasl:2"/>"#,
    r#"<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>"#,
    r#"<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl">dj1hYmM=</success>"#,
    r#"<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/><text>Wrong user name or password</text></failure>"#,
    r#"<failure xmlns="urn:xmpp:sasl:2"><invalid-mechanism xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/><text>Unsupported mechanism</text></failure>"#,
    r#"<success xmlns="urn:xmpp:sasl:2"><additional-data>dj1hYmM=</additional-data><authorization-identifier>5-1@localhost/palaver-0123456789abcdef01234567</authorization-identifier><bound xmlns="urn:xmpp:bind:0"><enabled xmlns="urn:xmpp:sm:3" id="abc" resume="true" max="300"/></bound></success>"#,
    r#"<success xmlns="urn:xmpp:sasl:2"><authorization-identifier>5-1@localhost</authorization-identifier></success>"#,
    r#"<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>5-1@localhost/palaver-0123456789abcdef01234567</jid></bind>"#,
    r#"<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/>"#,
    r#"<bound xmlns="urn:xmpp:bind:0"><enabled xmlns="urn:xmpp:sm:3" id="abc" resume="true" max="300"/></bound>"#,
    r#"<bind xmlns="urn:xmpp:bind:0"><inline><feature var="urn:xmpp:sm:3"/><feature var="urn:xmpp:carbons:2"/></inline></bind>"#,
    r#"<bind xmlns="urn:xmpp:bind:0"><tag>palaver-test</tag><enable xmlns="urn:xmpp:sm:3" resume="true"/><enable xmlns="urn:xmpp:carbons:2"/></bind>"#,
    r#"<reactions xmlns="jabber:client" user_id="5" message_id="m1"><reaction add="true" type="👍"/><reaction remove="true" type="❤"/></reactions>"#,
];

#[test]
fn every_typed_stanza_round_trips_on_sdk_traffic_and_written_shapes() {
    let mut fixtures = corpus();
    fixtures.extend(
        WRITTEN
            .iter()
            .map(|text| text.parse::<Element>().expect("a fixture")),
    );
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    for element in &fixtures {
        for (name, check) in checks() {
            if check(element) {
                *taken.entry(name).or_default() += 1;
            }
        }
    }
    let untested: Vec<&str> = checks()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !taken.contains_key(name))
        .collect();
    assert!(
        untested.is_empty(),
        "no fixture for {untested:?} (taken: {taken:?})"
    );
}

/// The SDKs' stanzas are read as they are: no element of their traffic is refused by the type of its kind.
#[test]
fn the_sdks_stanzas_all_parse() {
    use crate::ns;
    for element in corpus() {
        let ok = match (element.name(), element.ns().as_str()) {
            ("message", ns::CLIENT) => Message::try_from(element.clone()).is_ok(),
            ("presence", ns::CLIENT) => Presence::try_from(element.clone()).is_ok(),
            ("iq", ns::CLIENT) => Iq::try_from(element.clone()).is_ok(),
            ("query", ns::ROSTER) => roster::Roster::try_from(element.clone()).is_ok(),
            ("query", ns::PRIVACY) => privacy::Query::try_from(element.clone()).is_ok(),
            ("query", ns::LAST) => last::LastQuery::try_from(element.clone()).is_ok(),
            ("query", ns::DISCO_ITEMS) => disco::DiscoItemsQuery::try_from(element.clone()).is_ok(),
            ("subscribe", ns::STATUS_STREAMING) => {
                status_streaming::Subscribe::try_from(element.clone()).is_ok()
            }
            ("mobile", ns::MOBILE) => mobile::Mobile::try_from(element.clone()).is_ok(),
            ("x", ns::MUC) => muc::Muc::try_from(element.clone()).is_ok(),
            ("ping", ns::PING) => ping::Ping::try_from(element.clone()).is_ok(),
            ("enable", ns::CARBONS) => carbons::Enable::try_from(element.clone()).is_ok(),
            ("a", ns::SM) => sm::A::try_from(element.clone()).is_ok(),
            ("r", ns::SM) => sm::R::try_from(element.clone()).is_ok(),
            ("enable", ns::SM) => sm::Enable::try_from(element.clone()).is_ok(),
            ("starttls", ns::TLS) => starttls::Request::try_from(element.clone()).is_ok(),
            ("auth", ns::SASL) => sasl::Auth::try_from(element.clone()).is_ok(),
            ("response", ns::SASL | ns::SASL2) => sasl::Response::try_from(element.clone()).is_ok(),
            ("abort", ns::SASL | ns::SASL2) => sasl::Abort::try_from(element.clone()).is_ok(),
            ("authenticate", ns::SASL2) => sasl2::Authenticate::try_from(element.clone()).is_ok(),
            ("bind", ns::BIND) => bind::BindQuery::try_from(element.clone()).is_ok(),
            ("bind", ns::BIND2) => bind2::BindQuery::try_from(element.clone()).is_ok(),
            ("session", ns::SESSION) => bind::Session::try_from(element.clone()).is_ok(),
            ("extraParams", _) => extra_params::ExtraParams::try_from(element.clone()).is_ok(),
            _ => true,
        };
        assert!(ok, "refused: {}", crate::xml::to_string(&element));
    }
}

/// A stanza read and written again is the same element: head, attributes and every payload, in order.
#[test]
fn stanzas_pass_through_unchanged() {
    for element in corpus() {
        let again = match element.name() {
            "message" => Message::try_from(element.clone()).map(Element::from),
            "presence" => Presence::try_from(element.clone()).map(Element::from),
            "iq" => Iq::try_from(element.clone()).map(Element::from),
            _ => continue,
        };
        if let Ok(again) = again {
            assert_eq!(crate::xml::to_string(&again), crate::xml::to_string(&element));
        }
    }
}

/// Why SASL and SASL2 are written here (`sasl.rs`, `sasl2.rs`): xmpp-parsers refuses, as parse errors,
/// elements the server must read and answer with a SASL failure; and the SDK's SASL2 response is read.
#[test]
fn xmpp_parsers_sasl_refuses_what_the_server_must_answer() {
    let parse = |text: &str| text.parse::<Element>().expect("a fixture");
    let unknown_mechanism =
        parse(r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="X-UNKNOWN">AGEAYg==</auth>"#);
    assert!(xmpp_parsers::sasl::Auth::try_from(unknown_mechanism.clone()).is_err());
    assert_eq!(
        sasl::Auth::try_from(unknown_mechanism)
            .unwrap()
            .mechanism
            .as_deref(),
        Some("X-UNKNOWN")
    );
    let not_base64 =
        parse(r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">not base64!</auth>"#);
    assert!(xmpp_parsers::sasl::Auth::try_from(not_base64.clone()).is_err());
    assert_eq!(sasl::Auth::try_from(not_base64).unwrap().payload, "not base64!");
    let sdk_response =
        parse(r#"<response xmlns="urn:xmpp:sasl:2" mechanism="SCRAM-SHA-1">Yz1iaXdz</response>"#);
    assert_eq!(
        sasl::Response::try_from(sdk_response).unwrap().0.payload,
        "Yz1iaXdz"
    );
}
