//! A streaming scanner that cuts an XMPP byte stream (RFC 6120 over TCP) into top-level stanzas without
//! building a tree: it tracks tag depth, skips quoted attribute values, declarations and comments, and
//! treats `<stream:stream ...>` as the stream header. What the load generator needs from a stanza (its
//! kind, `type`, `id`, our body) is then read with plain byte searches.

/// One piece of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// `<stream:stream ...>` (the opening tag only).
    StreamOpen(&'a [u8]),
    /// A complete top-level element.
    Stanza(&'a [u8]),
    /// `</stream:stream>`.
    StreamClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    TagStart,
    Tag { closing: bool },
    Quoted { quote: u8, closing: bool },
    Skip,
}

/// Incremental framer: push bytes as they arrive, then take the complete items.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Start of the current tag.
    tag_start: usize,
    /// Start of the current top-level stanza.
    stanza_start: usize,
    depth: u32,
    state: State,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    pub fn new() -> Framer {
        Framer {
            buf: Vec::new(),
            scanned: 0,
            tag_start: 0,
            stanza_start: 0,
            depth: 0,
            state: State::Text,
        }
    }

    /// The read buffer to fill: call `filled(n)` after writing `n` bytes into the returned slice.
    pub fn spare(&mut self, at_least: usize) -> &mut [u8] {
        let len = self.buf.len();
        self.buf.resize(len + at_least, 0);
        &mut self.buf[len..]
    }

    /// Keeps `n` bytes of what `spare` handed out and drops the rest.
    pub fn filled(&mut self, at_least: usize, n: usize) {
        let len = self.buf.len() - at_least + n;
        self.buf.truncate(len);
    }

    /// Gives back buffer space beyond what the partial stanza needs.
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet part of a complete item.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.stanza_start.min(self.buf.len())
    }

    /// Calls `each` for every complete item, in order, then forgets them.
    pub fn drain(&mut self, mut each: impl FnMut(Item<'_>)) {
        let mut consumed = 0; // everything before this has been handed out
        let mut i = self.scanned;
        while i < self.buf.len() {
            let byte = self.buf[i];
            match self.state {
                State::Text => {
                    if byte == b'<' {
                        self.tag_start = i;
                        self.state = State::TagStart;
                    }
                }
                State::TagStart => {
                    self.state = match byte {
                        b'/' => State::Tag { closing: true },
                        b'?' | b'!' => State::Skip,
                        _ => State::Tag { closing: false },
                    }
                }
                State::Skip => {
                    if byte == b'>' {
                        self.state = State::Text;
                        if self.depth <= 1 {
                            consumed = i + 1;
                        }
                    }
                }
                State::Quoted { quote, closing } => {
                    if byte == quote {
                        self.state = State::Tag { closing };
                    }
                }
                State::Tag { closing } => match byte {
                    b'"' | b'\'' => self.state = State::Quoted { quote: byte, closing },
                    b'>' => {
                        self.state = State::Text;
                        let tag = self.tag_start..i + 1;
                        let self_closing = self.buf[i - 1] == b'/';
                        if closing {
                            self.depth = self.depth.saturating_sub(1);
                            if self.depth == 1 {
                                each(Item::Stanza(&self.buf[self.stanza_start..i + 1]));
                                consumed = i + 1;
                            } else if self.depth == 0 {
                                each(Item::StreamClose);
                                consumed = i + 1;
                            }
                        } else if self.buf[tag.clone()].starts_with(b"<stream:stream") {
                            self.depth = 1;
                            each(Item::StreamOpen(&self.buf[tag]));
                            consumed = i + 1;
                        } else if self_closing {
                            if self.depth <= 1 {
                                each(Item::Stanza(&self.buf[tag]));
                                consumed = i + 1;
                            }
                        } else {
                            if self.depth <= 1 {
                                self.stanza_start = self.tag_start;
                                // A top-level element outside a stream header still counts as a stanza.
                                self.depth = self.depth.max(1);
                            }
                            self.depth += 1;
                        }
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        // Forget what was handed out; keep the partial stanza and tag.
        if consumed > 0 {
            self.buf.drain(..consumed);
            self.tag_start = self.tag_start.saturating_sub(consumed);
            self.stanza_start = self.stanza_start.saturating_sub(consumed);
            i -= consumed;
        }
        self.scanned = i;
    }
}

/// The value of attribute `name` in the element's opening tag (either quote style).
pub fn attr<'a>(stanza: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let end = stanza.iter().position(|&b| b == b'>').unwrap_or(stanza.len());
    let tag = &stanza[..end];
    let name = name.as_bytes();
    let mut from = 0;
    while let Some(at) = find(&tag[from..], name) {
        let at = from + at;
        let after = at + name.len();
        let boundary = at > 0 && tag[at - 1].is_ascii_whitespace();
        if boundary && tag.get(after) == Some(&b'=') {
            let quote = *tag.get(after + 1)?;
            let value_start = after + 2;
            let len = tag[value_start..].iter().position(|&b| b == quote)?;
            return Some(&tag[value_start..value_start + len]);
        }
        from = after;
    }
    None
}

/// The text between the first `<{name}>` and `</{name}>`.
pub fn child_text<'a>(stanza: &'a [u8], open: &str, close: &str) -> Option<&'a [u8]> {
    let start = find(stanza, open.as_bytes())? + open.len();
    let len = find(&stanza[start..], close.as_bytes())?;
    Some(&stanza[start..start + len])
}

pub fn starts_with(stanza: &[u8], prefix: &str) -> bool {
    stanza.starts_with(prefix.as_bytes())
}

pub fn contains(stanza: &[u8], needle: &str) -> bool {
    find(stanza, needle.as_bytes()).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(framer: &mut Framer) -> Vec<String> {
        let mut out = Vec::new();
        framer.drain(|item| {
            out.push(match item {
                Item::StreamOpen(tag) => format!("OPEN {}", String::from_utf8_lossy(tag)),
                Item::Stanza(s) => String::from_utf8_lossy(s).into_owned(),
                Item::StreamClose => "CLOSE".to_owned(),
            })
        });
        out
    }

    const STREAM: &str = concat!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' from='localhost' id='a>b' version='1.0'>",
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
        "<message to='a@b' title=\"x > y\"><body>1 2</body><x/></message>",
        "<presence/>",
        "<!-- note --><iq type='result' id='q'/>",
        "</stream:stream>"
    );

    #[test]
    fn a_stream_is_cut_into_its_stanzas_whole() {
        let mut framer = Framer::new();
        framer.push(STREAM.as_bytes());
        let got = items(&mut framer);
        assert_eq!(got.len(), 6, "{got:#?}");
        assert!(got[0].starts_with("OPEN <stream:stream ") && got[0].ends_with("version='1.0'>"));
        assert!(got[1].starts_with("<stream:features>") && got[1].ends_with("</stream:features>"));
        assert_eq!(
            got[2],
            "<message to='a@b' title=\"x > y\"><body>1 2</body><x/></message>"
        );
        assert_eq!(got[3], "<presence/>");
        assert_eq!(got[4], "<iq type='result' id='q'/>");
        assert_eq!(got[5], "CLOSE");
        assert_eq!(framer.pending(), 0);
    }

    #[test]
    fn any_split_of_the_bytes_gives_the_same_items() {
        let mut whole = Framer::new();
        whole.push(STREAM.as_bytes());
        let expected = items(&mut whole);
        for chunk in [1, 2, 3, 7, 13, 64] {
            let mut framer = Framer::new();
            let mut got = Vec::new();
            for piece in STREAM.as_bytes().chunks(chunk) {
                framer.push(piece);
                got.extend(items(&mut framer));
            }
            assert_eq!(got, expected, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_restarted_stream_opens_again_at_the_top() {
        let mut framer = Framer::new();
        framer.push(b"<stream:stream id='1'><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><stream:stream id='2'><stream:features/>");
        let got = items(&mut framer);
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got[2], "OPEN <stream:stream id='2'>");
        assert_eq!(got[3], "<stream:features/>");
    }

    #[test]
    fn websocket_style_frames_are_stanzas_on_their_own() {
        let mut framer = Framer::new();
        framer.push(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/><message><body>x</body></message>");
        assert_eq!(
            items(&mut framer),
            vec![
                "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>".to_owned(),
                "<message><body>x</body></message>".to_owned()
            ]
        );
    }

    #[test]
    fn attributes_and_text_are_read_from_a_stanza() {
        let s = br#"<message from='a@b/r' xml:type="x" type="error" id='m 1'><body>12 34</body></message>"#;
        assert_eq!(attr(s, "type"), Some(&b"error"[..]));
        assert_eq!(attr(s, "id"), Some(&b"m 1"[..]));
        assert_eq!(attr(s, "to"), None);
        assert_eq!(child_text(s, "<body>", "</body>"), Some(&b"12 34"[..]));
        assert!(starts_with(s, "<message"));
        assert!(contains(s, "12 34") && !contains(s, "56"));
    }
}
