//! Builds a top-level element's tree from its complete bytes (found by `scan.rs`), with quick-xml as the
//! tokenizer.
//!
//! quick-xml splits the bytes into tags, text and references; what makes the result the restricted,
//! namespace-well-formed XML that RFC 6120 asks for is checked here, since quick-xml leaves it to its
//! user: names are XML names (one colon at most), attributes are separated by white space and unique by
//! their expanded name, attribute values hold no `<`, text holds no `]]>`, every character is one XML 1.0
//! allows (after references are resolved, so `&#1;` is refused like a raw U+0001), only the five
//! predefined entities exist, and prefixes are declared, with `xml` and `xmlns` reserved. Line ends are
//! normalized (CR LF and lone CR to LF) and white space in attribute values to spaces, as an XML
//! processor must.

use std::borrow::Cow;

use minidom::Element;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rxml::{AttrMap, Namespace, NcName};

use super::MAX_TOKEN_LENGTH;
use crate::ns;
use crate::stream::TransportError;
use crate::xml_write::any_byte;

/// The most attributes (namespace declarations included) one element may have, and the most
/// declarations in scope at once. No stanza comes near either; they bound the work a hostile one can
/// cause, since attributes are checked for duplicates and prefixes looked up among the declarations.
const MAX_ATTRIBUTES: usize = 256;
const MAX_DECLARATIONS: usize = 256;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A namespace declaration in scope: `prefix` `None` for the default namespace (`ns` empty when
/// undeclared with `xmlns=""`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Binding {
    prefix: Option<String>,
    ns: String,
}

/// The declarations in scope: those around the element (the stream header's) and its own and its
/// ancestors'.
struct Scope<'a> {
    inherited: &'a [Binding],
    declared: Vec<Binding>,
}

impl Scope<'_> {
    /// Adds a declaration made by the tag whose declarations start at `tag_start`, refusing a second
    /// one of the same prefix there and what the namespaces recommendation forbids.
    fn declare(&mut self, tag_start: usize, prefix: Option<&str>, ns: String) -> Result<(), TransportError> {
        let reserved = match prefix {
            Some("xmlns") => true,
            Some("xml") => ns != XML_NS,
            _ => ns == XML_NS || ns == XMLNS_NS,
        };
        if reserved || (prefix.is_some() && ns.is_empty()) {
            return Err(not_well_formed("reserved or empty namespace declaration"));
        }
        if self.declared[tag_start..]
            .iter()
            .any(|b| b.prefix.as_deref() == prefix)
        {
            return Err(not_well_formed("duplicate attribute"));
        }
        if self.inherited.len() + self.declared.len() >= MAX_DECLARATIONS {
            return Err(TransportError::PolicyViolation);
        }
        self.declared.push(Binding {
            prefix: prefix.map(str::to_owned),
            ns,
        });
        Ok(())
    }

    /// The namespace of a prefix (`None`: the default namespace, empty when there is none).
    fn resolve(&self, prefix: Option<&str>) -> Result<&str, TransportError> {
        if prefix == Some("xml") {
            return Ok(XML_NS);
        }
        let mut bindings = self.declared.iter().rev().chain(self.inherited.iter().rev());
        match bindings.find(|b| b.prefix.as_deref() == prefix) {
            Some(binding) => Ok(&binding.ns),
            None if prefix.is_none() => Ok(""),
            None => Err(not_well_formed("undeclared namespace prefix")),
        }
    }
}

/// A start tag with its names resolved.
pub(super) struct Opened {
    /// The element's namespace; empty when it has none.
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) attrs: AttrMap,
}

