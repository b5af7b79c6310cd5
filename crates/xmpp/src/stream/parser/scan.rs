//! Finds where a top-level item of the stream ends, in bytes that arrive in pieces.
//!
//! A stanza is parsed once it is complete (`tree.rs`), so something must say when it is. The scanner
//! follows only what decides that: tags and their nesting, quoted attribute values (which may hold `>`)
//! and CDATA sections (which may hold anything). It resumes where it stopped when more bytes come, so
//! each byte is looked at once however the element is split, and it refuses what restricted XML forbids
//! (comments, processing instructions, DTDs) and over-deep nesting as soon as it sees them, before the
//! element is complete. Everything else about well-formedness is the tree builder's to check.

use super::MAX_DEPTH;
use crate::stream::TransportError;

/// How a top-level item ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Item {
    /// A whole element, from its start tag to its end tag (or an empty-element tag).
    Element,
    /// A start tag at the top level that the caller asked to stop at (the TCP stream header, or a
    /// WebSocket element's start tag, whose scan goes on with the next call).
    StartTag,
    /// An end tag at the top level (the TCP stream's close, or a stray one).
    EndTag,
    /// An XML declaration (`<?xml ...?>`), where the caller allows one.
    Declaration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    /// Character data inside an element, up to the next `<`.
    Content,
    /// Just after a `<`.
    Open,
    /// Inside a start tag, `quote` when inside a quoted attribute value.
    StartTag { quote: Option<u8> },
    /// Inside an end tag.
    EndTag,
    /// Just after `<!`: a CDATA section or something restricted XML forbids.
    Bang,
    /// Inside a CDATA section.
    CData,
    /// Inside an XML declaration.
    Declaration,
}

/// Where the scan of one top-level item stands.
#[derive(Clone, Debug)]
pub(super) struct Scanner {
    lex: Lex,
    /// Bytes of the item scanned so far.
    offset: usize,
    /// Open elements of the item.
    depth: usize,
}

const CDATA_OPEN: &[u8] = b"<![CDATA[";

impl Scanner {
    pub(super) fn new() -> Scanner {
        Scanner {
            lex: Lex::Open,
            offset: 0,
            depth: 0,
        }
    }

    /// Bytes of the current item scanned so far.
    pub(super) fn offset(&self) -> usize {
        self.offset
    }

