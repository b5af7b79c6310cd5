//! The server's configuration: built-in defaults that run anywhere, then an optional TOML file, then
//! `PALAVER_*` environment variables.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every key is known: a misspelled one in the file or a `PALAVER_*` variable that names no setting is an
/// error naming it (`deny_unknown_fields`), not a setting silently ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database, the generated certificate and the admin token live.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset for the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    /// Plain-HTTP REST API.
    pub http_addr: SocketAddr,
    /// HTTPS REST API (the v3 SDK only speaks https).
    pub https_addr: SocketAddr,
    /// Prometheus metrics on a listener of their own; when unset, the REST API serves `/metrics`.
    pub metrics_addr: Option<SocketAddr>,
    /// The XMPP domain every JID is in.
    pub domain: String,
    /// PEM certificate chain and key; generated (self-signed) into `data_dir/tls` when unset.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Bearer token of the admin API; generated into `data_dir/admin_token` when unset.
    pub admin_token: Option<String>,
    /// 64 hex digits: the key that keeps session tokens sealed until a chat login needs their SCRAM keys.
    /// Generated into `data_dir/token_key` on a single node when unset; a cluster's nodes must share one,
    /// and without it derive every token's keys when the session is made.
    pub token_key: Option<String>,
    /// Session lifetime without use, in seconds.
    pub session_ttl_secs: u64,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` itself wins when set. SIGHUP reloads it.
    pub log: String,
    /// `text` (human-readable lines) or `json` (one JSON object per event, for log collectors).
    pub log_format: String,
    /// XMPP over WebSocket, plain (for local use or behind a TLS proxy) and TLS.
    pub ws_addr: SocketAddr,
    pub wss_addr: SocketAddr,
    /// XMPP over TCP with STARTTLS, and with direct TLS.
    pub c2s_addr: SocketAddr,
    pub c2s_tls_addr: SocketAddr,
    /// Other host names clients may use in the stream header (comma-separated), besides the domain,
    /// `localhost` and the loopback addresses.
    pub domain_aliases: String,
    /// Let non-loopback TCP clients skip STARTTLS.
    pub xmpp_allow_plaintext: bool,
    /// Seconds of silence before the server pings a client, and seconds it waits for the answer.
    pub xmpp_ping_interval_secs: u64,
    pub xmpp_ping_timeout_secs: u64,
    /// Seconds a stream-management session can be resumed after its connection is lost.
    pub xmpp_resume_window_secs: u64,
    /// Largest stanza after authentication, in bytes (10 KB before).
    pub xmpp_max_stanza_size: usize,
    /// Simultaneous XMPP connections from one address (0 = unlimited).
    pub xmpp_max_connections_per_ip: usize,
    /// Stanzas per second one session may send, sustained (a token bucket; 0 turns the shaper off).
    pub xmpp_stanza_rate: f64,
    /// Stanzas one session may send in a burst above the sustained rate.
    pub xmpp_stanza_burst: f64,
    /// Bytes per second one connection may send after login, sustained (0 turns the byte shaper off), and
    /// the burst above it. Over it the server reads more slowly, as ejabberd's shapers do.
    pub xmpp_byte_rate: f64,
    pub xmpp_byte_burst: f64,
    /// Chat sessions one user may have at once (0 = unlimited); one more is refused with
    /// `resource-constraint` (or `policy-violation` when it binds inline at login).
    pub xmpp_max_sessions_per_user: usize,
    /// REST requests per second per session token, sustained, and the burst above it (0 = unlimited).
    pub rest_rate_per_token: f64,
    pub rest_burst_per_token: u32,
    /// REST requests per second per client address (IPv6: per /64), and the burst (0 = unlimited).
    pub rest_rate_per_address: f64,
    pub rest_burst_per_address: u32,
    /// User sign-ups (`POST /users`) per second per client address, and the burst (0 = unlimited).
    pub signup_rate_per_address: f64,
    pub signup_burst_per_address: u32,
    /// Push notifications: every notification is also POSTed here as JSON, once per device.
    pub push_webhook_url: Option<String>,
    /// Provider base URLs (defaults: the real FCM and APNs), and an override of the FCM OAuth token URI.
    pub push_fcm_endpoint: Option<String>,
    pub push_fcm_token_uri: Option<String>,
    pub push_apns_endpoint: Option<String>,
    pub push_apns_sandbox_endpoint: Option<String>,
    /// Pushes being sent at once.
    pub push_workers: usize,
    /// Most notifications waiting in the queue; more are dropped (and counted).
    pub push_max_queue: i64,
    /// Attempts per notification, and the first retry delay in milliseconds (doubling, at most 10 min).
    pub push_max_attempts: i64,
    pub push_backoff_ms: u64,
    /// The most contacts a user may keep in its contact list.
    pub max_contacts: i64,
    /// PBKDF2 iterations of the SCRAM keys derived from new passwords (at least 4096); what a password
    /// guess against a stolen database costs, and what each password login costs the server.
    pub scram_iterations: u32,
    // --- File storage ---
    /// `local` (files under `blob_dir`) or `s3` (an S3-compatible bucket, the `s3_*` settings).
    pub blob_store: String,
    /// Directory of the local file storage; `data_dir/blobs` when unset.
    pub blob_dir: Option<PathBuf>,
    /// Largest file, in bytes.
    pub max_blob_size: u64,
    /// Seconds an upload URL works; files not completed by then are deleted.
    pub blob_upload_ttl_secs: u64,
    /// Base URL (`https://chat.example.com`) of the upload and download URLs the API hands out; when unset,
    /// the scheme and host each request came with.
    pub public_url: Option<String>,
    /// S3-compatible storage; unset values come from the usual `AWS_*` variables.
    pub s3_bucket: Option<String>,
    pub s3_region: Option<String>,
    /// For services other than AWS (MinIO, R2, …).
    pub s3_endpoint: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// Key prefix inside the bucket.
    pub s3_prefix: String,
    /// Allow a plain-HTTP `s3_endpoint`.
    pub s3_allow_http: bool,
    /// When set, the admin API (`/admin/…`) listens only here (plain HTTP), not on the REST ports.
    pub admin_addr: Option<SocketAddr>,
    // --- Cluster (docs/cluster.md) ---
    /// `nats://host:4222`: makes this node a member of a cluster (PostgreSQL only); unset for one node.
    pub nats_url: Option<String>,
    /// This node's name in the cluster; the host name when unset.
    pub node_name: Option<String>,
    /// Every NATS subject of the cluster starts with it (two clusters on one NATS need two prefixes).
    pub nats_prefix: String,
    /// Milliseconds without a heartbeat before a node is declared gone with all its sessions.
    pub cluster_node_timeout_ms: u64,
    /// Milliseconds a node waits for another to take a message before keeping it offline.
    pub cluster_request_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            nats_url: None,
            node_name: None,
            nats_prefix: "palaver".into(),
            cluster_node_timeout_ms: 5_000,
            cluster_request_timeout_ms: 2_000,
            http_addr: "0.0.0.0:8080".parse().expect("valid address"),
            https_addr: "0.0.0.0:8443".parse().expect("valid address"),
            metrics_addr: None,
            domain: "localhost".into(),
            tls_cert: None,
            tls_key: None,
            admin_token: None,
            token_key: None,
            session_ttl_secs: 2 * 60 * 60,
            log: "info".into(),
            log_format: "text".into(),
            ws_addr: "0.0.0.0:5280".parse().expect("valid address"),
            wss_addr: "0.0.0.0:5291".parse().expect("valid address"),
            c2s_addr: "0.0.0.0:5222".parse().expect("valid address"),
            c2s_tls_addr: "0.0.0.0:5223".parse().expect("valid address"),
            domain_aliases: String::new(),
            xmpp_allow_plaintext: false,
            xmpp_ping_interval_secs: 60,
            xmpp_ping_timeout_secs: 30,
            xmpp_resume_window_secs: 300,
            xmpp_max_stanza_size: 256 * 1024,
            xmpp_max_connections_per_ip: 256,
            xmpp_stanza_rate: 50.0,
            xmpp_stanza_burst: 200.0,
            xmpp_byte_rate: 1024.0 * 1024.0,
            xmpp_byte_burst: 4.0 * 1024.0 * 1024.0,
            xmpp_max_sessions_per_user: 100,
            rest_rate_per_token: 100.0,
            rest_burst_per_token: 200,
            rest_rate_per_address: 1000.0,
            rest_burst_per_address: 2000,
            signup_rate_per_address: 2.0,
            signup_burst_per_address: 300,
            push_webhook_url: None,
            push_fcm_endpoint: None,
            push_fcm_token_uri: None,
            push_apns_endpoint: None,
            push_apns_sandbox_endpoint: None,
            push_workers: 4,
            push_max_queue: 100_000,
            push_max_attempts: 10,
            push_backoff_ms: 2000,
            max_contacts: palaver_core::contacts::DEFAULT_MAX_CONTACTS,
            scram_iterations: 4096,
            blob_store: "local".into(),
            blob_dir: None,
            max_blob_size: palaver_core::blobs::BlobConfig::DEFAULT_MAX_SIZE,
            blob_upload_ttl_secs: palaver_core::blobs::BlobConfig::DEFAULT_UPLOAD_TTL.as_secs(),
            public_url: None,
            s3_bucket: None,
            s3_region: None,
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_prefix: String::new(),
            s3_allow_http: false,
            admin_addr: None,
        }
    }
}

