//! Many logged-in clients in one process: each is a reader task (feeding the shared [`Recorder`]) and a
//! writer task fed by a channel, so the load scheduler hands a stanza to a client without waiting.
//! Logging them in follows the open-loop clock too.

use crate::link::{Endpoint, Reader, Writer};
use crate::login::{announce, login, Login};
use crate::progress::Progress;
use crate::recorder::{Recorder, Reply};
use crate::schedule::OpenLoop;
use crate::stats::Latency;
use crate::target::Target;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Writes a writer task gathers into one system call at most.
const WRITE_BATCH: usize = 256;

pub enum Command {
    Send(Vec<u8>),
    Close,
}

/// A connected client.
pub struct Client {
    tx: mpsc::UnboundedSender<Command>,
    reader: JoinHandle<()>,
}

impl Client {
    /// Starts the reader and writer tasks of a connection.
    pub fn attach(reader: Reader, writer: Writer, recorder: Arc<Recorder>) -> Client {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(writer, rx, recorder.clone()));
        let replies = tx.clone();
        let reader = tokio::spawn(read_loop(reader, recorder, replies));
        Client { tx, reader }
    }

    /// Queues bytes to send; false if the client is gone.
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        self.tx.send(Command::Send(bytes)).is_ok()
    }
}

async fn write_loop(mut writer: Writer, mut rx: mpsc::UnboundedReceiver<Command>, recorder: Arc<Recorder>) {
    let mut batch = Vec::with_capacity(8);
    while let Some(command) = rx.recv().await {
        let mut closing = false;
        match command {
            Command::Send(bytes) => batch.push(bytes),
            Command::Close => closing = true,
        }
        while !closing && batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(Command::Send(bytes)) => batch.push(bytes),
                Ok(Command::Close) => closing = true,
                Err(_) => break,
            }
        }
        if !batch.is_empty() && writer.write_all(&batch).await.is_err() {
            recorder.error();
            return;
        }
        batch.clear();
        if closing {
            writer.close().await;
            return;
        }
    }
}

async fn read_loop(mut reader: Reader, recorder: Arc<Recorder>, replies: mpsc::UnboundedSender<Command>) {
    while reader
        .read(|stanza| {
            if let Reply::Send(answer) = recorder.on_stanza(stanza) {
                let _ = replies.send(Command::Send(answer));
            }
        })
        .await
    {}
}

/// Clients by number; a failed login leaves a gap.
pub struct Swarm {
    pub clients: Vec<Option<Client>>,
    pub recorder: Arc<Recorder>,
}

impl Swarm {
    pub fn connected(&self) -> usize {
        self.clients.iter().filter(|c| c.is_some()).count()
    }

    /// Queues bytes on client `n`; false (and an error counted) if it is not connected.
    pub fn send(&self, n: usize, bytes: Vec<u8>) -> bool {
        match self.clients.get(n).and_then(Option::as_ref) {
            Some(client) if client.send(bytes) => true,
            _ => {
                self.recorder.error();
                false
            }
        }
    }

    /// Closes every stream and waits (a bounded time) for the server to close its side.
    pub async fn close(self) {
        let mut readers = Vec::new();
        for client in self.clients.into_iter().flatten() {
            let _ = client.tx.send(Command::Close);
            readers.push(client.reader);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for reader in readers {
            let abort = reader.abort_handle();
            if tokio::time::timeout_at(deadline, reader).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// How logging in went.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub latency: Latency,
    pub failures: u64,
    /// The first few failure messages.
    pub failure_samples: Vec<String>,
    pub elapsed: Duration,
}

/// What each client logs in with.
#[derive(Clone)]
pub enum Secrets {
    Passwords,
    /// REST session tokens, one per account.
    Tokens(Arc<Vec<String>>),
}

/// Logs in `count` clients as accounts `0..count` (reused in turn), starting them at `rate` per second
/// whatever the server's pace; each sends initial presence when `presence` is set. Latency is from
/// each login's scheduled start to its bind (and presence echo).
pub async fn log_in(
    target: Arc<Target>,
    count: usize,
    rate: f64,
    presence: bool,
    secrets: Secrets,
    recorder: Arc<Recorder>,
    progress: &Progress,
) -> (Swarm, LoginOutcome) {
    let start = Instant::now();
    let schedule = OpenLoop::with_total(start, rate, count as u64);
    let mut tasks = JoinSet::new();
    let mut sent = 0;
    let mut clients: Vec<Option<Client>> = (0..count).map(|_| None).collect();
    let mut outcome = LoginOutcome {
        latency: Latency::new(),
        failures: 0,
        failure_samples: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut take = |done: (usize, anyhow::Result<Client>, Duration), outcome: &mut LoginOutcome| {
        let (n, result, took) = done;
        match result {
            Ok(client) => {
                outcome.latency.record(took.as_micros() as u64);
                clients[n] = Some(client);
            }
            Err(e) => {
                outcome.failures += 1;
                if outcome.failure_samples.len() < 5 {
                    outcome.failure_samples.push(format!("{e:#}"));
                }
            }
        }
        progress.inc();
    };
    loop {
        let batch = tokio::select! {
            batch = schedule.next_batch(sent) => batch,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                take(done.expect("login task"), &mut outcome);
                continue;
            }
        };
        if batch.is_empty() {
            break;
        }
        for i in batch.clone() {
            let due = schedule.due_at(i);
            let (target, recorder, secrets) = (target.clone(), recorder.clone(), secrets.clone());
            tasks.spawn(async move {
                let n = i as usize;
                let result = log_in_one(&target, n, presence, &secrets, recorder).await;
                (n, result, due.elapsed())
            });
        }
        sent = batch.end;
    }
    while let Some(done) = tasks.join_next().await {
        take(done.expect("login task"), &mut outcome);
    }
    outcome.elapsed = start.elapsed();
    (Swarm { clients, recorder }, outcome)
}

/// One login, bounded to 60 s.
pub async fn log_in_one(
    target: &Target,
    n: usize,
    presence: bool,
    secrets: &Secrets,
    recorder: Arc<Recorder>,
) -> anyhow::Result<Client> {
    let work = async {
        let mut link = target.endpoint.connect(n).await?;
        let username = target.username(n);
        let secret = match secrets {
            Secrets::Passwords => target.password(n).to_owned(),
            Secrets::Tokens(tokens) => tokens[n % tokens.len()].clone(),
        };
        login(
            &mut link,
            &Login {
                domain: &target.domain,
                username: &username,
                secret: &secret,
                mechanism: target.mechanism,
            },
        )
        .await?;
        if presence {
            announce(&mut link).await?;
        }
        let (reader, writer) = link.split();
        Ok(Client::attach(reader, writer, recorder))
    };
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("login timed out")))
}

/// Connects `count` clients to the bare TCP relay.
pub async fn connect_relay(
    endpoint: &Endpoint,
    count: usize,
    recorder: Arc<Recorder>,
) -> anyhow::Result<Swarm> {
    let mut clients = Vec::with_capacity(count);
    for n in 0..count {
        let stream = crate::relay::connect(endpoint, n as u32).await?;
        let (read, write) = stream.into_split();
        clients.push(Some(Client::attach(
            Reader::Relay(read, Default::default()),
            Writer::Relay(write),
            recorder.clone(),
        )));
    }
    Ok(Swarm { clients, recorder })
}
