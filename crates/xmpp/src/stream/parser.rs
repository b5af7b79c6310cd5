//! Incremental parser turning bytes into stream events, shared by both transports.
//!
//! Two steps. `scan` follows the bytes as they arrive and says where the current top-level item (the
//! stream header, a stanza, the stream's close) ends, refusing early what restricted XML forbids and
//! what is nested too deeply; once an item is complete, `tree` builds it with quick-xml and checks the
//! rest of well-formedness and namespaces. Elements are built without declared prefixes, so
//! re-serializing them can never trip minidom's prefix assertions and always yields namespace-complete
//! XML. Between items the parser holds no buffer: only the declarations the TCP stream header made.

mod scan;
mod tree;

use minidom::Element;
use rxml::{AttrMap, Namespace};

use super::{Inbound, StreamHeader, TransportError};
use crate::ns;
use scan::{Item, Scanner};

/// Deeper trees are refused: minidom drops and serializes elements recursively.
const MAX_DEPTH: usize = 64;

/// The longest name or attribute value, in bytes (text may be longer). A full JID is at most 3,071 bytes
/// (RFC 7622).
const MAX_TOKEN_LENGTH: usize = 4096;

/// How top-level elements are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// RFC 6120: one `<stream:stream>` document whose children are the stanzas.
    Stream,
    /// RFC 7395: every top-level element is a document of its own (`<open/>`, stanzas, `<close/>`).
    Fragments,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// TCP: waiting for `<stream:stream>`.
    Header,
    Open,
    /// TCP: `</stream:stream>` seen.
    Closed,
    Failed,
}

pub(crate) struct StreamParser {
    framing: Framing,
    /// TCP: the declarations of the stream header, in scope for every stanza.
    scope: Vec<tree::Binding>,
    /// TCP: the stream header's name as written (`stream:stream`), which its end tag must repeat.
    header_name: Box<[u8]>,
    input: Vec<u8>,
    /// Where the current top-level item starts in `input` (or, between items, the first unread byte).
    pos: usize,
    scanner: Scanner,
    state: State,
    /// No top-level item in progress: whitespace here is dropped without being scanned.
    idle: bool,
    /// An XML declaration may come next: at the start of the TCP stream or of any WebSocket element.
    declaration_allowed: bool,
    max_element_bytes: usize,
    /// Bytes of the last complete top-level element (for the byte-rate shaper).
    last_element_bytes: usize,
}

impl StreamParser {
    pub(crate) fn new(framing: Framing, max_element_bytes: usize) -> Self {
        StreamParser {
            framing,
            scope: Vec::new(),
            header_name: Box::default(),
            input: Vec::new(),
            pos: 0,
            scanner: Scanner::new(),
            state: match framing {
                Framing::Stream => State::Header,
                Framing::Fragments => State::Open,
            },
            // Whitespace before a header is dropped too: a keep-alive may precede the restarted stream.
            idle: true,
            declaration_allowed: true,
            max_element_bytes,
            last_element_bytes: 0,
        }
    }

    /// Bytes the last complete top-level element took on the wire.
    pub(crate) fn last_element_bytes(&self) -> usize {
        self.last_element_bytes
    }

    pub(crate) fn set_max_element_bytes(&mut self, bytes: usize) {
        self.max_element_bytes = bytes;
    }

    pub(crate) fn max_element_bytes(&self) -> usize {
        self.max_element_bytes
    }

    /// TCP: `</stream:stream>` was received.
    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Expect a fresh stream header, discarding unparsed input (after STARTTLS it must not be trusted).
    pub(crate) fn reset(&mut self) {
        *self = StreamParser::new(self.framing, self.max_element_bytes);
    }

    /// Expect a fresh stream header, keeping unparsed input: a client may pipeline the new header right
    /// behind the element that ended the old stream.
    pub(crate) fn restart(&mut self) {
        let rest = self.input.split_off(self.pos);
        self.reset();
        self.input = rest;
    }

