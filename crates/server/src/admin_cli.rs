//! The operators' commands beside `app create|list` and `user create`: users (list, show, delete, passwd,
//! block, unblock), sessions (list, kick), applications (show, rename, rotate-secret, delete), broadcast
//! dialogs, `status` (asked of the running server's admin API) and `backup`. They run on the same core
//! services as the admin API and print JSON; each change goes to the audit log with origin `cli`.
//!
//! Changes are made in the database, so they hold for a running server too; what a running server only
//! learns through its own event bus (ending live chat sessions of a blocked or kicked user) happens there
//! when it next checks the session, or at the user's next login.

use crate::cli::{describe, open_core, print_json};
use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use palaver_api::render;
use palaver_core::admin::AdminService;
use palaver_core::admin_store::AdminUser;
use palaver_core::clock::iso8601;
use palaver_core::dialogs::DialogInput;
use palaver_core::model::DialogType;
use palaver_core::Core;
use palaver_store::Backend;
use serde_json::{json, Value};

/// `palaver user …` (besides `create`).
#[derive(Subcommand)]
pub enum UserAdmin {
    /// List an application's users (login, e-mail or full name containing --query), as a page.
    List {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        query: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        skip: i64,
    },
    /// Print one user.
    Show {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        id: i64,
    },
    /// Delete a user.
    Delete {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        id: i64,
    },
    /// Set a user's password (his sessions end).
    Passwd {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        id: i64,
        #[arg(long)]
        password: String,
    },
    /// Block a user: no new session or chat login; his sessions end.
    Block {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        id: i64,
    },
    /// Unblock a user.
    Unblock {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        id: i64,
    },
}

/// `palaver app …` (besides `create` and `list`).
#[derive(Subcommand)]
pub enum AppAdmin {
    /// Print one application with its credentials.
    Show {
        #[arg(long)]
        id: i64,
    },
    /// Rename an application.
    Rename {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        name: String,
    },
    /// Give an application a new auth_key and auth_secret (the old ones stop working).
    RotateSecret {
        #[arg(long)]
        id: i64,
    },
    /// Delete an application with everything in it.
    Delete {
        #[arg(long)]
        id: i64,
    },
}

/// Top-level operator commands.
#[derive(Subcommand)]
pub enum ServerAdmin {
    /// Users' REST sessions.
    Session {
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// Dialogs.
    Dialog {
        #[command(subcommand)]
        command: DialogCommand,
    },
    /// Version, uptime and live figures of the running server (through its admin API).
    Status,
    /// Copy the SQLite database to FILE while the server runs (PostgreSQL: use pg_dump).
    Backup { file: std::path::PathBuf },
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// A user's live REST sessions.
    List {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        user: i64,
    },
    /// End one session of a user (--session), or all of them.
    Kick {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        user: i64,
        #[arg(long)]
        session: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum DialogCommand {
    /// Create a dialog; a broadcast one needs no owner user.
    Create {
        #[arg(long)]
        app: i64,
        /// broadcast, group, public (or the number).
        #[arg(long = "type", default_value = "broadcast")]
        kind: String,
        #[arg(long)]
        name: String,
        /// The owner (required for types other than broadcast).
        #[arg(long)]
        owner: Option<i64>,
        /// Occupants of a group dialog, comma-separated.
        #[arg(long, value_delimiter = ',')]
        occupants: Vec<i64>,
    },
}

fn admin_user(found: &AdminUser) -> Value {
    let mut body = render::user(&found.user);
    body["blocked"] = json!(found.blocked_at.is_some());
    body["blocked_at"] = json!(found.blocked_at.map(iso8601));
    body
}

async fn service(config: &Config) -> anyhow::Result<AdminService> {
    Ok(open_core(config).await?.admin("cli"))
}

pub async fn user(config: &Config, command: UserAdmin) -> anyhow::Result<()> {
    let admin = service(config).await?;
    let value = match command {
        UserAdmin::List {
            app,
            query,
            limit,
            skip,
        } => {
            let (users, total) = admin
                .search_users(app, query.as_deref(), limit, skip)
                .await
                .map_err(describe)?;
            let items: Vec<Value> = users.iter().map(admin_user).collect();
            json!({ "total_entries": total, "items": items })
        }
        UserAdmin::Show { app, id } => admin_user(&admin.user(app, id).await.map_err(describe)?),
        UserAdmin::Delete { app, id } => {
            admin.delete_user(app, id).await.map_err(describe)?;
            json!({ "deleted": id })
        }
        UserAdmin::Passwd { app, id, password } => {
            admin.reset_password(app, id, password).await.map_err(describe)?;
            json!({ "password_reset": id })
        }
        UserAdmin::Block { app, id } => admin_user(&admin.block_user(app, id).await.map_err(describe)?),
        UserAdmin::Unblock { app, id } => admin_user(&admin.unblock_user(app, id).await.map_err(describe)?),
    };
    print_json(&value)
}

pub async fn app(core: &Core, command: AppAdmin) -> anyhow::Result<()> {
    let admin = core.admin("cli");
    let value = match command {
        AppAdmin::Show { id } => render::app(&core.apps().get(id).await.map_err(describe)?),
        AppAdmin::Rename { id, name } => render::app(&admin.rename_app(id, &name).await.map_err(describe)?),
        AppAdmin::RotateSecret { id } => render::app(&admin.rotate_app_keys(id).await.map_err(describe)?),
        AppAdmin::Delete { id } => {
            admin.delete_app(id).await.map_err(describe)?;
            json!({ "deleted": id })
        }
    };
    print_json(&value)
}

pub async fn server(config: &Config, command: ServerAdmin) -> anyhow::Result<()> {
    match command {
        ServerAdmin::Session { command } => session(config, command).await,
        ServerAdmin::Dialog { command } => dialog(config, command).await,
        ServerAdmin::Status => status(config).await,
        ServerAdmin::Backup { file } => backup(config, &file).await,
    }
}

async fn session(config: &Config, command: SessionCommand) -> anyhow::Result<()> {
    let admin = service(config).await?;
    let value = match command {
        SessionCommand::List { app, user } => {
            let sessions = admin.sessions(app, user).await.map_err(describe)?;
            Value::Array(
                sessions
                    .iter()
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "application_id": s.app_id,
                            "user_id": s.user_id,
                            "created_at": iso8601(s.created_at),
                            "expires_at": iso8601(s.expires_at),
                        })
                    })
                    .collect(),
            )
        }
        SessionCommand::Kick { app, user, session } => {
            let ended = admin.end_sessions(app, user, session).await.map_err(describe)?;
            json!({ "ended": ended })
        }
    };
    print_json(&value)
}