    /// Scans `item` (the bytes of the current item received so far, from its first byte, which the caller
    /// has checked is `<`) from where the last call stopped. Returns the item's kind and length once it
    /// is complete; `None` when more bytes are needed. `stop_at_start_tag`: a start tag at the top level
    /// ends the item (the stream header); `declaration_allowed`: the item may be an XML declaration.
    pub(super) fn scan(
        &mut self,
        item: &[u8],
        stop_at_start_tag: bool,
        declaration_allowed: bool,
    ) -> Result<Option<(Item, usize)>, TransportError> {
        if self.offset == 0 {
            // Past the `<` the caller found.
            self.offset = 1;
            self.lex = Lex::Open;
        }
        loop {
            let rest = &item[self.offset.min(item.len())..];
            match self.lex {
                Lex::Content => match memchr::memchr(b'<', rest) {
                    Some(at) => {
                        self.offset += at + 1;
                        self.lex = Lex::Open;
                    }
                    None => {
                        self.offset = item.len();
                        return Ok(None);
                    }
                },
                Lex::Open => {
                    let Some(&first) = rest.first() else {
                        return Ok(None);
                    };
                    match first {
                        b'/' => {
                            self.offset += 1;
                            self.lex = Lex::EndTag;
                        }
                        b'!' => self.lex = Lex::Bang,
                        b'?' => {
                            // Only `<?xml` and a space, at the start of a document, is a declaration.
                            let lead = &item[self.offset - 1..];
                            let wanted = b"<?xml ";
                            let seen = lead.len().min(wanted.len());
                            let matches = lead[..seen]
                                .iter()
                                .zip(wanted)
                                .enumerate()
                                .all(|(i, (&b, &w))| b == w || (i == 5 && is_space(b)));
                            if declaration_allowed && self.depth == 0 && matches {
                                if seen < wanted.len() {
                                    return Ok(None);
                                }
                                self.offset += wanted.len() - 1;
                                self.lex = Lex::Declaration;
                            } else {
                                return Err(TransportError::RestrictedXml("processing instruction".into()));
                            }
                        }
                        _ => self.lex = Lex::StartTag { quote: None },
                    }
                }
                Lex::StartTag { quote: Some(quote) } => match memchr::memchr(quote, rest) {
                    Some(at) => {
                        self.offset += at + 1;
                        self.lex = Lex::StartTag { quote: None };
                    }
                    None => {
                        self.offset = item.len();
                        return Ok(None);
                    }
                },
                Lex::StartTag { quote: None } => match memchr::memchr3(b'>', b'"', b'\'', rest) {
                    Some(at) if rest[at] == b'>' => {
                        let end = self.offset + at + 1;
                        self.offset = end;
                        // `/>`, the slash maybe at the end of the previous read.
                        let empty = item[end - 2] == b'/' && end >= 3;
                        if empty {
                            if self.depth == 0 {
                                return Ok(Some((Item::Element, end)));
                            }
                            self.lex = Lex::Content;
                        } else {
                            self.depth += 1;
                            if self.depth > MAX_DEPTH {
                                return Err(TransportError::TooDeep(MAX_DEPTH));
                            }
                            self.lex = Lex::Content;
                            if self.depth == 1 && stop_at_start_tag {
                                // The scan goes on from here if the caller calls again.
                                return Ok(Some((Item::StartTag, end)));
                            }
                        }
                    }
                    Some(at) => {
                        self.offset += at + 1;
                        self.lex = Lex::StartTag {
                            quote: Some(rest[at]),
                        };
                    }
                    None => {
                        self.offset = item.len();
                        return Ok(None);
                    }
                },
                Lex::EndTag => match memchr::memchr(b'>', rest) {
                    Some(at) => {
                        let end = self.offset + at + 1;
                        self.offset = end;
                        if self.depth == 0 {
                            return Ok(Some((Item::EndTag, end)));
                        }
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Ok(Some((Item::Element, end)));
                        }
                        self.lex = Lex::Content;
                    }
                    None => {
                        self.offset = item.len();
                        return Ok(None);
                    }
                },
                Lex::Bang => {
                    // `self.offset` is at the `!`: compare what has come of `<![CDATA[`.
                    let lead = &item[self.offset - 1..];
                    let seen = lead.len().min(CDATA_OPEN.len());
                    if lead[..seen] != CDATA_OPEN[..seen] {
                        let what = match lead.get(2) {
                            Some(b'-') => "comment",
                            _ => "DTD",
                        };
                        return Err(TransportError::RestrictedXml(what.into()));
                    }
                    if seen < CDATA_OPEN.len() {
                        return Ok(None);
                    }
                    if self.depth == 0 {
                        return Err(TransportError::NotWellFormed(
                            "character data at the top level".into(),
                        ));
                    }
                    self.offset += CDATA_OPEN.len() - 1;
                    self.lex = Lex::CData;
                }
                Lex::CData => match memchr::memmem::find(rest, b"]]>") {
                    Some(at) => {
                        self.offset += at + 3;
                        self.lex = Lex::Content;
                    }
                    None => {
                        // The end marker may be arriving split: look at the last two bytes again.
                        self.offset = item.len().saturating_sub(2).max(self.offset);
                        return Ok(None);
                    }
                },
                Lex::Declaration => match memchr::memmem::find(rest, b"?>") {
                    Some(at) => {
                        let end = self.offset + at + 2;
                        self.offset = end;
                        return Ok(Some((Item::Declaration, end)));
                    }
                    None => {
                        self.offset = item.len().saturating_sub(1).max(self.offset);
                        return Ok(None);
                    }
                },
            }
        }
    }
}

pub(super) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}
