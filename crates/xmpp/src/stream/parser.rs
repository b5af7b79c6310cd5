//! Incremental parser turning bytes into stream events, shared by both transports.
//!
//! rxml's namespace-resolving `Parser` does the XML work (restricted XML: no DTD, comments, PIs or custom
//! entities; full namespace well-formedness). Elements are built here without declared prefixes, so
//! re-serializing them can never trip minidom's prefix assertions and always yields namespace-complete XML.

use minidom::Element;
use rxml::error::EndOrError;
use rxml::{AttrMap, Event, Namespace, Options, Parse, Parser, WithOptions};

use super::{Inbound, StreamHeader, TransportError};
use crate::ns;

/// Deeper trees are refused: minidom drops and serializes elements recursively.
const MAX_DEPTH: usize = 64;

/// The longest name or attribute value, in bytes (longer text is simply read in pieces). rxml reserves
/// this much per connection up front, so it is kept near what the protocol needs: a full JID is at most
/// 3,071 bytes (RFC 7622), and its default of 8 KiB was the largest single item of an idle session's
/// memory.
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
    /// Boxed: rxml's parser state is large and transports are moved around. `None` while the connection
    /// idles (see [`StreamParser::hibernate`]); the next bytes make it again.
    parser: Option<Box<Parser>>,
    /// TCP: the stream header as it arrived (with the XML declaration before it), to bring a new parser
    /// to where the dropped one was: inside the stream's root, with the prefixes the header declared.
    header: Vec<u8>,
    input: Vec<u8>,
    pos: usize,
    /// Open elements below the stream root (TCP) or the document root (WebSocket).
    stack: Vec<Element>,
    state: State,
    /// No top-level element in progress: whitespace here is dropped without reaching the parser.
    idle: bool,
    /// Bytes consumed by the current top-level element (or stream header).
    element_bytes: usize,
    max_element_bytes: usize,
    /// Bytes of the last complete top-level element (for the byte-rate shaper).
    last_element_bytes: usize,
}

fn new_parser() -> Parser {
    Parser::with_options(Options {
        max_token_length: MAX_TOKEN_LENGTH,
        ..Options::default()
    })
}

impl StreamParser {
    pub(crate) fn new(framing: Framing, max_element_bytes: usize) -> Self {
        StreamParser {
            framing,
            parser: Some(Box::new(new_parser())),
            header: Vec::new(),
            input: Vec::new(),
            pos: 0,
            stack: Vec::new(),
            state: match framing {
                Framing::Stream => State::Header,
                Framing::Fragments => State::Open,
            },
            // Whitespace before a header is dropped too: a keep-alive may precede the restarted stream.
            idle: true,
            element_bytes: 0,
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

    /// Between top-level elements with every byte read, nothing needs the parser's scratch buffer (up to
    /// `MAX_TOKEN_LENGTH`) or the input buffer until the next read: both go back to the allocator, so a
    /// connection that waits holds neither. They come back with the next bytes.
    fn rest(&mut self) {
        if let Some(parser) = &mut self.parser {
            parser.release_temporaries();
        }
        self.input = Vec::new();
    }

    /// For a connection that has been quiet a while: between top-level elements with every byte read,
    /// the parser is dropped with everything it holds (about 1.5 KB: rxml's parser, its namespace stack,
    /// the stream header's prefixes) and so is the element stack's buffer. The next bytes that are not
    /// whitespace make a new parser; over TCP it first parses the stream header again, so that it is
    /// where the old one was. Not done after every read: that would parse the header once a stanza.
    /// Returns whether it dropped the parser now.
    pub(crate) fn hibernate(&mut self) -> bool {
        if self.parser.is_none() || self.state != State::Open || !self.idle || self.pos < self.input.len() {
            return false;
        }
        self.parser = None;
        self.stack = Vec::new();
        self.input = Vec::new();
        self.pos = 0;
        true
    }

    /// Whether the parser is dropped until the next bytes (for tests).
    #[cfg(test)]
    pub(crate) fn is_hibernating(&self) -> bool {
        self.parser.is_none()
    }

    /// A parser in the state the dropped one was in between top-level elements.
    fn revive(&self) -> Result<Box<Parser>, TransportError> {
        let mut parser = Box::new(new_parser());
        if self.framing == Framing::Fragments {
            return Ok(parser);
        }
        let mut header = &self.header[..];
        loop {
            match parser.parse(&mut header, false) {
                Ok(Some(Event::StartElement(..))) if header.is_empty() => return Ok(parser),
                Ok(Some(Event::XmlDeclaration(..))) => {}
                // The same bytes parsed before: anything else is a defect here, not the peer's.
                _ => {
                    return Err(TransportError::NotWellFormed(
                        "the stream header could not be parsed again".into(),
                    ))
                }
            }
        }
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
                self.stack.clear();
                self.input = Vec::new();
                self.pos = 0;
                Err(err)
            }
        }
    }

