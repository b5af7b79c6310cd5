//! The online loop of a bound session: inbound stanzas go to the feature modules, queued stanzas from the
//! router go out, the server pings idle clients, and stream management counts both ways. When the link
//! drops and the client enabled resumption, the session waits for it; when it ends for good, whatever was
//! not delivered goes back to the router (other sessions or offline storage).

use crate::context::{Context, Reply, Sender, SessionState};
use crate::dispatch::Dispatcher;
use crate::metrics::SessionMetric;
use crate::ns;
use crate::parsers::message::worth_keeping;
use crate::parsers::sm;
use crate::queue::QueueReceiver;
use crate::registry::{Command, ResumeRequest, SessionHandle};
use crate::sasl::Authenticated;
use crate::session::negotiate::Bound;
use crate::session::sm::{AfterSend, StreamManagement};
use crate::shared::Shared;
use crate::stanza;
use crate::stream::stream_error;
use crate::stream::{Inbound, Transport};
use crate::xml::{self, Element};
use palaver_proto::random_hex_token;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often a session that logged in with a REST session token checks that the session still lives,
/// keeping it alive.
const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Why the online loop stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed the stream.
    Closed,
    /// The connection broke (resumable if stream management allows).
    LinkLost,
    /// The server ended it (error sent, or shutting down).
    Terminated,
}

/// What the session hands the dispatcher.
enum Work {
    /// An inbound stanza, its `from` stamped.
    Stanza(Element),
    /// Stanzas wait in the offline store (`Command::OfflineWaiting`).
    OfflineWaiting,
}

