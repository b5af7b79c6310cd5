use super::*;
use crate::xml;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' xml:lang='en'>";

fn drain(parser: &mut StreamParser) -> Result<Vec<Inbound>, TransportError> {
    let mut out = Vec::new();
    while let Some(item) = parser.next()? {
        out.push(item);
    }
    Ok(out)
}

fn parse_all(framing: Framing, chunks: &[&[u8]]) -> Result<Vec<Inbound>, TransportError> {
    let mut parser = StreamParser::new(framing, DEFAULT_MAX);
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        out.extend(drain(&mut parser)?);
    }
    Ok(out)
}

const DEFAULT_MAX: usize = 10_000;

/// Compact serialization of each stanza; `open`/`close` markers for the others.
fn render(items: &[Inbound]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Inbound::Open(h) => format!(
                "open to={:?} from={:?} version={:?} lang={:?}",
                h.to, h.from, h.version, h.lang
            ),
            Inbound::Stanza(el) => xml::to_string(el),
            Inbound::Close => "close".to_string(),
        })
        .collect()
}

fn tcp_session() -> String {
    format!(
        "{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>\n  \
         <message to='1-2@localhost' type='chat' id='m1'><body>h&lt;i &#x263A; <![CDATA[<raw>]]></body>\
         <x:foo xmlns:x='urn:x' x:attr='v'><x:bar/><baz/></x:foo></message>\r\n\t\
         <iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq> \
         </stream:stream>"
    )
}

#[test]
fn tcp_stream_yields_header_stanzas_and_close() {
    let items = parse_all(Framing::Stream, &[tcp_session().as_bytes()]).unwrap();
    assert_eq!(
        render(&items),
        vec![
            "open to=Some(\"localhost\") from=None version=Some(\"1.0\") lang=Some(\"en\")".to_string(),
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>"
                .to_string(),
            "<message xmlns='jabber:client' id='m1' to='1-2@localhost' type='chat'><body>h&lt;i \u{263A} \
             &lt;raw&gt;</body><foo xmlns='urn:x' xmlns:tns0='urn:x' tns0:attr='v'><bar/><baz \
             xmlns='jabber:client'/></foo></message>"
                .to_string(),
            "<iq xmlns='jabber:client' id='b' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>r</resource></bind></iq>"
                .to_string(),
            "close".to_string(),
        ]
    );
    // TCP clients send no xmlns on stanzas: the stream default applies, nested namespaces are kept.
    let Inbound::Stanza(message) = &items[2] else {
        panic!()
    };
    assert_eq!(message.ns(), ns::CLIENT);
    let foo = message
        .get_child("foo", "urn:x")
        .expect("prefixed child keeps its namespace");
    assert_eq!(foo.attr_ns("urn:x", "attr"), Some("v"));
    assert!(foo.has_child("bar", "urn:x"));
    assert!(foo.has_child("baz", ns::CLIENT));
    let Inbound::Stanza(iq) = &items[3] else { panic!() };
    let bind = iq.get_child("bind", ns::BIND).unwrap();
    assert_eq!(bind.get_child("resource", ns::BIND).unwrap().text(), "r");
}

#[test]
fn tcp_split_at_every_byte_boundary() {
    let input = tcp_session();
    let bytes = input.as_bytes();
    let whole = render(&parse_all(Framing::Stream, &[bytes]).unwrap());
    for split in 0..=bytes.len() {
        let items = parse_all(Framing::Stream, &[&bytes[..split], &bytes[split..]]).unwrap();
        assert_eq!(render(&items), whole, "split at {split}");
    }
    let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(render(&parse_all(Framing::Stream, &one_by_one).unwrap()), whole);
}

/// A WebSocket session's frames, RFC 7395: open, a stanza, a stream-management nonza, close.
const FRAGMENTS: &str = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>\
                         <message xmlns='jabber:client' to='a@b'><body>x &amp; y</body></message>\
                         <r xmlns='urn:xmpp:sm:3'/><close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";

