//! The stream parser against rxml, the strict XML parser the server used before: on the SDK traffic
//! and on thousands of damaged copies of it, both must take the same documents and build the same
//! trees (names, namespaces, attributes, text), and refuse the same ones.

use super::*;
use crate::xml;
use rxml::{Event, Parse, Parser};

/// One WebSocket element parsed by rxml as a document of its own, built as the server builds stanzas
/// (elements in no namespace go to `jabber:client`). `None` when rxml refuses it.
fn by_rxml(bytes: &[u8]) -> Option<Element> {
    let mut parser = Parser::default();
    // The stream parser skips white space between elements before anything parses it.
    let mut input = bytes.trim_ascii_start();
    let mut stack: Vec<Element> = Vec::new();
    let mut done = None;
    loop {
        match parser.parse(&mut input, true) {
            Ok(Some(Event::XmlDeclaration(..))) => {}
            Ok(Some(Event::StartElement(_, (namespace, name), attrs))) => {
                let ns = if namespace.is_none() {
                    ns::CLIENT
                } else {
                    namespace.as_str()
                };
                let mut element = Element::bare(name.as_str(), ns);
                *element.attrs_mut() = attrs;
                stack.push(element);
            }
            Ok(Some(Event::Text(_, text))) => stack.last_mut()?.append_text(text),
            Ok(Some(Event::EndElement(_))) => {
                let element = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => {
                        parent.append_child(element);
                    }
                    None => done = Some(element),
                }
            }
            Ok(None) => return done,
            Err(_) => return None,
        }
    }
}

/// The same element through the stream parser, over WebSocket framing. `None` when refused, or when
/// the bytes are not exactly one element.
fn by_stream_parser(bytes: &[u8]) -> Option<Element> {
    let mut parser = StreamParser::new(Framing::Fragments, 1 << 20);
    parser.feed(bytes);
    let Ok(Some(Inbound::Stanza(element))) = parser.next() else {
        return None;
    };
    match parser.next() {
        Ok(None) if parser.idle => Some(element),
        _ => None,
    }
}

/// A form of the tree that two equal trees share: namespaces, names, attributes in order, adjacent text
/// joined.
fn canonical(element: &Element) -> String {
    let mut out = format!("<{{{}}}{}", element.ns(), element.name());
    let mut attrs: Vec<String> = element
        .attrs()
        .iter()
        .map(|((ns, name), value)| format!(" {{{ns}}}{name}={value:?}"))
        .collect();
    attrs.sort();
    out.extend(attrs);
    out.push('>');
    let mut text = String::new();
    for node in element.nodes() {
        match node {
            minidom::Node::Text(t) => text.push_str(t),
            minidom::Node::Element(child) => {
                out.push_str(&format!("{text:?}"));
                text.clear();
                out.push_str(&canonical(child));
            }
        }
    }
    out.push_str(&format!("{text:?}</>"));
    out
}

/// Where the two are known to differ, and the stream parser follows the recommendations: rxml refuses a
/// carriage return that no line feed follows in an attribute value, or drops it at the value's end,
/// where XML 1.0 makes it a line end (a space, in an attribute value); and rxml takes the declarations
/// that Namespaces in XML 1.0 forbids (the `xmlns` prefix declared, `xml` or another prefix bound to
/// the wrong one of the two reserved namespaces or a reserved one as the default, a prefix bound to
/// nothing), which the stream parser refuses.
fn known_difference(bytes: &[u8]) -> bool {
    let lone_carriage_return =
        bytes.windows(2).any(|pair| pair[0] == b'\r' && pair[1] != b'\n') || bytes.ends_with(b"\r");
    let reserved = [&b"http://www.w3.org/"[..], b"xmlns:xmlns", b"xmlns:x=''"];
    lone_carriage_return || reserved.iter().any(|r| memchr::memmem::find(bytes, r).is_some())
}

fn check(bytes: &[u8], disagreements: &mut Vec<String>) -> bool {
    if known_difference(bytes) {
        return false;
    }
    let old = by_rxml(bytes).map(|e| canonical(&e));
    let new = by_stream_parser(bytes).map(|e| canonical(&e));
    if old != new {
        disagreements.push(format!(
            "{:?}\n  rxml: {old:?}\n  stream parser: {new:?}",
            String::from_utf8_lossy(bytes)
        ));
    }
    old.is_some()
}

