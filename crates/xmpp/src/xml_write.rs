//! Writing stanzas out: the bytes minidom would write, without its per-item work.
//!
//! minidom serializes through rxml's encoder, which allocates a buffer for every item (each start tag,
//! attribute, text and end tag), re-validates every name and tracks namespaces in a stack; a profile of
//! 1-1 chat on one core had that at 6 % of the server's time, for every stanza sent. Stanzas the server
//! sends have a plain shape — each element's namespace is the default one, declared where it changes,
//! attributes without a namespace or in `xml:` — and this writes that shape straight into the output,
//! byte for byte what minidom writes (single-quoted attributes, the same escapes, `<a/>` for an empty
//! element). Anything else (declared prefixes, other namespaced attributes, characters XML cannot carry)
//! goes through minidom as before. The tests hold the two equal over the SDK traffic.

use std::borrow::Cow;

use minidom::{Element, Node};

/// Appends `element` to `out` as minidom would write it.
pub fn write_element(element: &Element, out: &mut String) {
    let start = out.len();
    if !write_plain(element, None, out) {
        out.truncate(start);
        out.push_str(&minidom_string(element));
    }
}

/// minidom's own serialization.
pub(crate) fn minidom_string(element: &Element) -> String {
    let mut bytes = Vec::new();
    element
        .write_to(&mut bytes)
        .expect("writing to a Vec cannot fail");
    String::from_utf8(bytes).expect("minidom writes UTF-8")
}

/// Writes the element if it has the plain shape; false (with `out` partly written) if it does not.
fn write_plain(element: &Element, parent_ns: Option<&str>, out: &mut String) -> bool {
    if !element.prefixes.declared_prefixes().is_empty() {
        return false;
    }
    out.push('<');
    out.push_str(element.name());
    // The default namespace is declared on the root and wherever it changes; an element without a
    // namespace under one that has it would need `xmlns=''`, which minidom writes its own way.
    let same_ns = parent_ns.is_some_and(|ns| element.has_ns(ns));
    let own_ns;
    let ns: &str = if same_ns {
        parent_ns.unwrap_or_default()
    } else {
        // minidom hands out an element's namespace only as a new String: the stanzas' own namespace,
        // the root of nearly everything sent, is known without one.
        own_ns = if element.has_ns(crate::ns::CLIENT) {
            Cow::Borrowed(crate::ns::CLIENT)
        } else {
            Cow::Owned(element.ns())
        };
        if own_ns.is_empty() {
            return false;
        }
        out.push_str(" xmlns='");
        if !escape(&own_ns, true, out) {
            return false;
        }
        out.push('\'');
        &own_ns
    };
    for ((attr_ns, name), value) in element.attrs() {
        out.push(' ');
        if attr_ns.is_some() {
            if attr_ns != rxml::Namespace::xml() {
                return false;
            }
            out.push_str("xml:");
        }
        out.push_str(name.as_str());
        out.push_str("='");
        if !escape(value, true, out) {
            return false;
        }
        out.push('\'');
    }
    let mut nodes = element.nodes().peekable();
    if nodes.peek().is_none() {
        out.push_str("/>");
        return true;
    }
    out.push('>');
    for node in nodes {
        let written = match node {
            Node::Element(child) => write_plain(child, Some(ns), out),
            Node::Text(text) => escape(text, false, out),
        };
        if !written {
            return false;
        }
    }
    out.push_str("</");
    out.push_str(element.name());
    out.push('>');
    true
}

/// Appends `text` escaped as rxml's encoder escapes it (in attribute values also quotes, tabs and line
/// ends); false for a character XML 1.0 cannot carry.
fn escape(text: &str, in_attribute: bool, out: &mut String) -> bool {
    if !needs_a_look(text.as_bytes(), in_attribute) {
        out.push_str(text);
        return true;
    }
    // Byte by byte: every character escaped or refused is ASCII, except U+FFFE and U+FFFF (EF BF BE,
    // EF BF BF in UTF-8), so no character needs decoding and the text is cut only at ASCII bytes.
    let bytes = text.as_bytes();
    let mut rest = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escaped = match byte {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\r' => "&#xd;",
            b'"' if in_attribute => "&#34;",
            b'\'' if in_attribute => "&#39;",
            b'\n' if in_attribute => "&#xa;",
            b'\t' if in_attribute => "&#x9;",
            b'\n' | b'\t' => continue,
            0..=0x1f => return false,
            0xef if bytes.get(i + 1) == Some(&0xbf) && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) => {
                return false;
            }
            _ => continue,
        };
        out.push_str(&text[rest..i]);
        out.push_str(escaped);
        rest = i + 1;
    }
    out.push_str(&text[rest..]);
    true
}