#[test]
fn fragments_split_at_every_byte_boundary() {
    let bytes = FRAGMENTS.as_bytes();
    let whole = render(&parse_all(Framing::Fragments, &[bytes]).unwrap());
    assert_eq!(whole.len(), 4, "{whole:?}");
    for split in 0..=bytes.len() {
        let items = parse_all(Framing::Fragments, &[&bytes[..split], &bytes[split..]]).unwrap();
        assert_eq!(render(&items), whole, "split at {split}");
    }
}

#[test]
fn whitespace_between_stanzas_is_ignored_and_not_counted() {
    let mut parser = StreamParser::new(Framing::Stream, 100);
    parser.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
    // RFC 6120 whitespace keep-alives, far more than the limit in total.
    for _ in 0..500 {
        parser.feed(b" \n\t\r ");
        assert_eq!(parser.next().unwrap(), None);
    }
    parser.feed(b"\n<presence/>\n\n<presence type='unavailable'/>  ");
    assert_eq!(
        render(&drain(&mut parser).unwrap()),
        vec![
            "<presence xmlns='jabber:client'/>",
            "<presence xmlns='jabber:client' type='unavailable'/>"
        ]
    );
}

#[test]
fn character_data_at_stream_level_is_refused() {
    let err = parse_all(Framing::Stream, &[format!("{HEADER}hello<presence/>").as_bytes()]).unwrap_err();
    assert!(matches!(err, TransportError::NotWellFormed(_)), "{err:?}");
    assert_eq!(err.stream_condition(), Some("not-well-formed"));
}

#[test]
fn size_limit_is_exact_and_per_element() {
    let stanza = format!(
        "<message to='a@b'><body>{}</body></message>",
        "0123456789".repeat(10)
    );
    let open = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    assert!(open.len() <= stanza.len());
    let mut parser = StreamParser::new(Framing::Stream, stanza.len());
    parser.feed(open.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
    // Many stanzas of exactly the limit pass: the count restarts with each element.
    for _ in 0..10 {
        parser.feed(stanza.as_bytes());
        assert!(matches!(parser.next(), Ok(Some(Inbound::Stanza(_)))));
    }
    parser.feed(
        format!(
            "<message to='a@b'><body>{}X</body></message>",
            "0123456789".repeat(10)
        )
        .as_bytes(),
    );
    assert!(matches!(parser.next(), Err(TransportError::PolicyViolation)));
    // The parser stays failed.
    assert!(parser.next().is_err());
}

#[test]
fn oversized_stanza_fails_before_it_is_buffered() {
    let mut parser = StreamParser::new(Framing::Stream, DEFAULT_MAX);
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
    parser.feed(b"<message><body>");
    assert_eq!(parser.next().unwrap(), None);
    let chunk = [b'a'; 1024];
    let mut fed = 0;
    let err = loop {
        parser.feed(&chunk);
        fed += chunk.len();
        match parser.next() {
            Ok(None) => assert!(fed < 20 * DEFAULT_MAX, "never refused"),
            Ok(Some(item)) => panic!("unexpected {item:?}"),
            Err(err) => break err,
        }
    };
    assert!(matches!(err, TransportError::PolicyViolation));
    assert!(fed <= DEFAULT_MAX + chunk.len(), "refused only after {fed} bytes");
    assert_eq!(err.stream_condition(), Some("policy-violation"));
}

#[test]
fn stream_header_is_bounded_too() {
    let header = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{}'>",
        "x".repeat(200)
    );
    let mut parser = StreamParser::new(Framing::Stream, 100);
    parser.feed(header.as_bytes());
    assert!(matches!(parser.next(), Err(TransportError::PolicyViolation)));
    // Endless attributes in a stanza header are cut off as well.
    let mut parser = StreamParser::new(Framing::Fragments, 1000);
    parser.feed(b"<message");
    let mut result = Ok(None);
    for i in 0..1000 {
        parser.feed(format!(" a{i}='v'").as_bytes());
        result = parser.next();
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(TransportError::PolicyViolation)),
        "{result:?}"
    );
}

