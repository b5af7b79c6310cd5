//! REST reads on a large store: history pages (`GET /chat/Message.json`, 100 messages) and dialog lists
//! (`GET /chat/Dialog.json`) for many users, interleaved at a fixed offered rate. Palaver only: the other
//! servers have no ConnectyCube REST API. The store is filled beforehand (scripts/bench-rest-seed.py).

use super::{finish, open_loop_calls, report, Common};
use crate::progress::Progress;
use crate::report::Report;
use crate::rest::RestClient;
use crate::sys::CpuMeter;
use crate::target::Target;
use anyhow::Context;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct RestReadConfig {
    /// Users whose sessions make the requests (each lists its dialogs once to learn their ids).
    pub readers: usize,
    /// Requests per second of each kind.
    pub rate: f64,
    /// Requests of each kind.
    pub count: usize,
    /// Messages per history page.
    pub page: usize,
    pub common: Common,
}

/// One user's token and the dialogs it may read.
struct Reader {
    token: String,
    dialogs: Vec<String>,
}

pub async fn run(target: Arc<Target>, config: RestReadConfig) -> anyhow::Result<Report> {
    let cpu = CpuMeter::start();
    let mut report = report(
        "rest-read",
        &target,
        serde_json::json!({"readers": config.readers, "rate": config.rate, "count": config.count,
            "page": config.page}),
    );
    let rest = RestClient::new(target.rest.clone().context("REST reads need --rest-url")?);
    let mut readers = Vec::with_capacity(config.readers);
    for n in 0..config.readers.min(target.accounts.len()) {
        let token = rest.session(&target.account(n).login, target.password(n)).await?;
        let list = rest.get("/chat/Dialog.json?limit=100", &token).await?;
        let dialogs: Vec<String> = list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|d| d["_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !dialogs.is_empty() {
            readers.push(Reader { token, dialogs });
        }
    }
    anyhow::ensure!(
        !readers.is_empty(),
        "none of the first {} users has a dialog",
        config.readers
    );
    report.notes.push(format!(
        "{} readers, {} dialogs between them",
        readers.len(),
        readers.iter().map(|r| r.dialogs.len()).sum::<usize>()
    ));
    let readers = Arc::new(readers);

    let page = config.page;
    let history = {
        let (rest, readers) = (rest.clone(), readers.clone());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let progress = Progress::new("history pages", config.count as u64, config.common.progress);
        let result = open_loop_calls(
            &format!("GET /chat/Message.json ({page} messages)"),
            config.rate,
            config.count,
            &progress,
            move |_| {
                let reader = &readers[rng.gen_range(0..readers.len())];
                let dialog = &reader.dialogs[rng.gen_range(0..reader.dialogs.len())];
                let path =
                    format!("/chat/Message.json?chat_dialog_id={dialog}&limit={page}&sort_desc=date_sent");
                let (rest, token) = (rest.clone(), reader.token.clone());
                async move { rest.get(&path, &token).await.map(drop) }
            },
        )
        .await;
        progress.finish();
        result
    };
    report.requests.push(history);
    let dialogs = {
        let (rest, readers) = (rest.clone(), readers.clone());
        let progress = Progress::new("dialog lists", config.count as u64, config.common.progress);
        let result = open_loop_calls(
            "GET /chat/Dialog.json (100 dialogs)",
            config.rate,
            config.count,
            &progress,
            move |i| {
                let reader = &readers[i as usize % readers.len()];
                let (rest, token) = (rest.clone(), reader.token.clone());
                async move { rest.get("/chat/Dialog.json?limit=100", &token).await.map(drop) }
            },
        )
        .await;
        progress.finish();
        result
    };
    report.requests.push(dialogs);
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}