/// The element in `bytes` (exactly one, as the scanner found it), with `inherited` declarations in scope
/// (the stream header's over TCP). Elements in no namespace are put in the stream's content namespace.
pub(super) fn element(bytes: &[u8], inherited: &[Binding]) -> Result<Element, TransportError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut scope = Scope {
        inherited,
        declared: Vec::new(),
    };
    // Per open element: the scope's length before its declarations.
    let mut marks = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut text = String::new();
    loop {
        let (tag, empty) = match reader.read_event().map_err(xml_error)? {
            Event::Start(tag) => (tag, false),
            Event::Empty(tag) => (tag, true),
            Event::End(_) => {
                flush_text(&mut stack, &mut text);
                scope.declared.truncate(marks.pop().unwrap_or_default());
                let element = stack
                    .pop()
                    .ok_or_else(|| not_well_formed("end tag without a start tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.append_child(element),
                    None => return Ok(element),
                };
                continue;
            }
            Event::Text(raw) => {
                if stack.is_empty() {
                    return Err(not_well_formed("character data at the top level"));
                }
                push_text(&mut text, &raw, false)?;
                continue;
            }
            Event::CData(raw) => {
                push_text(&mut text, &raw, true)?;
                continue;
            }
            Event::GeneralRef(reference) => {
                text.push_str(&unescape(&format!("&{};", utf8(&reference)?))?);
                continue;
            }
            Event::Comment(_) => return Err(TransportError::RestrictedXml("comment".into())),
            Event::PI(_) | Event::Decl(_) => {
                return Err(TransportError::RestrictedXml("processing instruction".into()))
            }
            Event::DocType(_) => return Err(TransportError::RestrictedXml("DTD".into())),
            Event::Eof => return Err(not_well_formed("the element ended early")),
        };
        flush_text(&mut stack, &mut text);
        let mark = scope.declared.len();
        let opened = open(&tag, &mut scope)?;
        let namespace = match opened.namespace.is_empty() {
            true => ns::CLIENT.to_owned(),
            false => opened.namespace,
        };
        let mut element = Element::bare(opened.name, namespace);
        *element.attrs_mut() = opened.attrs;
        if empty {
            scope.declared.truncate(mark);
            match stack.last_mut() {
                Some(parent) => parent.append_child(element),
                None => return Ok(element),
            };
        } else {
            marks.push(mark);
            stack.push(element);
        }
    }
}

/// The start tag in `bytes` (the TCP stream header): its names resolved, and the declarations it makes,
/// which stay in scope for the stream's stanzas.
pub(super) fn start_tag(bytes: &[u8]) -> Result<(Opened, Vec<Binding>), TransportError> {
    let mut reader = Reader::from_reader(bytes);
    match reader.read_event().map_err(xml_error)? {
        Event::Start(tag) => {
            let mut scope = Scope {
                inherited: &[],
                declared: Vec::new(),
            };
            let opened = open(&tag, &mut scope)?;
            Ok((opened, scope.declared))
        }
        _ => Err(not_well_formed("expected a start tag")),
    }
}

/// Checks an XML declaration: `<?xml version='1.0'?>`, then optionally an encoding (UTF-8, the only
/// one a stream may use) and after it `standalone='yes'` (a stream has no external DTD to depend on).
pub(super) fn declaration(bytes: &[u8]) -> Result<(), TransportError> {
    // `<?xml` … `?>` read as the start tag `<xml … />`, for its pseudo-attributes.
    let inner = &bytes[b"<?xml".len()..bytes.len() - b"?>".len()];
    let tag = [&b"<xml"[..], inner, b"/>"].concat();
    let mut reader = Reader::from_reader(&tag[..]);
    let Event::Empty(tag) = reader.read_event().map_err(xml_error)? else {
        return Err(not_well_formed("malformed XML declaration"));
    };
    // Each in its place: `standalone` only after an encoding, as the old parser (rxml) had it.
    let mut expected = ["version", "encoding", "standalone"].into_iter();
    for attribute in attributes(&tag) {
        let (key, value) = attribute?;
        let allowed = match expected.next().filter(|name| name.as_bytes() == key) {
            Some("version") => value == "1.0",
            Some("encoding") => value.eq_ignore_ascii_case("utf-8"),
            Some("standalone") => value == "yes",
            _ => false,
        };
        if !allowed {
            return Err(not_well_formed(
                "malformed XML declaration (XML 1.0 in UTF-8 only)",
            ));
        }
    }
    match expected.len() {
        3 => Err(not_well_formed("the XML declaration has no version")),
        _ => Ok(()),
    }
}