#[test]
fn excessive_nesting_is_refused() {
    let deep = format!("<message>{}", "<a>".repeat(100));
    let err = parse_all(Framing::Fragments, &[deep.as_bytes()]).unwrap_err();
    assert!(matches!(err, TransportError::TooDeep(MAX_DEPTH)), "{err:?}");
    // The stream error names the real problem, not the size.
    assert_eq!(err.stream_condition(), Some("policy-violation"));
    assert!(err.to_string().contains("nested too deeply"), "{err}");
    // Over TCP the same, and a tree exactly at the limit passes (the stanza itself is level one).
    let tcp = format!("{HEADER}<message>{}", "<a>".repeat(MAX_DEPTH));
    let err = parse_all(Framing::Stream, &[tcp.as_bytes()]).unwrap_err();
    assert!(matches!(err, TransportError::TooDeep(_)), "{err:?}");
    let limit = MAX_DEPTH - 1;
    let at_limit = format!(
        "<message>{}{}</message>",
        "<a>".repeat(limit),
        "</a>".repeat(limit)
    );
    assert_eq!(
        parse_all(Framing::Fragments, &[at_limit.as_bytes()])
            .unwrap()
            .len(),
        1
    );
    let ok = format!("<message>{}{}</message>", "<a>".repeat(20), "</a>".repeat(20));
    assert_eq!(parse_all(Framing::Fragments, &[ok.as_bytes()]).unwrap().len(), 1);
}

#[test]
fn restricted_xml_is_refused() {
    let cases = [
        // DTD with an entity declaration (billion laughs starts like this).
        "<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol 'lol'>]><stream:stream>".to_string(),
        format!("{HEADER}<!-- comment --><presence/>"),
        format!("{HEADER}<message><!-- comment --></message>"),
        format!("{HEADER}<?php echo 1; ?><presence/>"),
        format!("{HEADER}<message><body>&lol;</body></message>"),
        format!("{HEADER}<message to='&ext;'/>"),
    ];
    for case in cases {
        let err = parse_all(Framing::Stream, &[case.as_bytes()]).unwrap_err();
        assert!(
            matches!(
                err,
                TransportError::RestrictedXml(_) | TransportError::NotWellFormed(_)
            ),
            "{case}: {err:?}"
        );
        assert!(err.stream_condition().is_some());
    }
    // Comments, PIs and entities are refused as restricted XML specifically.
    for case in [
        format!("{HEADER}<!-- c -->"),
        format!("{HEADER}<?pi x?>"),
        format!("{HEADER}<a>&x;</a>"),
        "<!DOCTYPE stream>".to_string(),
    ] {
        let err = parse_all(Framing::Stream, &[case.as_bytes()]).unwrap_err();
        assert_eq!(err.stream_condition(), Some("restricted-xml"), "{case}: {err:?}");
    }
}

#[test]
fn malformed_xml_is_not_well_formed() {
    for case in [
        format!("{HEADER}<message></iq>"),
        format!("{HEADER}<message a='1' a='2'/>"),
        format!("{HEADER}<x:message/>"),
        format!("{HEADER}<message>\u{1}</message>"),
    ] {
        let err = parse_all(Framing::Stream, &[case.as_bytes()]).unwrap_err();
        assert_eq!(err.stream_condition(), Some("not-well-formed"), "{case}: {err:?}");
    }
    let err = parse_all(
        Framing::Stream,
        &[&b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>\xff<presence/>"[..]],
    )
    .unwrap_err();
    assert_eq!(err.stream_condition(), Some("not-well-formed"));
}

#[test]
fn wrong_stream_namespace_is_invalid_namespace() {
    for header in [
        "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>",
        "<stream xmlns='jabber:client'>",
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>",
    ] {
        let err = parse_all(Framing::Stream, &[header.as_bytes()]).unwrap_err();
        assert!(
            matches!(err, TransportError::InvalidNamespace(_)),
            "{header}: {err:?}"
        );
        assert_eq!(err.stream_condition(), Some("invalid-namespace"));
    }
    // An RFC 6120 header sent over WebSocket.
    let err = parse_all(Framing::Fragments, &[HEADER.as_bytes()]).unwrap_err();
    assert!(matches!(err, TransportError::InvalidNamespace(_)), "{err:?}");
}

#[test]
fn restart_expects_a_new_header_and_keeps_pipelined_input() {
    let mut parser = StreamParser::new(Framing::Stream, DEFAULT_MAX);
    parser.feed(format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</auth>").as_bytes());
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
    // The client pipelines its new header right behind the element that ends the old stream.
    parser.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='b'>",
    );
    assert!(matches!(parser.next(), Ok(Some(Inbound::Stanza(_)))));
    parser.restart();
    let Ok(Some(Inbound::Open(header))) = parser.next() else {
        panic!("no new header")
    };
    assert_eq!(header.to.as_deref(), Some("b"));
    parser.feed(b"<iq type='get' id='1'/></stream:stream>");
    assert_eq!(
        render(&drain(&mut parser).unwrap()),
        vec!["<iq xmlns='jabber:client' id='1' type='get'/>", "close"]
    );
    assert!(parser.is_closed());
    // Whitespace (a keep-alive) before the restarted header, which carries an XML declaration again.
    parser.restart();
    parser.feed(format!(" \n{HEADER}").as_bytes());
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
    // Without a restart, a second header inside the stream is just an (odd) stanza-level element.
    let mut parser = StreamParser::new(Framing::Stream, DEFAULT_MAX);
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
    parser.feed(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>garbage");
    assert!(matches!(parser.next(), Ok(Some(Inbound::Stanza(_)))));
    // STARTTLS: pipelined plaintext is dropped.
    parser.reset();
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(Inbound::Open(_)))));
}