    fn parse_next(&mut self) -> Result<Option<Inbound>, TransportError> {
        loop {
            if self.idle {
                while self.pos < self.input.len() && is_xml_space(self.input[self.pos]) {
                    self.pos += 1;
                }
            }
            if self.pos < self.input.len() {
                self.idle = false;
            }
            if self.parser.is_none() {
                if self.pos == self.input.len() {
                    self.release_input();
                    return Ok(None);
                }
                self.parser = Some(self.revive()?);
            }
            let parser = self.parser.as_mut().expect("made above");
            // Parsed even when the input is used up: `<x/>` yields its end event from rxml's queue.
            let mut rest = &self.input[self.pos..];
            let before = rest.len();
            let result = parser.parse(&mut rest, false);
            let used = before - rest.len();
            if self.state == State::Header && self.framing == Framing::Stream {
                self.header
                    .extend_from_slice(&self.input[self.pos..self.pos + used]);
            }
            self.pos += used;
            self.element_bytes += used;
            // Checked before the event is used, so no element grows past the limit (plus one read).
            if self.element_bytes > self.max_element_bytes {
                return Err(TransportError::PolicyViolation);
            }
            match result {
                Ok(Some(event)) => {
                    if let Some(item) = self.handle(event)? {
                        return Ok(Some(item));
                    }
                }
                Err(EndOrError::NeedMoreData) => {
                    if self.pos == self.input.len() {
                        self.release_input();
                        if self.idle {
                            self.rest();
                        }
                        return Ok(None);
                    }
                    if used == 0 {
                        return Ok(None);
                    }
                }
                Err(EndOrError::Error(err)) => return Err(xml_error(err)),
                // Only reported with at_eof, which is never passed.
                Ok(None) => return Err(TransportError::Closed),
            }
        }
    }

    fn handle(&mut self, event: Event) -> Result<Option<Inbound>, TransportError> {
        match event {
            Event::XmlDeclaration(..) => Ok(None),
            Event::StartElement(_, (namespace, name), attrs) => {
                if self.state == State::Header {
                    return self.stream_header(&namespace, name.as_str(), &attrs).map(Some);
                }
                if self.framing == Framing::Fragments && self.stack.is_empty() && namespace == ns::STREAM {
                    // An RFC 6120 stream header over WebSocket (pre-RFC 7395 framing).
                    return Err(TransportError::InvalidNamespace(namespace.to_string()));
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(TransportError::TooDeep(MAX_DEPTH));
                }
                // Unqualified elements belong to the stream's content namespace: TCP clients declare it only
                // on the stream header, some WebSocket clients omit it.
                let ns = if namespace.is_none() {
                    ns::CLIENT
                } else {
                    namespace.as_str()
                };
                let mut element = Element::bare(name.as_str(), ns);
                *element.attrs_mut() = attrs;
                self.stack.push(element);
                Ok(None)
            }
            Event::Text(_, text) => match self.stack.last_mut() {
                Some(parent) => {
                    parent.append_text(text);
                    Ok(None)
                }
                // Stream level (TCP): whitespace was skipped before parsing, so this is real character data.
                None if text.bytes().all(is_xml_space) => Ok(None),
                None => Err(TransportError::NotWellFormed(
                    "character data at the stream level".into(),
                )),
            },
            Event::EndElement(_) => {
                let Some(element) = self.stack.pop() else {
                    self.state = State::Closed;
                    return Ok(Some(Inbound::Close));
                };
                if let Some(parent) = self.stack.last_mut() {
                    parent.append_child(element);
                    return Ok(None);
                }
                self.last_element_bytes = self.element_bytes;
                self.element_bytes = 0;
                self.idle = true;
                Ok(Some(match self.framing {
                    Framing::Stream => Inbound::Stanza(element),
                    Framing::Fragments => {
                        // Each element is a document of its own: the next one needs a fresh parser.
                        if let Some(parser) = &mut self.parser {
                            **parser = new_parser();
                        }
                        fragment(element)
                    }
                }))
            }
        }
    }

    fn stream_header(
        &mut self,
        namespace: &Namespace<'static>,
        name: &str,
        attrs: &AttrMap,
    ) -> Result<Inbound, TransportError> {
        if *namespace != ns::STREAM || name != "stream" {
            return Err(TransportError::InvalidNamespace(format!("{{{namespace}}}{name}")));
        }
        self.state = State::Open;
        self.idle = true;
        self.element_bytes = 0;
        self.header.shrink_to_fit();
        Ok(Inbound::Open(header(attrs)))
    }
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

fn is_xml_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn xml_error(err: rxml::Error) -> TransportError {
    match err {
        // rxml's own token/event length caps: an oversized name, attribute value or tag.
        rxml::Error::RestrictedXml("long name or reference" | "event too long") => {
            TransportError::PolicyViolation
        }
        rxml::Error::RestrictedXml(what) => TransportError::RestrictedXml(what.into()),
        rxml::Error::UndeclaredEntity => TransportError::RestrictedXml("undeclared entity".into()),
        // `<!` not followed by `--` or `[CDATA[`: a DTD declaration (`<!DOCTYPE`, `<!ENTITY`, …).
        rxml::Error::InvalidSyntax("malformed cdata or comment section start") => {
            TransportError::RestrictedXml("DTD".into())
        }
        other => TransportError::NotWellFormed(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