/// A token bucket: sustained `rate` stanzas per second with bursts up to `burst`.
struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// How long to wait before something costing `cost` tokens may be processed.
    fn take(&mut self, cost: f64) -> Duration {
        if self.rate.is_infinite() {
            // The shaper is off.
            return Duration::ZERO;
        }
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        self.tokens -= cost;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

pub struct Session {
    pub shared: Arc<Shared>,
    dispatcher: Arc<Dispatcher>,
    /// Who this session's stanzas are from, as the handlers see it.
    sender: Arc<Sender>,
    /// What the modules remember for this session.
    state: SessionState,
    transport: Option<Transport>,
    pub handle: SessionHandle,
    rx: QueueReceiver<Command>,
    pub auth: Authenticated,
    pub full_jid: String,
    pub bare_jid: String,
    sm: StreamManagement,
    last_inbound: Instant,
    /// Our outstanding ping: its id and when it was sent.
    ping: Option<(String, Instant)>,
    rate: RateLimiter,
    /// The byte-rate shaper: inbound bytes per second.
    bytes: RateLimiter,
    next_token_check: Instant,
    /// Holds this session in the sessions gauge for as long as it lives.
    _counted: SessionMetric,
}

/// Serves a bound session until it ends. Not an async fn: a future keeps the arguments it was called with
/// for as long as it runs, beside any local they were moved into, so the transport and the binding would
/// stay in every idle session's task next to the session that took them. The session is built at once;
/// its loop runs on the heap, apart from what the negotiation needed.
pub fn run(
    shared: Arc<Shared>,
    dispatcher: Arc<Dispatcher>,
    transport: Transport,
    bound: Bound,
) -> impl Future<Output = ()> + Send {
    let mut session = Session::online(shared, dispatcher, transport, bound);
    Box::pin(async move { session.run().await })
}

impl Session {
    fn online(
        shared: Arc<Shared>,
        dispatcher: Arc<Dispatcher>,
        transport: Transport,
        bound: Bound,
    ) -> Session {
        let domain = shared.config.domain.clone();
        let full_jid = bound.handle.full_jid(&domain);
        let bare_jid = bound.auth.user.bare(&domain);
        let mut session = Session {
            dispatcher,
            sender: Arc::new(Sender {
                user: bound.auth.user,
                full_jid: full_jid.clone(),
                bare_jid: bare_jid.clone(),
                handle: bound.handle.clone(),
            }),
            state: SessionState::default(),
            full_jid,
            bare_jid,
            rate: RateLimiter::new(shared.config.stanza_rate, shared.config.stanza_burst),
            bytes: RateLimiter::new(shared.config.byte_rate, shared.config.byte_burst),
            sm: StreamManagement::new(shared.config.max_unacked),
            transport: Some(transport),
            handle: bound.handle,
            rx: bound.rx,
            auth: bound.auth,
            last_inbound: Instant::now(),
            ping: None,
            // The login itself used the token and found its session live.
            next_token_check: Instant::now() + TOKEN_CHECK_INTERVAL,
            shared,
            _counted: bound.counted,
        };
        if bound.inline_sm {
            // Already answered inside <bound/>; counting starts now.
            let resume = session
                .handle
                .resume_id()
                .map(|id| (id, session.shared.config.resume_window.as_secs()));
            session
                .sm
                .enable(resume.as_ref().map(|(id, max)| (id.as_str(), *max)));
        }
        session
    }

    /// The online loop: serves the connection, hibernates through a lost link that may be resumed, and
    /// finishes.
    async fn run(&mut self) {
        tracing::debug!(jid = %self.full_jid, "session online");
        loop {
            let end = self.serve().await;
            if end == End::LinkLost && self.handle.resume_id().is_some() && Box::pin(self.hibernate()).await {
                continue;
            }
            break;
        }
        Box::pin(self.finish()).await;
    }

    /// Sends a stanza (or holds it for resumption while the link is down), with SM bookkeeping.
    pub async fn send(&mut self, stanza: Element) {
        self.send_many(vec![stanza], false).await;
    }

    /// Sends stanzas in one write with one flush, with SM bookkeeping; with `ask_ack`, a request for an
    /// acknowledgement goes at the end of the same write when anything is outstanding. While the link is
    /// down they are held for resumption.
    async fn send_many(&mut self, stanzas: Vec<Element>, ask_ack: bool) {
        if stanzas.is_empty() {
            return;
        }
        if self.transport.is_none() {
            for stanza in stanzas {
                if self.sm.hold(stanza) == AfterSend::Overflow {
                    self.handle.kill();
                }
            }
            return;
        }
        // Counted before the write: if the link breaks during it, they are already held for resumption
        // (or re-routed) like any unacknowledged stanza.
        let mut request = false;
        for stanza in &stanzas {
            match self.sm.sent(stanza) {
                AfterSend::Nothing => {}
                AfterSend::RequestAck => request = true,
                AfterSend::Overflow => {
                    tracing::warn!(jid = %self.full_jid, "too many unacknowledged stanzas; closing");
                    self.handle.kill();
                }
            }
        }
        let request = self.sm.is_enabled() && (request || (ask_ack && self.sm.unacked_len() > 0));
        let mut write = stanzas;
        if request {
            write.push(StreamManagement::request());
        }
        let transport = self.transport.as_mut().expect("checked above");
        if let Err(error) = transport.send_all(&write).await {
            tracing::debug!(%error, jid = %self.full_jid, "send failed; link lost");
            self.transport = None;
            if !self.sm.is_enabled() {
                for stanza in write {
                    self.undelivered(stanza).await;
                }
            }
        }
    }

    /// Asks the client to acknowledge what it has, when anything is outstanding. Called at the end of each
    /// burst of deliveries: the SDKs only ack when asked, and an unacknowledged message would be kept
    /// again for the next session if the client closed now.
    pub async fn request_ack(&mut self) {
        if self.sm.is_enabled() && self.sm.unacked_len() > 0 {
            self.send_nonza(StreamManagement::request()).await;
        }
    }

    /// Writes `first` and whatever else is queued for this session (up to a burst) with one flush. At
    /// the end of a burst the client is asked to acknowledge: the SDKs only ack when asked, and an
    /// unacknowledged message would be kept again for the next session if the client closed now.
    async fn deliver_queued(&mut self, first: Element) {
        const BURST: usize = 64;
        let mut burst = Vec::with_capacity(8);
        let mut resume = None;
        let mut offline_waiting = false;
        let mut next = Some(first);
        while let Some(stanza) = next.take() {
            if self.state.first_showing(&stanza) {
                burst.push(stanza);
            }
            if burst.len() >= BURST {
                break;
            }
            match self.rx.try_recv() {
                Some(Command::Deliver(stanza)) => next = Some(*stanza),
                Some(Command::Resume(request)) => resume = Some(*request),
                Some(Command::OfflineWaiting) => offline_waiting = true,
                None => {}
            }
        }
        let end_of_burst = resume.is_none() && self.rx.is_empty();
        self.send_many(burst, end_of_burst).await;
        // Both rare, and boxed: inline, their state (reading the offline store, several KB) would be
        // part of this future, which is boxed and copied for every delivery.
        if let Some(request) = resume {
            Box::pin(self.adopt(request)).await;
        }
        if offline_waiting {
            Box::pin(self.offline_waiting()).await;
        }
    }

    /// Sends an element that stream management does not count.
    async fn send_nonza(&mut self, element: Element) {
        if let Some(transport) = self.transport.as_mut() {
            if transport.send(&element).await.is_err() {
                self.transport = None;
            }
        }
    }

    /// Holds the next read back while the connection is over its stanza or byte rate (ejabberd's and
    /// Prosody's shapers: a flooder is slowed down, not cut off).
    async fn shape(&mut self, bytes: usize) {
        let stanza_wait = self.rate.take(1.0);
        let byte_wait = self.bytes.take(bytes as f64);
        let wait = stanza_wait.max(byte_wait);
        if wait.is_zero() {
            return;
        }
        let which = if byte_wait > stanza_wait {
            palaver_core::metrics::limit::XMPP_BYTES
        } else {
            palaver_core::metrics::limit::XMPP_STANZAS
        };
        metrics::counter!(palaver_core::metrics::LIMITED, palaver_core::metrics::label::LIMIT => which)
            .increment(1);
        tokio::time::sleep(wait).await;
    }

    fn tick_every(&self) -> Duration {
        let config = &self.shared.config;
        (config.ping_interval.min(config.ping_timeout) / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// Everything but the wait itself is boxed (`Box::pin`): an idle session's task then holds only the
    /// small state of this loop, not the largest stanza handler's, which would cost every idle
    /// connection kilobytes.
    async fn serve(&mut self) -> End {
        let mut shutdown = self.shared.shutdown.clone();
        let mut tick = tokio::time::interval(self.tick_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Made once, not on every turn of the loop: each one made registers a waiter and each one
        // dropped takes it off again (perf showed 2 % of a core in 1-1 chat).
        let handle = self.handle.clone();
        let killed = handle.killed();
        let shutting_down = shutdown.changed();
        tokio::pin!(killed, shutting_down);
        loop {
            let Some(transport) = self.transport.as_mut() else {
                return End::LinkLost;
            };
            tokio::select! {
                biased;
                _ = &mut shutting_down => {
                    Box::pin(self.terminate("system-shutdown", "The server is shutting down")).await;
                    return End::Terminated;
                }
                _ = &mut killed => {
                    let reason = self.handle.kill_reason().unwrap_or("The session was ended by the server");
                    Box::pin(self.terminate("policy-violation", reason)).await;
                    return End::Terminated;
                }
                inbound = transport.next() => match inbound {
                    Ok(Inbound::Stanza(element)) => {
                        self.last_inbound = Instant::now();
                        let size = transport.last_stanza_bytes();
                        self.shape(size).await;
                        if let Some(end) = Box::pin(self.inbound(element)).await {
                            return end;
                        }
                    }
                    Ok(Inbound::Close) => {
                        if let Some(transport) = self.transport.as_mut() {
                            let _ = transport.send_close().await;
                        }
                        self.transport = None;
                        return End::Closed;
                    }
                    Ok(Inbound::Open(_)) => {
                        Box::pin(self.terminate("invalid-xml", "Unexpected stream restart")).await;
                        return End::Terminated;
                    }
                    Err(error) => {
                        if let Some(condition) = error.stream_condition() {
                            Box::pin(self.terminate(condition, &error.to_string())).await;
                            return End::Terminated;
                        }
                        tracing::debug!(%error, jid = %self.full_jid, "connection lost");
                        self.transport = None;
                        return End::LinkLost;
                    }
                },
                command = self.rx.recv() => match command {
                    Some(Command::Deliver(stanza)) => Box::pin(self.deliver_queued(*stanza)).await,
                    Some(Command::Resume(request)) => Box::pin(self.adopt(*request)).await,
                    Some(Command::OfflineWaiting) => Box::pin(self.offline_waiting()).await,
                    None => return End::Terminated,
                },
                _ = tick.tick() => {
                    if let Some(end) = Box::pin(self.on_tick()).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Sends a stream error and closes the stream.
    async fn terminate(&mut self, condition: &str, text: &str) {
        if self.sm.unacked_len() > 0 {
            self.collect_acks(Duration::from_millis(1500)).await;
        }
        if let Some(mut transport) = self.transport.take() {
            let _ = transport.send(&stream_error(condition, text)).await;
            let _ = transport.send_close().await;
        }
    }

    /// Before the server closes a stream: asks the client to acknowledge what it has and waits briefly for
    /// the answer, so nothing it already has is kept again for its next session.
    async fn collect_acks(&mut self, wait: Duration) {
        self.send_nonza(StreamManagement::request()).await;
        let deadline = Instant::now() + wait;
        while self.sm.unacked_len() > 0 {
            let Some(transport) = self.transport.as_mut() else {
                return;
            };
            let next = match tokio::time::timeout_at(deadline, transport.next()).await {
                Ok(Ok(Inbound::Stanza(element))) => element,
                _ => return,
            };
            if let Ok(sm::A { h }) = sm::A::try_from(next) {
                let _ = self.sm.acknowledged(h);
            }
        }
    }

    /// Idle pings, dead-peer detection and keeping a login token alive.
    async fn on_tick(&mut self) -> Option<End> {
        let now = Instant::now();
        let config = &self.shared.config;
        if let Some((_, sent)) = &self.ping {
            if self.last_inbound > *sent {
                self.ping = None;
            } else if now.duration_since(*sent) >= config.ping_timeout {
                tracing::debug!(jid = %self.full_jid, "no answer to ping; dropping the connection");
                self.transport = None;
                return Some(End::LinkLost);
            }
        } else if now.duration_since(self.last_inbound) >= config.ping_interval {
            let id = format!("ping-{}", random_hex_token(6));
            let mut ping = xml::element("iq", ns::CLIENT);
            xml::set_attr(&mut ping, "type", "get");
            xml::set_attr(&mut ping, "id", id.clone());
            xml::set_attr(&mut ping, "from", config.domain.clone());
            xml::set_attr(&mut ping, "to", self.full_jid.clone());
            ping.append_child(xml::element("ping", ns::PING));
            self.ping = Some((id, now));
            // An iq like any other: the client counts it, so stream management must too.
            self.send(ping).await;
            if self.sm.is_enabled() && self.sm.unacked_len() > 0 {
                self.send_nonza(StreamManagement::request()).await;
            }
        }
        if let Some(session_id) = self.auth.token_session {
            if now >= self.next_token_check {
                self.next_token_check = now + TOKEN_CHECK_INTERVAL;
                match self.shared.core.chat_auth().keep_token_alive(session_id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        self.terminate("not-authorized", "The session token has expired or was destroyed")
                            .await;
                        return Some(End::Terminated);
                    }
                    Err(error) => tracing::warn!(%error, "could not extend the login token"),
                }
            }
        }
        None
    }

    /// One inbound element. Returns Some when the session must end.
    async fn inbound(&mut self, mut element: Element) -> Option<End> {
        if element.has_ns(ns::SM) {
            return self.stream_management(&element).await;
        }
        if element.has_ns(ns::CSI) {
            // XEP-0352: <inactive/> and <active/> mean what markInactive/markActive mean.
            match element.name() {
                "inactive" => self.handle.set_inactive(true),
                "active" => self.handle.set_inactive(false),
                _ => {}
            }
            return None;
        }
        if !stanza::is_stanza(&element) {
            self.terminate("unsupported-stanza-type", "Unknown top-level element")
                .await;
            return Some(End::Terminated);
        }
        self.sm.received();
        // The server vouches for the sender: never trust a client-supplied `from`.
        xml::set_attr(&mut element, "from", self.full_jid.clone());
        if element.name() == "iq" && self.is_pong(&element) {
            return None;
        }
        self.dispatch(Work::Stanza(element)).await;
        None
    }

    /// Hands stanzas kept offline to this session, when it is (still) available.
    async fn offline_waiting(&mut self) {
        if self.state.available {
            self.dispatch(Work::OfflineWaiting).await;
        }
    }

    /// Hands `work` to the dispatcher. The handler gets the sender, this session as the way to answer,
    /// and the session state the modules keep; never the session itself.
    async fn dispatch(&mut self, work: Work) {
        let shared = self.shared.clone();
        let dispatcher = self.dispatcher.clone();
        let sender = self.sender.clone();
        let mut state = std::mem::take(&mut self.state);
        let ctx = Context {
            shared: &shared,
            state: dispatcher.state(),
            sender: &sender,
            session: &mut state,
            reply: self,
        };
        match work {
            Work::Stanza(element) => dispatcher.stanza(ctx, element).await,
            Work::OfflineWaiting => dispatcher.offline_waiting(ctx).await,
        }
        self.state = state;
    }

    /// Any answer to our ping proves the client alive (v3 answers with an error).
    fn is_pong(&mut self, iq: &Element) -> bool {
        let is_answer = matches!(iq.attr("type"), Some("result") | Some("error"));
        match (&self.ping, iq.attr("id")) {
            (Some((id, _)), Some(got)) if is_answer && id == got => {
                self.ping = None;
                true
            }
            _ => false,
        }
    }

    async fn stream_management(&mut self, element: &Element) -> Option<End> {
        match element.name() {
            "r" => self.send_nonza(self.sm.ack()).await,
            "a" => {
                let h = sm::A::try_from(element.clone()).ok().map(|a| a.h);
                match h.map(|h| self.sm.acknowledged(h)) {
                    Some(Ok(())) => {}
                    Some(Err(error)) => {
                        tracing::debug!(?error, jid = %self.full_jid, "bad ack");
                        let mut stream_err =
                            stream_error("undefined-condition", "Acknowledged more than was sent");
                        stream_err.append_child(xml::element("handled-count-too-high", ns::SM));
                        if let Some(mut transport) = self.transport.take() {
                            let _ = transport.send(&stream_err).await;
                            let _ = transport.send_close().await;
                        }
                        return Some(End::Terminated);
                    }
                    None => {}
                }
            }
            "enable" if !self.sm.is_enabled() => {
                let wants_resume = sm::Enable::try_from(element.clone()).is_ok_and(|e| e.resume);
                let enabled = if wants_resume {
                    let id = random_hex_token(16);
                    self.handle.set_resume_id(Some(id.clone()));
                    self.sm
                        .enable(Some((&id, self.shared.config.resume_window.as_secs())))
                } else {
                    self.sm.enable(None)
                };
                self.send_nonza(enabled).await;
            }
            _ => {
                self.send_nonza(crate::session::resume::failed("unexpected-request"))
                    .await
            }
        }
        None
    }

    /// The link is down but the client may resume: wait for it (or for the window to close). Stanzas that
    /// arrive meanwhile are held. True when the session resumed.
    async fn hibernate(&mut self) -> bool {
        let window = self.shared.config.resume_window;
        let deadline = Instant::now() + window;
        let mut shutdown = self.shared.shutdown.clone();
        tracing::debug!(jid = %self.full_jid, ?window, "waiting for resumption");
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return false,
                _ = shutdown.changed() => return false,
                _ = self.handle.killed() => return false,
                command = self.rx.recv() => match command {
                    Some(Command::Deliver(stanza)) => {
                        if self.sm.hold(*stanza) == AfterSend::Overflow {
                            return false;
                        }
                    }
                    Some(Command::Resume(request)) => {
                        self.adopt(*request).await;
                        return self.transport.is_some();
                    }
                    // Held for resumption like any delivery (kept offline again if it never comes).
                    Some(Command::OfflineWaiting) => self.offline_waiting().await,
                    None => return false,
                },
            }
        }
    }

    /// Takes over a resuming client's connection: `<resumed/>`, then everything it has not acknowledged.
    async fn adopt(&mut self, request: ResumeRequest) {
        let ResumeRequest {
            mut transport,
            h,
            previd,
        } = request;
        let resend = match self.sm.resume(h) {
            Ok(resend) => resend,
            Err(_) => {
                let _ = transport
                    .send(&crate::session::resume::failed("unexpected-request"))
                    .await;
                let _ = transport.send_close().await;
                return;
            }
        };
        if let Some(mut old) = self.transport.take() {
            let _ = old.send_close().await;
        }
        transport.set_max_stanza_size(self.shared.config.max_stanza_after_auth);
        let mut resumed = xml::element("resumed", ns::SM);
        xml::set_attr(&mut resumed, "previd", previd);
        xml::set_attr(&mut resumed, "h", self.sm.inbound_count().to_string());
        if transport.send(&resumed).await.is_err() {
            return;
        }
        self.transport = Some(transport);
        self.last_inbound = Instant::now();
        self.ping = None;
        tracing::debug!(jid = %self.full_jid, resent = resend.len(), "session resumed");
        for stanza in resend {
            if let Some(transport) = self.transport.as_mut() {
                if transport.send(&stanza).await.is_err() {
                    self.transport = None;
                }
            }
        }
    }

    /// A stanza this session could not deliver. 1-1 messages fan out to every session of the user, so if
    /// another session is online it has its copy; otherwise the message is kept offline for the next one.
    async fn undelivered(&mut self, stanza: Element) {
        if !worth_keeping(&stanza) {
            return;
        }
        let user = self.auth.user;
        // While the server shuts down every session is on its way out: keep the message regardless.
        let shutting_down = *self.shared.shutdown.borrow();
        let others_online = !shutting_down
            && self
                .shared
                .registry
                .sessions(user)
                .iter()
                .any(|s| s.id != self.handle.id && s.is_available());
        if others_online {
            return;
        }
        let mut kept = stanza;
        if let Err(error) = crate::router::keep_offline(&self.shared, user, &mut kept).await {
            tracing::error!(%error, jid = %self.full_jid, "an undelivered message could not be kept");
        }
    }

    /// Leaves for good: unregister, tell the user's other sessions, and hand back what was not delivered.
    async fn finish(&mut self) {
        self.shared.registry.unregister(&self.handle);
        let was_available = self.state.available;
        if was_available {
            self.handle.set_available(false);
        }
        self.dispatcher
            .session_ended(&self.shared, &self.sender, was_available)
            .await;
        self.rx.close();
        let mut leftovers = self.sm.take_unacked();
        while let Some(command) = self.rx.try_recv() {
            match command {
                Command::Deliver(stanza) => leftovers.push(*stanza),
                Command::Resume(request) => {
                    let mut transport = request.transport;
                    let _ = transport
                        .send(&crate::session::resume::failed("item-not-found"))
                        .await;
                    let _ = transport.send_close().await;
                }
                // They stay in the store for the user's next session.
                Command::OfflineWaiting => {}
            }
        }
        for stanza in leftovers {
            self.undelivered(stanza).await;
        }
        if let Some(mut transport) = self.transport.take() {
            let _ = transport.send_close().await;
        }
        tracing::debug!(jid = %self.full_jid, "session ended");
    }
}

#[async_trait::async_trait]
impl Reply for Session {
    async fn send(&mut self, stanza: Element) {
        Session::send(self, stanza).await
    }

    async fn request_ack(&mut self) {
        Session::request_ack(self).await
    }
}