#[test]
fn websocket_fragments_follow_rfc7395() {
    let frames: [&[u8]; 8] = [
        b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='127.0.0.1' version='1.0' from='1-2@localhost'/>",
        // v6: xmlns on everything.
        b"<message xmlns='jabber:client' to='3-2@localhost' type='chat' id='x'><body>hi</body></message>",
        // A stanza without xmlns gets jabber:client, children included.
        b"<presence><show>away</show></presence>",
        // SM nonzas keep their namespace.
        b"<r xmlns='urn:xmpp:sm:3'/>",
        // Two elements in one frame, then one element split over two frames.
        b"<a xmlns='urn:xmpp:sm:3' h='1'/><iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
        b"<message xmlns='jabber:client'><bo",
        b"dy>split</body></message>",
        b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'></close>",
    ];
    let items = parse_all(Framing::Fragments, &frames).unwrap();
    assert_eq!(
        render(&items),
        vec![
            "open to=Some(\"127.0.0.1\") from=Some(\"1-2@localhost\") version=Some(\"1.0\") lang=None",
            "<message xmlns='jabber:client' id='x' to='3-2@localhost' type='chat'><body>hi</body></message>",
            "<presence xmlns='jabber:client'><show>away</show></presence>",
            "<r xmlns='urn:xmpp:sm:3'/>",
            "<a xmlns='urn:xmpp:sm:3' h='1'/>",
            "<iq xmlns='jabber:client' id='p' type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
            "<message xmlns='jabber:client'><body>split</body></message>",
            "close",
        ]
    );
    let Inbound::Stanza(presence) = &items[2] else {
        panic!()
    };
    assert!(presence.has_child("show", ns::CLIENT));
    // Open/close in another namespace are ordinary elements, not framing.
    let items = parse_all(Framing::Fragments, &[b"<open xmlns='jabber:client'/>"]).unwrap();
    assert!(matches!(&items[0], Inbound::Stanza(el) if el.name() == "open"));
}

#[test]
fn reserialized_stanzas_never_panic_on_odd_declarations() {
    // Declarations a client may legally write; the elements built from them must serialize cleanly.
    let frame = "<message xmlns='jabber:client' xmlns:xml='http://www.w3.org/XML/1998/namespace' \
                 xmlns:a='urn:a' xmlns:b='urn:a' xml:lang='de' a:x='1'><b:y xmlns:c='urn:c'/><z xmlns=''/></message>";
    let items = parse_all(Framing::Fragments, &[frame.as_bytes()]).unwrap();
    let Inbound::Stanza(message) = &items[0] else {
        panic!()
    };
    assert_eq!(message.attr_ns(rxml::Namespace::xml(), "lang"), Some("de"));
    let out = xml::to_string(message);
    assert!(out.starts_with("<message xmlns='jabber:client'"), "{out}");
    assert!(out.contains("xml:lang='de'"), "{out}");
    // And what comes out parses back to the same tree.
    let again = parse_all(Framing::Fragments, &[out.as_bytes()]).unwrap();
    assert_eq!(&again[0], &items[0]);
}