/// A tag's attributes in order, raw names and values as the application sees them, each checked to
/// follow white space (quick-xml also takes `a='1'b='2'`). Not checked for duplicates here: quick-xml's
/// check compares each name with every one before it, so the callers check (`open` by expanded name).
fn attributes<'t>(
    tag: &'t BytesStart<'_>,
) -> impl Iterator<Item = Result<(&'t [u8], String), TransportError>> + 't {
    let mut attributes = tag.attributes();
    attributes.with_checks(false);
    attributes.map(move |attribute| {
        let attribute = attribute.map_err(|e| not_well_formed(&e.to_string()))?;
        let key = attribute.key.into_inner();
        let at = key.as_ptr() as usize - tag.as_ptr() as usize;
        if !at
            .checked_sub(1)
            .and_then(|i| tag.get(i))
            .copied()
            .is_some_and(super::scan::is_space)
        {
            return Err(not_well_formed("attributes must be separated by white space"));
        }
        Ok((key, attribute_value(&attribute.value)?.into_owned()))
    })
}

/// Resolves a start tag: adds its declarations to `scope`, then resolves its name and attributes.
fn open(tag: &BytesStart<'_>, scope: &mut Scope<'_>) -> Result<Opened, TransportError> {
    let (prefix, name) = qualified_name(tag.name().into_inner())?;
    valid_name(name)?;
    // Declarations first: they apply to the tag's own name and attributes.
    let tag_start = scope.declared.len();
    let mut plain = Vec::new();
    for (count, attribute) in attributes(tag).enumerate() {
        if count == MAX_ATTRIBUTES {
            return Err(TransportError::PolicyViolation);
        }
        let (key, value) = attribute?;
        match qualified_name(key)? {
            (None, "xmlns") => scope.declare(tag_start, None, value)?,
            (Some("xmlns"), declared) => {
                valid_name(declared)?;
                scope.declare(tag_start, Some(declared), value)?
            }
            (attr_prefix, attr_name) => plain.push((attr_prefix, attr_name, value)),
        }
    }
    let mut attrs = AttrMap::new();
    for (attr_prefix, attr_name, value) in plain {
        let namespace = match attr_prefix {
            None => Namespace::NONE,
            Some(prefix) => Namespace::from(scope.resolve(Some(prefix))?.to_owned()),
        };
        let attr_name = NcName::try_from(attr_name).map_err(|e| not_well_formed(&e.to_string()))?;
        // Unique by expanded name (which also catches the same name written twice).
        if attrs.insert(namespace, attr_name, value).is_some() {
            return Err(not_well_formed("duplicate attribute"));
        }
    }
    Ok(Opened {
        namespace: scope.resolve(prefix)?.to_owned(),
        name: name.to_owned(),
        attrs,
    })
}

/// A name split at its colon; the prefix is checked to be an XML name without colons, the local part
/// is left to the caller (an attribute's is checked as it becomes an `NcName`).
fn qualified_name(raw: &[u8]) -> Result<(Option<&str>, &str), TransportError> {
    if raw.len() > MAX_TOKEN_LENGTH {
        return Err(TransportError::PolicyViolation);
    }
    let name = utf8(raw)?;
    match name.split_once(':') {
        Some((prefix, local)) => {
            valid_name(prefix)?;
            Ok((Some(prefix), local))
        }
        None => Ok((None, name)),
    }
}

/// An XML name without colons.
fn valid_name(name: &str) -> Result<(), TransportError> {
    rxml::strings::validate_ncname(name).map_err(|e| not_well_formed(&e.to_string()))
}

/// An attribute value as the application sees it: references resolved, literal white space (a CR LF
/// pair counting once) turned into spaces, every character checked.
fn attribute_value(raw: &[u8]) -> Result<Cow<'_, str>, TransportError> {
    if raw.len() > MAX_TOKEN_LENGTH {
        return Err(TransportError::PolicyViolation);
    }
    let text = utf8(raw)?;
    // Most values hold nothing to turn or check: known in one vector scan.
    if !any_byte(raw, |b| (b < 0x20) | (b == b'<') | (b == b'&') | (b == 0xef)) {
        return Ok(Cow::Borrowed(text));
    }
    if raw.contains(&b'<') {
        return Err(not_well_formed("'<' in an attribute value"));
    }
    let spaced: Cow<'_, str> = match raw.iter().any(|&b| matches!(b, b'\t' | b'\n' | b'\r')) {
        false => Cow::Borrowed(text),
        true => Cow::Owned(
            normalize_line_ends(text)
                .chars()
                .map(|c| if matches!(c, '\t' | '\n') { ' ' } else { c })
                .collect(),
        ),
    };
    let value = match spaced.contains('&') {
        false => spaced,
        true => Cow::Owned(unescape(&spaced)?.into_owned()),
    };
    valid_chars(&value)?;
    Ok(value)
}