/// Whether `bytes` hold any byte `escape` has to look at: one it escapes or refuses, or the first byte
/// of U+FFFE and U+FFFF. Most text holds none and is copied as it is.
fn needs_a_look(bytes: &[u8], in_attribute: bool) -> bool {
    any_byte(bytes, |byte| {
        (byte < 0x20)
            | (byte == b'<')
            | (byte == b'>')
            | (byte == b'&')
            | (byte == 0xef)
            | (in_attribute & ((byte == b'"') | (byte == b'\'')))
    })
}

/// Whether any of `bytes` passes `test`, which must be a plain function of the byte (comparisons
/// joined with `|` and `&`). The bytes are tested in 32-byte chunks without stopping early inside a
/// chunk, which the compiler turns into vector compares: byte by byte with an early exit, the scans of
/// text written into stanzas were 2 to 3 % of the instructions of 1-1 chat.
pub(crate) fn any_byte(bytes: &[u8], test: impl Fn(u8) -> bool) -> bool {
    bytes
        .chunks(32)
        .any(|chunk| chunk.iter().fold(false, |seen, &byte| seen | test(byte)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parser::{Framing, StreamParser};
    use crate::stream::Inbound;

    /// A stanza as the stream parser reads it from a client (no declared prefixes).
    fn parse(xml: &str) -> Element {
        let mut parser = StreamParser::new(Framing::Fragments, 1 << 20);
        parser.feed(xml.as_bytes());
        match parser.next() {
            Ok(Some(Inbound::Stanza(element))) => element,
            other => panic!("not a stanza: {other:?}"),
        }
    }

    /// The plain writer's output, which must be minidom's.
    #[track_caller]
    fn plain_as_minidom(element: &Element) -> String {
        let mut plain = String::new();
        assert!(
            write_plain(element, None, &mut plain),
            "{element:?} has the plain shape"
        );
        assert_eq!(plain, minidom_string(element));
        plain
    }

    #[test]
    fn a_chat_message_comes_out_as_minidom_writes_it() {
        let message = parse(
            "<message xmlns='jabber:client' to='5-1@chat.example.com' type='chat' id='6b068f315f6662378a000000'>\
             <body>a &lt; b &amp; \"c\" 'd'&#xd;\n\tz</body><markable xmlns='urn:xmpp:chat-markers:0'/>\
             <extraParams xmlns='jabber:client'><save_to_history>1</save_to_history><dialog_id>5c09</dialog_id>\
             <attachment type='image' uid='76&quot;3&#x9;x&#xa;y' size='12'/><nested><a>1</a><b><c>x</c></b></nested>\
             </extraParams></message>",
        );
        let written = plain_as_minidom(&message);
        assert!(
            written.starts_with("<message xmlns='jabber:client' "),
            "{written}"
        );
        assert!(
            written.contains("<markable xmlns='urn:xmpp:chat-markers:0'/>"),
            "{written}"
        );
        assert!(
            written.contains("<body>a &lt; b &amp; \"c\" 'd'&#xd;\n\tz</body>"),
            "{written}"
        );
        assert!(written.contains("uid='76&#34;3&#x9;x&#xa;y'"), "{written}");
    }

    #[test]
    fn xml_lang_and_nested_namespaces_come_out_as_minidom_writes_them() {
        let presence = parse(
            "<presence xmlns='jabber:client' xml:lang='en'><status>away</status>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/>\
             <status code='110'/></x><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
        );
        let written = plain_as_minidom(&presence);
        assert!(
            written.starts_with("<presence xmlns='jabber:client' xml:lang='en'>"),
            "{written}"
        );
    }

    #[test]
    fn every_element_of_the_sdk_traffic_comes_out_as_minidom_writes_it() {
        let corpus = crate::parsers::tests::corpus();
        for element in &corpus {
            plain_as_minidom(element);
        }
        assert!(corpus.len() > 100);
    }

    #[test]
    fn elements_of_another_shape_go_through_minidom() {
        let prefixed: Element = "<message xmlns='jabber:client' xmlns:x='urn:x'><x:a/></message>"
            .parse()
            .unwrap();
        let mut unqualified = Element::bare("message", "jabber:client");
        unqualified.append_child(Element::bare("orphan", ""));
        for element in [prefixed, unqualified] {
            assert!(!write_plain(&element, None, &mut String::new()));
            let mut written = String::from("<r/>");
            write_element(&element, &mut written);
            assert_eq!(written, format!("<r/>{}", minidom_string(&element)));
        }
    }

    #[test]
    fn escaping_matches_minidom_and_refuses_what_xml_cannot_carry() {
        let texts = [
            "plain",
            "é ü 😀 \u{fffd} \u{ef00}",
            "a<b>c&d\"e'f\rg\nh\ti",
            "<&>",
            "\u{fffd}<",
        ];
        for text in texts {
            for in_attribute in [false, true] {
                let mut escaped = String::from("x");
                assert!(escape(text, in_attribute, &mut escaped), "{text:?}");
                let mut element = Element::bare("a", "urn:t");
                if in_attribute {
                    crate::xml::set_attr(&mut element, "v", text);
                } else {
                    element.append_text(text);
                }
                let whole = minidom_string(&element);
                assert!(whole.contains(&escaped[1..]), "{whole} holds {escaped}");
            }
        }
        for refused in ["a\u{0}", "\u{1f}", "x\u{fffe}", "\u{ffff}y", "\u{b}"] {
            for in_attribute in [false, true] {
                assert!(!escape(refused, in_attribute, &mut String::new()), "{refused:?}");
            }
        }
    }

    #[test]
    fn long_text_is_escaped_wherever_its_special_character_falls() {
        let plain = "x".repeat(100);
        for in_attribute in [false, true] {
            let mut out = String::new();
            assert!(escape(&plain, in_attribute, &mut out));
            assert_eq!(out, plain);
        }
        for at in [0, 1, 31, 32, 33, 63, 64, 99] {
            for special in ["<", ">", "&", "'", "\"", "\r", "\n", "\t", "é"] {
                let text = format!("{}{special}{}", "x".repeat(at), "y".repeat(99 - at));
                for in_attribute in [false, true] {
                    let mut escaped = String::new();
                    assert!(escape(&text, in_attribute, &mut escaped), "{text:?}");
                    let mut element = Element::bare("a", "urn:t");
                    if in_attribute {
                        crate::xml::set_attr(&mut element, "v", text.as_str());
                    } else {
                        element.append_text(text.as_str());
                    }
                    assert!(minidom_string(&element).contains(&escaped), "{special:?} at {at}");
                }
            }
            for refused in ["\u{0}", "\u{1f}", "\u{fffe}", "\u{ffff}"] {
                let text = format!("{}{refused}{}", "x".repeat(at), "y".repeat(99 - at));
                assert!(!escape(&text, false, &mut String::new()), "{refused:?} at {at}");
            }
        }
    }

    #[test]
    fn long_text_loses_what_xml_cannot_carry_wherever_it_falls() {
        for at in [0, 1, 31, 32, 33, 63, 64, 99] {
            let (head, tail) = ("x".repeat(at), "y".repeat(99 - at));
            for kept in ["\t", "\n", "é", "\u{ef00}"] {
                let text = format!("{head}{kept}{tail}");
                assert_eq!(crate::xml::xml_chars(text.clone()), text);
            }
            for dropped in ["\u{0}", "\u{1f}", "\u{fffe}", "\u{ffff}"] {
                let text = format!("{head}{dropped}{tail}");
                assert_eq!(
                    crate::xml::xml_chars(text),
                    format!("{head}{tail}"),
                    "{dropped:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn text_keeps_what_xml_carries_and_loses_the_rest() {
        assert_eq!(
            crate::xml::xml_chars("plain é 😀\t\n\r".into()),
            "plain é 😀\t\n\r"
        );
        assert_eq!(
            crate::xml::xml_chars("\u{ef00}\u{fffd}".into()),
            "\u{ef00}\u{fffd}"
        );
        assert_eq!(
            crate::xml::xml_chars("a\u{0}b\u{fffe}c\u{ffff}\u{1f}".into()),
            "abc"
        );
    }
}