/// What the SDKs never send but a peer may: every construct the two parsers must treat alike.
const EDGE_CASES: &[&str] = &[
    "<message xmlns='jabber:client'><body>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;&#x1F600;</body></message>",
    "<message><body><![CDATA[<x>&amp;]]></body></message>",
    "<message><body>a\r\nb\rc\n</body></message>",
    "<message a='x\ty\nz\r\nw'/>",
    "<message a='&#9;&#10;&#13;'/>",
    "<message a=\"it's\" b='say \"hi\"'/>",
    "<x:message xmlns:x='jabber:client' x:a='1' a='2'/>",
    "<message xmlns:x='urn:x' xmlns:y='urn:x' x:a='1' y:a='2'/>",
    "<message xmlns:x='urn:x'><x:a xmlns:x='urn:y'><x:b/></x:a><x:c/></message>",
    "<message xmlns='urn:a'><b xmlns=''><c/></b></message>",
    "<message xml:lang='en'><body xml:lang='de'>x</body></message>",
    "<message xmlns:xml='http://www.w3.org/XML/1998/namespace'/>",
    "<message xmlns:xmlns='urn:x'/>",
    "<message xmlns:x=''/>",
    "<message xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
    "<message xmlns='http://www.w3.org/2000/xmlns/'/>",
    "<message a='1'b='2'/>",
    "<message a='<'/>",
    "<message>]]></message>",
    "<message>a]]b]>c</message>",
    "<message>&#0;</message>",
    "<message>&#xFFFE;</message>",
    "<message>&#xD800;</message>",
    "<message>&unknown;</message>",
    "<message>&amp</message>",
    "<message>& </message>",
    "<message a='&'/>",
    "<1message/>",
    "<message 1a='x'/>",
    "<a:b:c xmlns:a='urn:a'/>",
    "<message></message >",
    "<message></ message>",
    "<message/ >",
    "<message a = '1' />",
    "<message a='1' a='1'/>",
    "<message\n\ta='1'\r\n/>",
    "<message>\u{85}\u{2028}\u{FFFD}</message>",
    "<message>\u{1}</message>",
    "<?xml version='1.0'?><message/>",
    "<?xml version='1.0' encoding='UTF-8'?><message/>",
    "<?xml version='1.1'?><message/>",
    "<?xml version='1.0' encoding='latin1'?><message/>",
    "<?xml version='1.0' standalone='yes'?><message/>",
    "<?xml version='1.0' encoding='utf-8' standalone='yes'?><message/>",
    "<?xml version='1.0' encoding='utf-8' standalone='no'?><message/>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><message/>",
    "<message><?pi x?></message>",
    "<message><!-- c --></message>",
    "<message><!DOCTYPE x></message>",
    "<message>x<![CDATA[]]>y</message>",
    "<message><![CDATA[a]]]]><![CDATA[>b]]></message>",
    "<message>\u{263A}</message>",
    "<m\u{e9}ssage/>",
    "<message \u{e9}='x'/>",
    "<message>a>b</message>",
    "<message a='a>b'/>",
    "<message a='1'/ >",
    "<message a=\"1'/>",
    "<message a/>",
    "<message a=1/>",
    "<message\u{a0}a='1'/>",
];

#[test]
fn the_stream_parser_takes_and_builds_what_rxml_does() {
    let mut inputs: Vec<Vec<u8>> = EDGE_CASES.iter().map(|s| s.as_bytes().to_vec()).collect();
    inputs.extend(
        crate::parsers::tests::corpus()
            .iter()
            .map(|element| xml::to_string(element).into_bytes()),
    );
    let mut disagreements = Vec::new();
    let mut accepted = 0;
    let mut cases = 0;
    // Each input whole, then damaged: a byte replaced by, or inserted before it, one that matters to
    // XML, at up to 24 places spread over the input.
    const BYTES: &[u8] = b"<>&;'\"/:=! \r\n\x01\xff\xc3]?x#";
    for input in &inputs {
        cases += 1;
        accepted += usize::from(check(input, &mut disagreements));
        let step = (input.len() / 24).max(1);
        for at in (0..input.len()).step_by(step) {
            for &byte in BYTES {
                let mut replaced = input.clone();
                replaced[at] = byte;
                let mut inserted = input.clone();
                inserted.insert(at, byte);
                for damaged in [replaced, inserted] {
                    cases += 1;
                    accepted += usize::from(check(&damaged, &mut disagreements));
                }
            }
        }
    }
    assert!(
        inputs.len() > 150 && accepted > 1000,
        "{} inputs, {accepted} accepted",
        inputs.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {cases} cases differ:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
