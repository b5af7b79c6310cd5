//! Group fan-out: rooms of `occupants` users each, every occupant online and joined to its room (XEP-0045
//! presence, as the SDKs join a group dialog), random occupants sending `groupchat` messages to their room
//! at stepped offered rates. Each message reaches every occupant, the sender included, so it is expected
//! `occupants` times.
//!
//! On Palaver a room is a group dialog, created over REST by its first occupant. On any other XMPP server
//! ([`Rooms::Muc`]) it is a multi-user chat room that its first occupant creates by joining and then
//! configures as an instant room (XEP-0045 §10.1.2), before the others join.

use super::{finish, login_report, report, Common};
use crate::load::{run_steps, Steps};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::report::Report;
use crate::rest::RestClient;
use crate::swarm::{log_in, Secrets, Swarm};
use crate::sys::CpuMeter;
use crate::target::Target;
use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Where the groups' rooms come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rooms {
    /// Palaver's group dialogs, created over REST.
    Dialogs,
    /// Rooms of this multi-user chat service (such as `conference.localhost`), created by joining.
    Muc { service: String },
}

/// How long the occupants of every room together may take to join, beyond a tenth of a second each.
const JOIN_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub rooms: Rooms,
    pub occupants: usize,
    pub groups: usize,
    pub steps: Steps,
    pub save_to_history: bool,
    pub body_size: usize,
    pub common: Common,
}

