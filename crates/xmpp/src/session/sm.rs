//! Stream management (XEP-0198) bookkeeping for one session: what the client sent (our `h`), what we sent
//! that the client has not acknowledged yet, and the arithmetic of `<a h="…"/>`.
//!
//! The SDKs' "sent" status rides on this: they count our acks. The session only processes the next
//! inbound element after the previous one is durable, so an `<a/>` answering `<r/>` acknowledges stored
//! messages only.

use crate::ns;
use crate::registry::SessionHandle;
use crate::shared::Shared;
use crate::xml::{self, Element};
use palaver_proto::random_hex_token;
use std::collections::VecDeque;

#[derive(Debug, PartialEq, Eq)]
pub enum SmError {
    /// The client acknowledged more than we sent (XEP-0198 `handled-count-too-high`).
    HandledCountTooHigh { h: u32, sent: u32 },
}

/// What the session should do after sending a stanza.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterSend {
    Nothing,
    /// Ask the client for an ack now, to keep the queue short.
    RequestAck,
    /// Too much is unacknowledged: the client is not keeping up.
    Overflow,
}

#[derive(Debug)]
pub struct StreamManagement {
    enabled: bool,
    /// Stanzas received since `<enable/>` (our `h`).
    inbound: u32,
    /// Stanzas sent since `<enable/>`.
    sent: u32,
    /// The client's last `h`.
    acked: u32,
    unacked: VecDeque<Element>,
    max_unacked: usize,
    /// Ask for an ack every this many unacknowledged stanzas.
    request_every: usize,
}

impl StreamManagement {
    pub fn new(max_unacked: usize) -> StreamManagement {
        StreamManagement {
            enabled: false,
            inbound: 0,
            sent: 0,
            acked: 0,
            unacked: VecDeque::new(),
            max_unacked,
            request_every: 5,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Turns counting on; returns the `<enabled/>` answer (with the resumption id when given).
    pub fn enable(&mut self, resume: Option<(&str, u64)>) -> Element {
        self.enabled = true;
        let mut enabled = xml::element("enabled", ns::SM);
        if let Some((id, max)) = resume {
            xml::set_attr(&mut enabled, "id", id);
            xml::set_attr(&mut enabled, "resume", "true");
            xml::set_attr(&mut enabled, "max", max.to_string());
        }
        enabled
    }

    /// Counts one received stanza (iq, message or presence).
    pub fn received(&mut self) {
        if self.enabled {
            self.inbound = self.inbound.wrapping_add(1);
        }
    }

    pub fn inbound_count(&self) -> u32 {
        self.inbound
    }

    /// `<a h="…"/>` for the stanzas received so far.
    pub fn ack(&self) -> Element {
        xml::with_attr(xml::element("a", ns::SM), "h", self.inbound.to_string())
    }

    pub fn request() -> Element {
        xml::element("r", ns::SM)
    }

    /// Records a stanza we just sent.
    pub fn sent(&mut self, stanza: &Element) -> AfterSend {
        if !self.enabled {
            return AfterSend::Nothing;
        }
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(stanza.clone());
        if self.unacked.len() > self.max_unacked {
            AfterSend::Overflow
        } else if self.unacked.len().is_multiple_of(self.request_every) {
            AfterSend::RequestAck
        } else {
            AfterSend::Nothing
        }
    }

    /// Applies the client's `h`: drops what it has handled.
    pub fn acknowledged(&mut self, h: u32) -> Result<(), SmError> {
        let newly = h.wrapping_sub(self.acked);
        let outstanding = self.sent.wrapping_sub(self.acked);
        if newly > outstanding {
            return Err(SmError::HandledCountTooHigh { h, sent: self.sent });
        }
        for _ in 0..newly {
            self.unacked.pop_front();
        }
        self.acked = h;
        Ok(())
    }

    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Everything still unacknowledged, oldest first, leaving the queue empty.
    pub fn take_unacked(&mut self) -> Vec<Element> {
        self.unacked.drain(..).collect()
    }

    /// Resumption: applies the client's `h` and returns what must be sent again. The resent stanzas stay
    /// queued (they count as sent once more).
    pub fn resume(&mut self, h: u32) -> Result<Vec<Element>, SmError> {
        self.acknowledged(h)?;
        let again: Vec<Element> = self.unacked.iter().cloned().collect();
        Ok(again)
    }

    /// Queues a stanza that could not be sent while the connection was down (it is sent on resumption).
    pub fn hold(&mut self, stanza: Element) -> AfterSend {
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(stanza);
        if self.unacked.len() > self.max_unacked {
            AfterSend::Overflow
        } else {
            AfterSend::Nothing
        }
    }
}

/// The `<enabled/>` for stream management requested inside a Bind2 request (the session starts counting
/// when it goes online); records the resumption id when resumption was asked for.
pub fn inline_enabled(shared: &Shared, handle: &SessionHandle, resume: bool) -> Element {
    let mut scratch = StreamManagement::new(0);
    if resume {
        let id = random_hex_token(16);
        handle.set_resume_id(Some(id.clone()));
        scratch.enable(Some((&id, shared.config.resume_window.as_secs())))
    } else {
        scratch.enable(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> Element {
        xml::with_attr(xml::element("message", ns::CLIENT), "id", id)
    }

    #[test]
    fn counts_only_after_enable_and_answers_with_h() {
        let mut sm = StreamManagement::new(10);
        sm.received();
        assert_eq!(sm.inbound_count(), 0);
        let enabled = sm.enable(None);
        assert_eq!(xml::to_string(&enabled), "<enabled xmlns='urn:xmpp:sm:3'/>");
        for _ in 0..3 {
            sm.received();
        }
        assert_eq!(xml::to_string(&sm.ack()), "<a xmlns='urn:xmpp:sm:3' h='3'/>");
    }

    #[test]
    fn acks_trim_the_queue_and_too_high_is_an_error() {
        let mut sm = StreamManagement::new(10);
        sm.enable(Some(("abc", 300)));
        for id in ["1", "2", "3"] {
            assert_eq!(sm.sent(&message(id)), AfterSend::Nothing);
        }
        sm.acknowledged(2).unwrap();
        assert_eq!(sm.unacked_len(), 1);
        assert_eq!(
            sm.acknowledged(5),
            Err(SmError::HandledCountTooHigh { h: 5, sent: 3 })
        );
        let again = sm.resume(2).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attr("id"), Some("3"));
        sm.acknowledged(3).unwrap();
        assert!(sm.take_unacked().is_empty());
    }

    #[test]
    fn asks_for_acks_and_reports_overflow() {
        let mut sm = StreamManagement::new(6);
        sm.enable(None);
        let outcomes: Vec<AfterSend> = (0..7).map(|i| sm.sent(&message(&i.to_string()))).collect();
        assert_eq!(outcomes[4], AfterSend::RequestAck);
        assert_eq!(outcomes[6], AfterSend::Overflow);
    }

    #[test]
    fn counters_wrap_around() {
        let mut sm = StreamManagement::new(10);
        sm.enable(None);
        sm.sent = u32::MAX - 1;
        sm.acked = u32::MAX - 1;
        sm.sent(&message("a"));
        sm.sent(&message("b"));
        sm.acknowledged(0).unwrap();
        assert_eq!(sm.unacked_len(), 0);
    }
}