#[test]
fn the_longest_jid_fits_in_an_attribute_and_long_text_arrives_whole() {
    // A full JID is at most 3 × 1,023 bytes plus two separators (RFC 7622).
    let jid = format!("{}@{}/{}", "u".repeat(1023), "d".repeat(1023), "r".repeat(1023));
    let body = "0123456789abcdef".repeat(4 * MAX_TOKEN_LENGTH / 16 + 3);
    let stanza = format!("<message to='{jid}' id='long'><body>{body}</body></message>");
    let input = format!("{HEADER}{stanza}");
    let mut parser = StreamParser::new(Framing::Stream, 100_000);
    // Fed in small pieces, so the text crosses many reads as well as the parser's token length.
    let mut items = Vec::new();
    for chunk in input.as_bytes().chunks(700) {
        parser.feed(chunk);
        items.extend(drain(&mut parser).unwrap());
    }
    let Inbound::Stanza(message) = &items[1] else {
        panic!("expected the message, got {:?}", render(&items));
    };
    assert_eq!(message.attr("to"), Some(jid.as_str()));
    let text = message.get_child("body", "jabber:client").unwrap().text();
    assert_eq!(text.len(), body.len());
    assert_eq!(text, body);

    // A name or attribute value over the token length ends the stream as a policy violation.
    let huge = format!("{HEADER}<message to='{}'/>", "x".repeat(MAX_TOKEN_LENGTH + 1));
    assert!(matches!(
        parse_all(Framing::Stream, &[huge.as_bytes()]),
        Err(TransportError::PolicyViolation)
    ));
}

#[test]
fn a_parser_between_stanzas_holds_no_input_buffer_and_still_parses_what_comes_next() {
    for framing in [Framing::Stream, Framing::Fragments] {
        let mut parser = StreamParser::new(framing, DEFAULT_MAX);
        let mut out = Vec::new();
        let open: &[u8] = match framing {
            Framing::Stream => HEADER.as_bytes(),
            Framing::Fragments => {
                b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
            }
        };
        parser.feed(open);
        out.extend(drain(&mut parser).unwrap());
        // A stanza split mid-token keeps its bytes; a finished one leaves nothing held.
        parser.feed(b"<message to='a@localhost' id='m1'><bo");
        out.extend(drain(&mut parser).unwrap());
        parser.feed(b"dy>one</body></message>");
        out.extend(drain(&mut parser).unwrap());
        assert_eq!(
            parser.input.capacity(),
            0,
            "{framing:?}: nothing held while waiting"
        );
        parser.feed(b" <message to='a@localhost' id='m2'><body>two</body></message>");
        out.extend(drain(&mut parser).unwrap());
        assert_eq!(parser.input.capacity(), 0);
        let rendered = render(&out);
        assert_eq!(rendered.len(), 3, "{rendered:?}");
        assert!(
            rendered[1].contains("<body>one</body>") && rendered[1].contains("id='m1'"),
            "{rendered:?}"
        );
        assert!(
            rendered[2].contains("<body>two</body>") && rendered[2].contains("id='m2'"),
            "{rendered:?}"
        );
    }
}

#[test]
fn the_stream_headers_declarations_apply_to_every_stanza_however_the_bytes_are_split() {
    let input = format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:h='urn:example:h' \
         xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>\
         <message id='p'><h:note h:level='2'>n</h:note></message>{}",
        tcp_session()
            .split_once("version='1.0' xml:lang='en'>")
            .unwrap()
            .1
    );
    let bytes = input.as_bytes();
    let whole = render(&parse_all(Framing::Stream, &[bytes]).unwrap());
    assert_eq!(whole.len(), 6, "{whole:?}");
    assert!(
        whole[1].contains("<note xmlns='urn:example:h'") && whole[1].contains(">n</note>"),
        "{whole:?}"
    );
    for split in 0..=bytes.len() {
        let items = parse_all(Framing::Stream, &[&bytes[..split], &bytes[split..]]).unwrap();
        assert_eq!(render(&items), whole, "split at {split}");
    }
    let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(render(&parse_all(Framing::Stream, &one_by_one).unwrap()), whole);
}

