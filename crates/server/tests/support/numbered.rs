//! Numbered chat messages for the no-loss tests: sent in a burst with a stream-management request for
//! acknowledgement, and counted by number wherever they arrive, so a test can tell "every acknowledged
//! message once" from "lost" and "twice".

use super::xmpp::{between, Client};
use std::collections::HashMap;
use std::ops::Range;

/// Messages whose ids are `{tag}{n}` and bodies `{tag}-{n}`, saved to history.
#[derive(Clone, Copy)]
pub struct Numbered(pub &'static str);

impl Numbered {
    pub fn message(self, to: &str, n: usize) -> String {
        let tag = self.0;
        format!(
            r#"<message xmlns="jabber:client" type="chat" to="{to}" id="{tag}{n}"><body>{tag}-{n}</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
        )
    }

    /// The start of a body of these messages, to wait for one.
    pub fn body_prefix(self) -> String {
        format!("<body>{}-", self.0)
    }

    /// Counts each numbered body in `frames`.
    pub fn count(self, frames: &[String], counts: &mut HashMap<usize, usize>) {
        let prefix = self.body_prefix();
        for frame in frames {
            let mut rest = frame.as_str();
            while let Some(at) = rest.find(&prefix) {
                rest = &rest[at + prefix.len()..];
                let n: usize = rest[..rest.find('<').unwrap()].parse().unwrap();
                *counts.entry(n).or_default() += 1;
            }
        }
    }

    /// Sends messages `range` from `client` in one write with a request for acknowledgement; returns the
    /// `h` the server answered.
    pub async fn send_acknowledged(self, client: &mut Client, to: &str, range: Range<usize>) -> usize {
        let mut burst = String::new();
        for n in range {
            burst.push_str(&self.message(to, n));
        }
        burst.push_str(r#"<r xmlns="urn:xmpp:sm:3"/>"#);
        client.send(&burst).await;
        let ack = client.expect("<a ").await;
        between(&ack, r#"h=""#, "\"").parse().unwrap()
    }

    /// Reads `client` until every message of `range` has arrived.
    pub async fn receive_all(
        self,
        client: &mut Client,
        range: Range<usize>,
        counts: &mut HashMap<usize, usize>,
    ) {
        let prefix = self.body_prefix();
        while !range.clone().all(|n| counts.contains_key(&n)) {
            let frame = client.expect(&prefix).await;
            self.count(&[frame], counts);
        }
    }
}
