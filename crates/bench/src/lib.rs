//! palaver-bench: a load generator for XMPP chat servers. It speaks plain XMPP (TCP without TLS, and
//! WebSocket), so one scenario runs the same against Palaver, Prosody and ejabberd; thousands of clients
//! share one or two threads; load is offered open-loop on a fixed clock; every message carries its
//! sequence number and scheduled time, so latency (HDR histograms) and loss are exact. Results come out
//! as JSON and PNG charts.

pub mod backlog;
pub mod charts;
pub mod link;
pub mod load;
pub mod login;
pub mod progress;
pub mod recorder;
pub mod relay;
pub mod report;
pub mod rest;
pub mod sasl;
pub mod scan;
pub mod scenarios;
pub mod schedule;
pub mod stats;
pub mod swarm;
pub mod sys;
pub mod target;