#[test]
fn the_close_must_name_the_stream_header() {
    for (close, closes) in [
        (&b"</stream:stream>"[..], true),
        (b"</stream:stream \n>", true),
        (b"</stream>", false),
    ] {
        let mut parser = StreamParser::new(Framing::Stream, DEFAULT_MAX);
        parser.feed(HEADER.as_bytes());
        assert_eq!(drain(&mut parser).unwrap().len(), 1);
        parser.feed(close);
        match drain(&mut parser) {
            Ok(items) => assert!(closes && render(&items) == ["close"], "{items:?}"),
            Err(error) => assert!(
                !closes && matches!(error, TransportError::NotWellFormed(_)),
                "{error}"
            ),
        }
    }
}

#[test]
fn a_stanza_split_across_reads_keeps_only_its_own_bytes() {
    // Continuous traffic never leaves the buffer empty: what was parsed before the stanza in progress
    // must still go.
    let mut parser = StreamParser::new(Framing::Stream, DEFAULT_MAX);
    parser.feed(HEADER.as_bytes());
    assert_eq!(drain(&mut parser).unwrap().len(), 1);
    let stanza = b"<message id='x'><body>0123456789</body></message>";
    parser.feed(&stanza[..25]);
    let mut yielded = 0;
    for _ in 0..1000 {
        // The end of a stanza, a whole one and the start of the next in every read.
        parser.feed(&stanza[25..]);
        parser.feed(stanza);
        parser.feed(&stanza[..25]);
        yielded += drain(&mut parser).unwrap().len();
        assert!(
            parser.input.len() <= 2 * stanza.len() + 25,
            "{} bytes held",
            parser.input.len()
        );
    }
    assert_eq!(yielded, 2000);
}

#[test]
fn attributes_and_declarations_are_bounded_per_element_and_in_scope() {
    let parse = |text: String| parse_all(Framing::Fragments, &[text.as_bytes()]);
    let attrs = |n: usize| (0..n).map(|i| format!(" a{i}='v'")).collect::<String>();
    assert_eq!(parse(format!("<message{}/>", attrs(256))).unwrap().len(), 1);
    assert!(matches!(
        parse(format!("<message{}/>", attrs(257))),
        Err(TransportError::PolicyViolation)
    ));
    // Declarations count as attributes of their element, and in scope across elements.
    let declarations = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!(" xmlns:p{i}='urn:p{i}'"))
            .collect::<String>()
    };
    let nested = format!(
        "<message{}><x{}><y p0:a='1' p299:b='2'/></x></message>",
        declarations(0, 150),
        declarations(150, 150)
    );
    assert!(matches!(parse(nested), Err(TransportError::PolicyViolation)));
    let within = format!(
        "<message{}><x{}><p0:y p0:a='1' p199:b='2'/></x></message>",
        declarations(0, 100),
        declarations(100, 100)
    );
    let items = parse(within).unwrap();
    let Inbound::Stanza(message) = &items[0] else {
        panic!("{items:?}")
    };
    let y = message.children().next().unwrap().children().next().unwrap();
    assert_eq!((y.name(), y.ns()), ("y", "urn:p0".to_string()));
    assert_eq!(y.attr_ns("urn:p0", "a"), Some("1"));
    assert_eq!(y.attr_ns("urn:p199", "b"), Some("2"));
    // One prefix declared twice in a tag, or one attribute written twice, is not well-formed.
    for twice in [
        "<message xmlns:a='urn:a' xmlns:a='urn:b'/>",
        "<message xmlns='urn:a' xmlns='urn:a'/>",
        "<message a='1' a='1'/>",
        "<message xmlns:x='urn:x' xmlns:y='urn:x' x:a='1' y:a='2'/>",
    ] {
        let error = parse(twice.to_string()).unwrap_err();
        assert_eq!(
            error.stream_condition(),
            Some("not-well-formed"),
            "{twice}: {error}"
        );
    }
}