/// `PALAVER_*` variables that are not settings: the configuration file's path (`PALAVER_CONFIG`, read by
/// the command line), and the test tooling's own (`PALAVER_BIN`, `PALAVER_TEST_*`).
fn is_tooling_variable(key: &str) -> bool {
    matches!(key, "config" | "bin") || key.starts_with("test_")
}

impl Config {
    /// Defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(
                Env::prefixed("PALAVER_")
                    .filter(|key| !is_tooling_variable(&key.as_str().to_ascii_lowercase())),
            )
            .extract()
            .map_err(Box::new)
    }

    /// The admin token in effect without making one: the configured token, else the one `serve` stored in
    /// the data directory.
    pub fn admin_token_in_effect(&self) -> Option<String> {
        if let Some(token) = self.admin_token.as_ref().filter(|t| !t.is_empty()) {
            return Some(token.clone());
        }
        std::fs::read_to_string(self.data_dir.join("admin_token"))
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    /// Where the admin API answers, as a URL a local client can call.
    pub fn admin_url(&self) -> String {
        let mut addr = self.admin_addr.unwrap_or(self.http_addr);
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => palaver_store::sqlite_url(&self.data_dir),
        }
    }

    /// The cluster settings, when this node is a member of one; an error for a cluster on SQLite (each node
    /// would have a database of its own).
    pub fn cluster_config(&self) -> anyhow::Result<Option<palaver_cluster::ClusterConfig>> {
        use std::time::Duration;
        let Some(nats_url) = self.nats_url.clone().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        if !self.database_url().starts_with("postgres") {
            anyhow::bail!(
                "nats_url (PALAVER_NATS_URL) makes this node a cluster member, and cluster members share one \
                 PostgreSQL database: set database_url (PALAVER_DATABASE_URL) to postgres://…, or unset nats_url"
            );
        }
        let node_name = self
            .node_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "node".to_owned());
        Ok(Some(palaver_cluster::ClusterConfig {
            nats_url,
            node_name,
            prefix: self.nats_prefix.clone(),
            node_timeout: Duration::from_millis(self.cluster_node_timeout_ms.max(100)),
            request_timeout: Duration::from_millis(self.cluster_request_timeout_ms.max(10)),
        }))
    }

    pub fn xmpp_config(&self) -> palaver_xmpp::XmppConfig {
        use std::time::Duration;
        let mut xmpp = palaver_xmpp::XmppConfig::new(&self.domain);
        xmpp.aliases.extend(
            self.domain_aliases
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        );
        xmpp.allow_plaintext = self.xmpp_allow_plaintext;
        xmpp.ping_interval = Duration::from_secs(self.xmpp_ping_interval_secs.max(1));
        xmpp.ping_timeout = Duration::from_secs(self.xmpp_ping_timeout_secs.max(1));
        xmpp.resume_window = Duration::from_secs(self.xmpp_resume_window_secs);
        xmpp.max_stanza_after_auth = self.xmpp_max_stanza_size.max(xmpp.max_stanza_before_auth);
        if self.xmpp_stanza_rate > 0.0 {
            xmpp.stanza_rate = self.xmpp_stanza_rate;
            xmpp.stanza_burst = self.xmpp_stanza_burst.max(1.0);
        } else {
            xmpp.stanza_rate = f64::INFINITY;
            xmpp.stanza_burst = f64::INFINITY;
        }
        if self.xmpp_byte_rate > 0.0 {
            xmpp.byte_rate = self.xmpp_byte_rate;
            xmpp.byte_burst = self.xmpp_byte_burst.max(1.0);
        } else {
            xmpp.byte_rate = f64::INFINITY;
            xmpp.byte_burst = f64::INFINITY;
        }
        xmpp.max_sessions_per_user = self.xmpp_max_sessions_per_user;
        xmpp
    }

    pub fn rest_limits(&self) -> palaver_api::limits::LimitsConfig {
        use palaver_api::limits::Rate;
        let rate = |per_second: f64, burst: u32| Rate { per_second, burst };
        palaver_api::limits::LimitsConfig {
            per_token: rate(self.rest_rate_per_token, self.rest_burst_per_token),
            per_address: rate(self.rest_rate_per_address, self.rest_burst_per_address),
            signups_per_address: rate(self.signup_rate_per_address, self.signup_burst_per_address),
        }
    }

    pub fn push_config(&self) -> palaver_push::PushConfig {
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        palaver_push::PushConfig {
            webhook_url: set(&self.push_webhook_url),
            fcm_endpoint: set(&self.push_fcm_endpoint),
            fcm_token_uri: set(&self.push_fcm_token_uri),
            apns_endpoint: set(&self.push_apns_endpoint),
            apns_sandbox_endpoint: set(&self.push_apns_sandbox_endpoint),
            workers: self.push_workers.max(1),
            max_queue: self.push_max_queue.max(1),
            max_attempts: self.push_max_attempts.max(1),
            backoff_base: std::time::Duration::from_millis(self.push_backoff_ms.max(1)),
            ..Default::default()
        }
    }

    /// The file storage the settings name, with its limits.
    pub fn blob_config(&self) -> anyhow::Result<palaver_core::blobs::BlobConfig> {
        use anyhow::Context;
        use palaver_core::blobs::{BlobConfig, BlobStorage};
        let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let kind = self.blob_store.trim().to_ascii_lowercase();
        let storage: std::sync::Arc<dyn BlobStorage> = match kind.as_str() {
            "" | "local" => {
                let dir = self
                    .blob_dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("blobs"));
                let local = palaver_storage::LocalStorage::new(&dir)
                    .with_context(|| format!("opening the file storage directory {}", dir.display()))?;
                std::sync::Arc::new(local)
            }
            "s3" => {
                let settings = palaver_storage::S3Settings {
                    bucket: set(&self.s3_bucket)
                        .context("blob_store = s3 needs s3_bucket (PALAVER_S3_BUCKET)")?,
                    region: set(&self.s3_region),
                    endpoint: set(&self.s3_endpoint),
                    access_key_id: set(&self.s3_access_key_id),
                    secret_access_key: set(&self.s3_secret_access_key),
                    prefix: self.s3_prefix.clone(),
                    allow_http: self.s3_allow_http,
                };
                let s3 =
                    palaver_storage::ObjectStorage::s3(&settings).context("configuring S3 file storage")?;
                std::sync::Arc::new(s3)
            }
            other => anyhow::bail!("unknown blob_store {other:?} (use local or s3)"),
        };
        let mut config = BlobConfig::new(storage);
        config.max_size = self.max_blob_size.max(1);
        config.upload_ttl = std::time::Duration::from_secs(self.blob_upload_ttl_secs.max(1));
        config.public_url = set(&self.public_url);
        Ok(config)
    }

    pub fn core_settings(&self) -> palaver_core::CoreSettings {
        palaver_core::CoreSettings {
            session_ttl: std::time::Duration::from_secs(self.session_ttl_secs.max(1)),
            max_contacts: self.max_contacts.max(0),
            scram_iterations: self.scram_iterations.max(4096),
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail works with its own error type
mod tests {
    use super::*;

    #[test]
    fn a_cluster_needs_postgres_and_one_node_needs_no_nats() {
        figment::Jail::expect_with(|jail| {
            let single = Config::load(None).map_err(|e| *e)?;
            assert!(single.cluster_config().unwrap().is_none());

            jail.set_env("PALAVER_NATS_URL", "nats://127.0.0.1:4222");
            let on_sqlite = Config::load(None).map_err(|e| *e)?;
            let refused = on_sqlite.cluster_config().unwrap_err().to_string();
            assert!(refused.contains("PostgreSQL"), "{refused}");

            jail.set_env("PALAVER_DATABASE_URL", "postgres://db.example/palaver");
            jail.set_env("PALAVER_NODE_NAME", "eu-1");
            jail.set_env("PALAVER_NATS_PREFIX", "prod");
            jail.set_env("PALAVER_CLUSTER_NODE_TIMEOUT_MS", "3000");
            let member = Config::load(None).map_err(|e| *e)?;
            let cluster = member.cluster_config().unwrap().expect("a cluster member");
            assert_eq!(cluster.nats_url, "nats://127.0.0.1:4222");
            assert_eq!(cluster.node_name, "eu-1");
            assert_eq!(cluster.prefix, "prod");
            assert_eq!(cluster.node_timeout, std::time::Duration::from_millis(3000));
            assert_eq!(cluster.request_timeout, std::time::Duration::from_millis(2000));
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "palaver.toml",
                "domain = \"chat.example.com\"\nhttp_addr = \"127.0.0.1:9000\"\n",
            )?;
            jail.set_env("PALAVER_HTTP_ADDR", "127.0.0.1:9001");
            jail.set_env("PALAVER_SESSION_TTL_SECS", "60");
            let config = Config::load(Some(Path::new("palaver.toml"))).map_err(|e| *e)?;
            assert_eq!(config.domain, "chat.example.com");
            assert_eq!(config.http_addr.to_string(), "127.0.0.1:9001");
            assert_eq!(config.session_ttl_secs, 60);
            assert_eq!(config.https_addr.to_string(), "0.0.0.0:8443");
            assert!(config.database_url().starts_with("sqlite://./data/"));
            Ok(())
        });
    }

    /// The documented example file (packaging/palaver.toml) names every setting, parses as it is, and
    /// parses with every commented setting switched on (so each example value has the right type).
    #[test]
    fn the_example_file_documents_every_setting() {
        let example = include_str!("../../../packaging/palaver.toml");
        let settings = serde_json::to_value(Config::default()).unwrap();
        let documented = |key: &str| {
            example.lines().any(|line| {
                let line = line.trim_start_matches('#').trim_start();
                line.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
        };
        let missing: Vec<&String> = settings
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| !documented(key))
            .collect();
        assert!(missing.is_empty(), "packaging/palaver.toml lacks {missing:?}");

        let everything: String = example
            .lines()
            .map(
                |line| match line.strip_prefix("# ").and_then(|s| s.split_once(" = ")) {
                    Some((key, _)) if settings.get(key).is_some() => &line[2..],
                    _ => line,
                },
            )
            .collect::<Vec<_>>()
            .join("\n");
        figment::Jail::expect_with(|jail| {
            jail.create_file("example.toml", example)?;
            jail.create_file("everything.toml", &everything)?;
            let config = Config::load(Some(Path::new("example.toml"))).map_err(|e| *e)?;
            assert_eq!(config.data_dir, PathBuf::from("/var/lib/palaver"));
            let config = Config::load(Some(Path::new("everything.toml"))).map_err(|e| *e)?;
            assert_eq!(
                config.database_url.as_deref(),
                Some("postgres://palaver:secret@127.0.0.1:5432/palaver")
            );
            assert_eq!(config.log_format, "text");
            Ok(())
        });
    }

    #[test]
    fn push_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PALAVER_PUSH_WEBHOOK_URL", "http://127.0.0.1:9999/push");
            jail.set_env("PALAVER_PUSH_WORKERS", "2");
            jail.set_env("PALAVER_PUSH_APNS_ENDPOINT", "http://127.0.0.1:9998");
            let push = Config::load(None).map_err(|e| *e)?.push_config();
            assert_eq!(push.webhook_url.as_deref(), Some("http://127.0.0.1:9999/push"));
            assert_eq!(push.workers, 2);
            assert_eq!(push.apns_endpoint.as_deref(), Some("http://127.0.0.1:9998"));
            assert_eq!(push.fcm_endpoint, None);
            assert_eq!(push.max_queue, 100_000);
            Ok(())
        });
    }
}