pub async fn run(target: Arc<Target>, config: GroupConfig) -> anyhow::Result<Report> {
    let clients = config.occupants * config.groups;
    if config.occupants < 2 || clients > target.accounts.len() {
        bail!(
            "{} groups of {} occupants need that many accounts ({} given), at least 2 per group",
            config.groups,
            config.occupants,
            target.accounts.len()
        );
    }
    let cpu = CpuMeter::start();
    let mut report = report(
        "group",
        &target,
        serde_json::json!({"occupants": config.occupants, "groups": config.groups, "rates": config.steps.rates,
            "step_s": config.steps.step.as_secs_f64(), "save_to_history": config.save_to_history,
            "rooms": match &config.rooms { Rooms::Dialogs => "dialogs", Rooms::Muc { .. } => "muc" }}),
    );
    let rooms = match &config.rooms {
        Rooms::Dialogs => create_dialogs(&target, &config).await?,
        Rooms::Muc { service } => (0..config.groups)
            .map(|g| format!("bench-{g}@{service}"))
            .collect(),
    };
    let recorder = Arc::new(Recorder::new(config.occupants as u32));
    let progress = Progress::new("logging in", clients as u64, config.common.progress);
    let (swarm, outcome) = log_in(
        target.clone(),
        clients,
        config.common.login_rate,
        true,
        Secrets::Passwords,
        recorder.clone(),
        &progress,
    )
    .await;
    progress.finish();
    report.logins.push(login_report("setup", clients, &outcome));
    join_rooms(&swarm, &rooms, &config).await?;
    let extra = if config.save_to_history {
        super::chat::SAVE_TO_HISTORY
    } else {
        ""
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (occupants, body_size) = (config.occupants, config.body_size);
    let mut compose = |seq: u64, due| {
        let from = rng.gen_range(0..clients);
        let room = &rooms[from / occupants];
        let xml = format!(
            "<message to='{room}' type='groupchat' id='g{seq}' xmlns='jabber:client'><body>{}</body>{extra}</message>",
            recorder.body(seq, due, body_size)
        );
        (from, xml.into_bytes())
    };
    report.steps = run_steps(&swarm, &config.steps, &mut compose, |_| {}).await;
    report.timeline = recorder.timeline();
    swarm.close().await;
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}

/// Group g's dialog for accounts g*occupants .. (g+1)*occupants, created by its first; their room JIDs.
async fn create_dialogs(target: &Target, config: &GroupConfig) -> anyhow::Result<Vec<String>> {
    let rest = RestClient::new(
        target
            .rest
            .clone()
            .context("group dialogs are created over REST: give --rest-url, --app and --auth-key")?,
    );
    let mut rooms = Vec::with_capacity(config.groups);
    for g in 0..config.groups {
        let owner = g * config.occupants;
        let account = target.account(owner);
        let token = rest.session(&account.login, target.password(owner)).await?;
        let others: Vec<i64> = (owner + 1..owner + config.occupants)
            .map(|n| target.account(n).id.context("group occupants need user ids"))
            .collect::<anyhow::Result<_>>()?;
        let dialog = rest.create_group(&token, &format!("bench {g}"), &others).await?;
        rooms.push(target.room_jid(&dialog));
    }
    Ok(rooms)
}

/// Every logged-in occupant joins its room and the server confirms each join (its self-presence). A
/// room of a multi-user chat service is made by its first occupant's join and configured as an instant
/// room before anyone else joins; a dialog's room exists already.
async fn join_rooms(swarm: &Swarm, rooms: &[String], config: &GroupConfig) -> anyhow::Result<()> {
    let recorder = &swarm.recorder;
    let mut to_join: Vec<usize> = (0..swarm.clients.len())
        .filter(|&n| swarm.clients[n].is_some())
        .collect();
    let joiners = to_join.len();
    let deadline = Instant::now() + JOIN_GRACE + Duration::from_millis(100) * joiners as u32;
    let occupants = config.occupants;
    let join = |n: usize| swarm.send(n, join_presence(&rooms[n / occupants], n));
    let first_of_a_room = |n: &usize| n.is_multiple_of(occupants);
    if matches!(config.rooms, Rooms::Muc { .. }) {
        let owners: Vec<usize> = to_join.iter().copied().filter(first_of_a_room).collect();
        for &owner in &owners {
            join(owner);
        }
        wait_for(
            recorder,
            deadline,
            "rooms created",
            owners.len(),
            Recorder::rooms_joined,
        )
        .await?;
        for &owner in &owners {
            let g = owner / occupants;
            swarm.send(owner, instant_room(&rooms[g], g));
        }
        wait_for(
            recorder,
            deadline,
            "rooms configured",
            owners.len(),
            Recorder::rooms_configured,
        )
        .await?;
        to_join.retain(|n| !first_of_a_room(n));
    }
    for n in to_join {
        join(n);
    }
    wait_for(
        recorder,
        deadline,
        "occupants joined",
        joiners,
        Recorder::rooms_joined,
    )
    .await
}

/// Waits until `count` of the recorder reaches `wanted`; an error naming `what` if the server refused a
/// join or a configuration, or the deadline comes first.
async fn wait_for(
    recorder: &Recorder,
    deadline: Instant,
    what: &str,
    wanted: usize,
    count: fn(&Recorder) -> u64,
) -> anyhow::Result<()> {
    loop {
        let done = count(recorder);
        if done >= wanted as u64 {
            return Ok(());
        }
        let refused = recorder.rooms_refused();
        if refused > 0 {
            bail!("{what}: {done} of {wanted}, and the server refused {refused} joins or configurations");
        }
        if Instant::now() >= deadline {
            bail!("{what}: {done} of {wanted} in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// XEP-0045 join of `room` by client `n`, asking for none of the room's history.
fn join_presence(room: &str, n: usize) -> Vec<u8> {
    format!(
        "<presence to='{room}/bench{n}' xmlns='jabber:client'><x xmlns='{MUC}'><history maxstanzas='0'/></x></presence>"
    )
    .into_bytes()
}

/// The owner's acceptance of the default configuration, which unlocks a new room (an instant room).
fn instant_room(room: &str, g: usize) -> Vec<u8> {
    format!(
        "<iq type='set' id='{}{g}' to='{room}' xmlns='jabber:client'><query xmlns='{MUC}#owner'>\
         <x xmlns='jabber:x:data' type='submit'/></query></iq>",
        crate::recorder::ROOM_CONFIG_ID
    )
    .into_bytes()
}

const MUC: &str = "http://jabber.org/protocol/muc";
