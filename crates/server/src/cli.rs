//! Command-line interface. Every command reads the same configuration as `serve`; the admin commands
//! print JSON on stdout (logs go to stderr) and work while a server is running.

use crate::config::Config;
use crate::{admin_cli, import, logging, serve, tls, transfer};
use anyhow::Context;
use clap::{Parser, Subcommand};
use palaver_core::model::Profile;
use palaver_core::Core;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "palaver",
    version,
    about = "A self-hosted chat server that speaks the ConnectyCube protocol"
)]
pub struct Cli {
    /// TOML configuration file (PALAVER_* environment variables override it).
    #[arg(long, global = true, env = "PALAVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Make sure the TLS certificate exists (generating a self-signed one) and print its paths.
    Cert,
    /// Manage applications.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    #[command(flatten)]
    Admin(admin_cli::ServerAdmin),
    /// Write the whole database (apps, users with their password verifiers, dialogs with occupants,
    /// history, ...) as JSON lines to FILE (`-` for stdout).
    Export { file: PathBuf },
    /// Read an export into the configured database, which must be new (no application yet): also the
    /// way from SQLite to PostgreSQL.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an application and print it (id, auth_key, auth_secret) as JSON.
    Create {
        #[arg(long)]
        name: String,
    },
    /// Print every application as a JSON array.
    List,
    #[command(flatten)]
    Admin(admin_cli::AppAdmin),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in an application and print it as JSON.
    Create {
        #[arg(long)]
        app: i64,
        #[arg(long)]
        login: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        full_name: Option<String>,
        #[arg(long)]
        password: String,
    },
    #[command(flatten)]
    Admin(admin_cli::UserAdmin),
    /// Create many users from a CSV file (header `login,password[,full_name,email]`) or JSON lines;
    /// prints `{"login", "id"}` per created user, one JSON object a line.
    Import {
        #[arg(long)]
        app: i64,
        /// The file, or `-` for stdin.
        file: PathBuf,
        /// Users per database transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Hash each distinct password once and share its salt among the users that have it: for
        /// load-test accounts only.
        #[arg(long)]
        share_equal_passwords: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref()).context("reading the configuration")?;
    let log = logging::init(&config)?;
    match cli.command {
        Command::Serve => serve::run(config, cli.config, log).await,
        Command::Migrate => {
            let store = palaver_store::open(&config.database_url()).await?;
            store.close().await;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::Cert => {
            let files = tls::ensure_certificate(
                config.tls_cert.as_deref(),
                config.tls_key.as_deref(),
                &config.data_dir,
                &config.domain,
            )?;
            print_json(&serde_json::json!({ "cert": absolute(&files.cert), "key": absolute(&files.key) }))
        }
        Command::Admin(command) => admin_cli::server(&config, command).await,
        Command::Export { file } => transfer::export(&config, &file).await,
        Command::Import { file } => transfer::import(&config, &file).await,
        Command::User {
            command: UserCommand::Admin(command),
        } => admin_cli::user(&config, command).await,
        Command::App { command } => {
            let core = open_core(&config).await?;
            match command {
                AppCommand::Create { name } => {
                    print_json(&palaver_api::render::app(&core.apps().create(&name).await?))
                }
                AppCommand::List => {
                    let apps = core.apps().list().await?;
                    print_json(&serde_json::Value::Array(
                        apps.iter().map(palaver_api::render::app).collect(),
                    ))
                }
                AppCommand::Admin(command) => admin_cli::app(&core, command).await,
            }
        }
        Command::User {
            command:
                UserCommand::Import {
                    app,
                    file,
                    batch,
                    share_equal_passwords,
                },
        } => {
            let core = open_core(&config).await?;
            let options = palaver_core::users::ImportOptions {
                batch,
                share_equal_passwords,
            };
            import::run(&core, app, &file, options).await
        }
        Command::User {
            command:
                UserCommand::Create {
                    app,
                    login,
                    email,
                    full_name,
                    password,
                },
        } => {
            let core = open_core(&config).await?;
            core.apps()
                .get(app)
                .await
                .with_context(|| format!("no application {app}"))?;
            let profile = Profile {
                login,
                email,
                full_name,
                ..Profile::default()
            };
            let user = core
                .users()
                .signup(app, profile, Some(password))
                .await
                .map_err(describe)?;
            print_json(&palaver_api::render::user(&user))
        }
    }
}

pub(crate) async fn open_core(config: &Config) -> anyhow::Result<Core> {
    let store = palaver_store::open(&config.database_url()).await?;
    Ok(Core::new(Arc::new(store), config.core_settings()))
}

/// A domain error for the terminal: its own text (invalid fields read "login has already been taken").
pub(crate) fn describe(error: palaver_core::CoreError) -> anyhow::Error {
    error.into()
}

pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{value}");
    Ok(())
}

fn absolute(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}