async fn dialog(config: &Config, command: DialogCommand) -> anyhow::Result<()> {
    let DialogCommand::Create {
        app,
        kind,
        name,
        owner,
        occupants,
    } = command;
    let kind = match kind.as_str() {
        "broadcast" => DialogType::Broadcast.code(),
        "group" => DialogType::Group.code(),
        "public" => DialogType::Public.code(),
        other => other
            .parse()
            .with_context(|| format!("unknown dialog type {other}"))?,
    };
    let core = open_core(config).await?;
    let input = DialogInput {
        kind: Some(kind),
        name: Some(name),
        occupants,
        ..DialogInput::default()
    };
    let view = core
        .admin("cli")
        .create_dialog(app, owner, input)
        .await
        .map_err(describe)?;
    print_json(&render::dialog(&view, &config.domain))
}

/// Asks the running server, on the admin address, with the admin token it uses: its status, with the
/// depth of the push queue and of the database write queue added under `queues`.
async fn status(config: &Config) -> anyhow::Result<()> {
    let token = config
        .admin_token_in_effect()
        .context("no admin token: set PALAVER_ADMIN_TOKEN or start the server once")?;
    let client = reqwest::Client::new();
    let ask = |path: &str| {
        let url = format!("{}{path}", config.admin_url());
        let request = client.get(&url).bearer_auth(&token);
        async move {
            let response = request
                .send()
                .await
                .with_context(|| format!("cannot reach the server at {url}"))?;
            let code = response.status();
            let body: Value = response.json().await.context("the server's answer is not JSON")?;
            anyhow::ensure!(code.is_success(), "the server answered {code}: {body}");
            Ok::<_, anyhow::Error>(body)
        }
    };
    let mut status = ask("/admin/status").await?;
    let push = ask("/admin/push/stats").await?;
    status["queues"] = json!({
        "push": push["queue"],
        "store_writes": store_queue_depth(config).await,
    });
    print_json(&status)
}

/// Writes waiting for the database's batch writer, from the server's metrics page: 0 when the gauge is
/// not there yet (nothing went through the writer), null when the page cannot be read.
async fn store_queue_depth(config: &Config) -> Value {
    let mut addr = config.metrics_addr.unwrap_or(config.http_addr);
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let Ok(response) = reqwest::get(format!("http://{addr}/metrics")).await else {
        return Value::Null;
    };
    let page = match response.error_for_status() {
        Ok(response) => match response.text().await {
            Ok(page) => page,
            Err(_) => return Value::Null,
        },
        Err(_) => return Value::Null,
    };
    page.lines()
        .find_map(|line| {
            line.strip_prefix(palaver_core::metrics::STORE_QUEUE_DEPTH)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(json!(0), |depth| json!(depth as i64))
}

async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    if Backend::of_url(&config.database_url()) == Some(Backend::Postgres) {
        anyhow::bail!(
            "the database is PostgreSQL: back it up with pg_dump, e.g. `pg_dump --format=custom \
             --file=palaver.dump \"$PALAVER_DATABASE_URL\"` (restore with pg_restore)"
        );
    }
    anyhow::ensure!(!file.exists(), "{} already exists", file.display());
    let path = std::path::absolute(file).context("resolving the backup path")?;
    let path = path.to_str().context("the backup path is not UTF-8")?;
    service(config).await?.backup(path).await.map_err(describe)?;
    let bytes = std::fs::metadata(path)?.len();
    print_json(&json!({ "backup": path, "bytes": bytes }))
}
