//! Offered load in steps: each step sends at a fixed rate for a fixed time on the open-loop clock, then
//! waits for the stragglers (up to a drain period) and tallies deliveries, losses and latency.

use crate::backlog::BacklogProbe;
use crate::report::Step;
use crate::schedule::OpenLoop;
use crate::swarm::Swarm;
use crate::sys::CpuMeter;
use std::time::Duration;
use tokio::time::Instant;

/// How the steps go.
#[derive(Debug, Clone)]
pub struct Steps {
    /// Offered rates in messages per second, tried in order.
    pub rates: Vec<f64>,
    pub step: Duration,
    /// Longest wait for late deliveries after a step.
    pub drain: Duration,
    /// A step with a p99 above this fails.
    pub max_p99_ms: f64,
    /// Stop after the first failing step.
    pub stop_on_failure: bool,
    /// Generator threads, to tell when the generator is the limit.
    pub threads: usize,
    /// The server's backlog, read after each step: a step that leaves more fails.
    pub backlog: Option<BacklogProbe>,
}

impl Steps {
    /// One step of `rate` messages a second for a second, with no bound on latency and up to 15 s for
    /// late deliveries: a run that checks counts (nothing lost), such as the test suite's smoke runs.
    pub fn one_second_at(rate: f64) -> Steps {
        Steps {
            rates: vec![rate],
            step: Duration::from_secs(1),
            drain: Duration::from_secs(15),
            max_p99_ms: f64::INFINITY,
            stop_on_failure: false,
            threads: 1,
            backlog: None,
        }
    }
}

/// Composes send number `seq` due at `due`: which client sends it and its bytes.
pub trait Compose {
    fn compose(&mut self, seq: u64, due: Instant) -> (usize, Vec<u8>);
}

impl<F: FnMut(u64, Instant) -> (usize, Vec<u8>)> Compose for F {
    fn compose(&mut self, seq: u64, due: Instant) -> (usize, Vec<u8>) {
        self(seq, due)
    }
}

/// Runs every step in turn; `on_step` sees each result as it comes.
pub async fn run_steps(
    swarm: &Swarm,
    steps: &Steps,
    compose: &mut impl Compose,
    mut on_step: impl FnMut(&Step),
) -> Vec<Step> {
    let mut results = Vec::new();
    let mut first_seq = 0;
    for &rate in &steps.rates {
        let step = run_step(swarm, steps, rate, first_seq, compose).await;
        first_seq += step.deliveries.sent;
        on_step(&step);
        let failed = !step.passed;
        results.push(step);
        if failed && steps.stop_on_failure {
            break;
        }
    }
    results
}

async fn run_step(
    swarm: &Swarm,
    steps: &Steps,
    rate: f64,
    first_seq: u64,
    compose: &mut impl Compose,
) -> Step {
    let recorder = &swarm.recorder;
    recorder.begin_step(first_seq);
    let (bounces_before, errors_before) = (recorder.bounces(), recorder.errors());
    let cpu = CpuMeter::start();
    let start = Instant::now();
    let schedule = OpenLoop::new(start, rate, steps.step);
    let mut sent = 0;
    let mut max_lag = Duration::ZERO;
    loop {
        let batch = schedule.next_batch(sent).await;
        if batch.is_empty() {
            break;
        }
        max_lag = max_lag.max(schedule.due_at(batch.start).elapsed());
        recorder.sent_up_to(first_seq + batch.end);
        for i in batch.clone() {
            let (client, bytes) = compose.compose(first_seq + i, schedule.due_at(i));
            swarm.send(client, bytes);
        }
        sent = batch.end;
    }
    let sending = start.elapsed();
    let (_, cpu_percent) = cpu.read();
    let range = first_seq..first_seq + sent;
    let drain_until = Instant::now() + steps.drain;
    loop {
        let tally = recorder.tally(range.clone());
        if tally.received >= tally.expected || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deliveries = recorder.tally(range);
    let latency = recorder.step_latency(first_seq).summary();
    let bounces = recorder.bounces() - bounces_before;
    let errors = recorder.errors() - errors_before;
    let (server_backlog, keeping_up) = match &steps.backlog {
        None => (None, true),
        Some(probe) => match probe.read().await {
            Ok(backlog) => (Some(backlog), backlog <= probe.max),
            Err(error) => {
                eprintln!("server backlog unknown: {error:#}");
                (None, false)
            }
        },
    };
    Step {
        offered_rate: rate,
        duration_s: sending.as_secs_f64(),
        deliveries,
        bounces,
        errors,
        delivered_rate: deliveries.received as f64 / sending.as_secs_f64().max(1e-9),
        latency,
        max_send_lag_ms: max_lag.as_secs_f64() * 1000.0,
        generator_cpu_percent: cpu_percent,
        generator_limited: cpu_percent > 90.0 * steps.threads as f64,
        server_backlog,
        passed: deliveries.lost == 0
            && bounces == 0
            && errors == 0
            && latency.p99_ms <= steps.max_p99_ms
            && keeping_up,
    }
}
