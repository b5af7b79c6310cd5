//! Runs the real `palaver` binary on free loopback ports with a temporary data directory.

#![allow(dead_code)]

pub mod cluster;
pub mod numbered;
pub mod webhook;
pub mod world;
pub mod xmpp;

use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct Server {
    pub http: String,
    pub https: String,
    /// XMPP listeners: WebSocket (plain and TLS) and TCP (STARTTLS and direct TLS), as host:port.
    pub ws: String,
    pub wss: String,
    pub c2s: String,
    pub c2s_tls: String,
    pub data_dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub schema: Option<String>,
    child: Option<Child>,
    log: PathBuf,
    /// What the process printed on stdout (all runs, appended).
    out: PathBuf,
}

/// A port free now, below the kernel's range of ephemeral ports. A test that crashes a server and starts
/// it again on the same ports needs them still free, and the kernel gives ports of that range to the
/// outgoing connections of every test running meanwhile (one took a restarted node's port once); ports
/// below it are only ever taken by a bind. Ports are tried in turn from a place that differs per process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let below = ephemeral_ports_start().max(LOWEST + 1_000);
    let span = below - LOWEST;
    let _ = NEXT.compare_exchange(
        0,
        std::process::id() % span + 1,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    loop {
        let port = LOWEST + NEXT.fetch_add(1, Ordering::AcqRel) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
}

/// The first port the kernel hands out to outgoing connections (Linux; 32768 elsewhere).
fn ephemeral_ports_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

impl Server {
    pub async fn start(db: Db) -> Server {
        Server::start_with(db, &[]).await
    }

    pub async fn start_with(db: Db, extra_env: &[(&str, &str)]) -> Server {
        Server::start_with_file(db, extra_env, None).await
    }

    /// Like `start_with`, with a configuration file (`PALAVER_CONFIG`, kept as `palaver.toml` in the
    /// data directory): the keys it sets are not given as environment variables, which would win.
    pub async fn start_with_file(db: Db, extra_env: &[(&str, &str)], file: Option<&str>) -> Server {
        // Free ports are found by binding and releasing them, so another test may take one first: the
        // server then fails to start, and a fresh set of ports is tried.
        let mut failures = Vec::new();
        for _ in 0..4 {
            let mut server = Server::prepare(db, extra_env, file).await;
            match server.try_spawn().await {
                Ok(()) => return server,
                Err(log) => failures.push(log),
            }
        }
        panic!("the server would not start:\n{}", failures.join("\n---\n"));
    }

    async fn prepare(db: Db, extra_env: &[(&str, &str)], file: Option<&str>) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let (http_port, https_port) = (free_port(), free_port());
        let [ws, wss, c2s, c2s_tls] = [0; 4].map(|_| format!("127.0.0.1:{}", free_port()));
        let mut env = vec![
            (
                "PALAVER_DATA_DIR".to_owned(),
                data_dir.path().display().to_string(),
            ),
            ("PALAVER_HTTP_ADDR".to_owned(), format!("127.0.0.1:{http_port}")),
            ("PALAVER_HTTPS_ADDR".to_owned(), format!("127.0.0.1:{https_port}")),
            ("PALAVER_WS_ADDR".to_owned(), ws.clone()),
            ("PALAVER_WSS_ADDR".to_owned(), wss.clone()),
            ("PALAVER_C2S_ADDR".to_owned(), c2s.clone()),
            ("PALAVER_C2S_TLS_ADDR".to_owned(), c2s_tls.clone()),
            ("PALAVER_LOG".to_owned(), "info,palaver_xmpp=debug".to_owned()),
        ];
        let mut schema = None;
        if let Db::Postgres = db {
            let (url, name) = palaver_store::testing::fresh_postgres_schema()
                .await
                .expect("PostgreSQL for tests");
            env.push(("PALAVER_DATABASE_URL".to_owned(), url));
            schema = Some(name);
        }
        for (key, value) in extra_env {
            env.push((key.to_string(), value.to_string()));
        }
        if let Some(text) = file {
            let path = data_dir.path().join("palaver.toml");
            std::fs::write(&path, text).unwrap();
            let keys: Vec<String> = text
                .parse::<toml::Table>()
                .expect("a TOML configuration")
                .keys()
                .map(|k| format!("PALAVER_{}", k.to_ascii_uppercase()))
                .collect();
            env.retain(|(key, _)| !keys.contains(key));
            env.push(("PALAVER_CONFIG".to_owned(), path.display().to_string()));
        }
        let log = data_dir.path().join("server.log");
        let out = data_dir.path().join("server.out");
        Server {
            http: format!("http://127.0.0.1:{http_port}"),
            https: format!("https://127.0.0.1:{https_port}"),
            ws,
            wss,
            c2s,
            c2s_tls,
            data_dir,
            env,
            schema,
            child: None,
            log,
            out,
        }
    }

    /// Starts the process again (same ports and data) and waits for `/health`.
    pub async fn spawn(&mut self) {
        if let Err(log) = self.try_spawn().await {
            panic!("server did not become healthy:\n{log}");
        }
    }

    /// Starts the process and waits until it answers `/health` while still running (a health answer from
    /// some other process on a port this one failed to bind does not count).
    async fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.out)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_palaver"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("RUST_LOG")
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("spawn palaver");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!("exited with {status}:\n{}", self.log_text()));
            }
            if let Ok(response) = client.get(format!("{}/health", self.http)).send().await {
                if response.status().is_success() {
                    // Our process binds every port before it serves, so if it is still running now the
                    // answer was its own.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if self
                        .child
                        .as_mut()
                        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
                    {
                        return Ok(());
                    }
                    continue;
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("no health within 60 s:\n{}", self.log_text()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL (a crash: nothing runs on the way out) and waits for it to be gone.
    pub fn crash(&mut self) {
        let mut child = self.child.take().expect("server running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The server process's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// The server's log (stderr) of every run so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the server printed on stdout, every run so far.
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Runs a CLI command with the server's configuration and parses its JSON output.
    pub fn cli(&self, args: &[&str]) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_palaver"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "palaver {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("one JSON value on stdout")
    }

    /// An HTTPS client that trusts the server's generated certificate.
    pub fn https_client(&self) -> reqwest::Client {
        let pem = std::fs::read(self.data_dir.path().join("tls/cert.pem")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    /// Creates a user with the CLI; returns its id.
    pub fn create_user(&self, app: i64, login: &str, password: &str) -> i64 {
        let user = self.cli(&[
            "user",
            "create",
            "--app",
            &app.to_string(),
            "--login",
            login,
            "--password",
            password,
        ]);
        user["id"].as_i64().unwrap()
    }

    pub fn create_app(&self, name: &str) -> (i64, String, String) {
        let app = self.cli(&["app", "create", "--name", name]);
        (
            app["id"].as_i64().unwrap(),
            app["auth_key"].as_str().unwrap().to_owned(),
            app["auth_secret"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(schema) = self.schema.take() {
            // Best effort: a leftover schema is harmless, each run uses a new name.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(palaver_store::testing::drop_postgres_schema(&schema))
            })
            .join();
        }
    }
}