    pub(crate) fn feed(&mut self, data: &[u8]) {
        if self.pos == self.input.len() {
            self.release_input();
        } else if self.pos > 0 {
            // Only the item in progress is kept: what came before it is parsed.
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(data);
    }

    /// Drops consumed input; a buffer grown by one large frame is not kept for the connection's life.
    fn release_input(&mut self) {
        if self.input.capacity() > 64 * 1024 {
            self.input = Vec::new();
        } else {
            self.input.clear();
        }
        self.pos = 0;
    }

    /// The next complete event from the input fed so far, or `None` if more input is needed.
    pub(crate) fn next(&mut self) -> Result<Option<Inbound>, TransportError> {
        match self.state {
            State::Failed => return Err(TransportError::NotWellFormed("stream already failed".into())),
            State::Closed => return Ok(None),
            State::Header | State::Open => {}
        }
        match self.parse_next() {
            Ok(item) => Ok(item),
            Err(err) => {
                self.state = State::Failed;
                self.input = Vec::new();
                self.pos = 0;
                Err(err)
            }
        }
    }

    fn parse_next(&mut self) -> Result<Option<Inbound>, TransportError> {
        loop {
            if self.idle {
                while self.pos < self.input.len() && scan::is_space(self.input[self.pos]) {
                    self.pos += 1;
                }
                if self.pos == self.input.len() {
                    // Between items with every byte read: no buffer is held until the next read.
                    self.input = Vec::new();
                    self.pos = 0;
                    return Ok(None);
                }
                if self.input[self.pos] != b'<' {
                    return Err(TransportError::NotWellFormed(
                        "character data at the stream level".into(),
                    ));
                }
                self.idle = false;
                self.scanner = Scanner::new();
            }
            // The TCP header is an item of its own; over WebSocket the top element's start tag is
            // looked at before the rest arrives (an RFC 6120 header there never ends).
            let stop_at_start_tag = self.state == State::Header || self.framing == Framing::Fragments;
            let item = &self.input[self.pos..];
            let found = self
                .scanner
                .scan(item, stop_at_start_tag, self.declaration_allowed)?;
            // Checked before the item is used, so no element grows past the limit (plus one read).
            if self.scanner.offset() > self.max_element_bytes {
                return Err(TransportError::PolicyViolation);
            }
            let Some((kind, len)) = found else {
                return Ok(None);
            };
            if kind == Item::StartTag && self.state == State::Open {
                // WebSocket: the top element's start tag, its element still open. Only one named like
                // a stream header is parsed now (such a header never ends); every element's namespace
                // is checked once it is built.
                if looks_like_stream_header(&item[..len]) {
                    self.check_fragment_start(&item[..len])?;
                }
                continue;
            }
            let start = self.pos;
            self.pos += len;
            self.idle = true;
            if let Some(inbound) = self.complete(kind, start, len)? {
                return Ok(Some(inbound));
            }
        }
    }

    /// A complete top-level item of `len` bytes at `start` of the input.
    fn complete(&mut self, kind: Item, start: usize, len: usize) -> Result<Option<Inbound>, TransportError> {
        let bytes = &self.input[start..start + len];
        match (kind, self.state) {
            (Item::Declaration, _) => {
                tree::declaration(bytes)?;
                self.declaration_allowed = false;
                Ok(None)
            }
            (Item::StartTag, _) => self.stream_header(start, len).map(Some),
            (Item::EndTag, State::Open) if self.framing == Framing::Stream => {
                let name = bytes[2..len - 1].trim_ascii_end();
                if *name != *self.header_name {
                    return Err(TransportError::NotWellFormed(
                        "the end tag does not match the stream header".into(),
                    ));
                }
                self.state = State::Closed;
                Ok(Some(Inbound::Close))
            }
            (Item::EndTag, _) => Err(TransportError::NotWellFormed(
                "end tag without a start tag".into(),
            )),
            (Item::Element, State::Header) => {
                Err(TransportError::NotWellFormed("expected the stream header".into()))
            }
            (Item::Element, _) => {
                let element = tree::element(bytes, &self.scope)?;
                self.last_element_bytes = len;
                Ok(Some(match self.framing {
                    Framing::Stream => Inbound::Stanza(element),
                    Framing::Fragments => {
                        // Each element is a document of its own, which may start with a declaration.
                        self.declaration_allowed = true;
                        if element.has_ns(ns::STREAM) {
                            return Err(TransportError::InvalidNamespace(ns::STREAM.into()));
                        }
                        fragment(element)
                    }
                }))
            }
        }
    }

    /// WebSocket: an RFC 6120 stream header (pre-RFC 7395 framing) is refused as soon as it is seen.
    /// Over WebSocket no element may be in the streams namespace.
    fn check_fragment_start(&self, tag: &[u8]) -> Result<(), TransportError> {
        let (opened, _) = tree::start_tag(tag)?;
        match opened.namespace == ns::STREAM {
            true => Err(TransportError::InvalidNamespace(opened.namespace)),
            false => Ok(()),
        }
    }

    fn stream_header(&mut self, start: usize, len: usize) -> Result<Inbound, TransportError> {
        let bytes = &self.input[start..start + len];
        let (opened, declared) = tree::start_tag(bytes)?;
        if opened.namespace != ns::STREAM || opened.name != "stream" {
            return Err(TransportError::InvalidNamespace(format!(
                "{{{}}}{}",
                opened.namespace, opened.name
            )));
        }
        self.header_name = tag_name(bytes).into();
        self.scope = declared;
        self.state = State::Open;
        self.declaration_allowed = false;
        Ok(Inbound::Open(header(&opened.attrs)))
    }
}

/// A start tag's name as written (`stream:stream` of `<stream:stream xmlns:stream='…'>`).
fn tag_name(tag: &[u8]) -> &[u8] {
    let name = &tag[1..];
    let end = name
        .iter()
        .position(|&b| scan::is_space(b) || b == b'>' || b == b'/')
        .unwrap_or(name.len());
    &name[..end]
}

/// Whether a start tag's local name is `stream` (`<stream:stream …>`, `<stream …>`).
fn looks_like_stream_header(tag: &[u8]) -> bool {
    let name = tag_name(tag);
    name == b"stream" || name.ends_with(b":stream")
}

fn fragment(element: Element) -> Inbound {
    if element.is("open", ns::FRAMING) {
        Inbound::Open(header(element.attrs()))
    } else if element.is("close", ns::FRAMING) {
        Inbound::Close
    } else {
        Inbound::Stanza(element)
    }
}

fn header(attrs: &AttrMap) -> StreamHeader {
    let plain = |name: &str| attrs.get(Namespace::none(), name).cloned();
    StreamHeader {
        to: plain("to"),
        from: plain("from"),
        version: plain("version"),
        lang: attrs.get(Namespace::xml(), "lang").cloned(),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rxml_agreement;