/// Resolves the references in `raw`: the five predefined entities and character references.
fn unescape(raw: &str) -> Result<Cow<'_, str>, TransportError> {
    let text = quick_xml::escape::unescape(raw).map_err(|error| match error {
        quick_xml::escape::EscapeError::UnrecognizedEntity(..) => {
            TransportError::RestrictedXml("undeclared entity".into())
        }
        other => not_well_formed(&other.to_string()),
    })?;
    valid_chars(&text)?;
    Ok(text)
}

/// Appends character data (`cdata`: a CDATA section's), checked and with its line ends normalized, to
/// the pending text.
fn push_text(text: &mut String, raw: &[u8], cdata: bool) -> Result<(), TransportError> {
    let chunk = utf8(raw)?;
    // Most text holds nothing to normalize or check: known in one vector scan.
    if !any_byte(raw, |b| (b < 0x20) | (b == b']') | (b == 0xef)) {
        text.push_str(chunk);
        return Ok(());
    }
    if !cdata && memchr::memmem::find(raw, b"]]>").is_some() {
        return Err(not_well_formed("']]>' in character data"));
    }
    let chunk = normalize_line_ends(chunk);
    valid_chars(&chunk)?;
    text.push_str(&chunk);
    Ok(())
}

/// Gives the pending text to the innermost open element.
fn flush_text(stack: &mut [Element], text: &mut String) {
    if text.is_empty() {
        return;
    }
    if let Some(parent) = stack.last_mut() {
        parent.append_text(std::mem::take(text));
    }
}

/// CR LF and lone CR as LF (XML 1.0, end-of-line handling).
fn normalize_line_ends(text: &str) -> Cow<'_, str> {
    match text.contains('\r') {
        false => Cow::Borrowed(text),
        true => Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n")),
    }
}

fn valid_chars(text: &str) -> Result<(), TransportError> {
    rxml::strings::validate_cdata(text).map_err(|e| not_well_formed(&e.to_string()))
}

fn utf8(bytes: &[u8]) -> Result<&str, TransportError> {
    std::str::from_utf8(bytes).map_err(|_| not_well_formed("invalid UTF-8"))
}

fn not_well_formed(what: &str) -> TransportError {
    TransportError::NotWellFormed(what.to_owned())
}

fn xml_error(error: quick_xml::Error) -> TransportError {
    match error {
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(..)) => {
            TransportError::RestrictedXml("undeclared entity".into())
        }
        other => not_well_formed(&other.to_string()),
    }
}
