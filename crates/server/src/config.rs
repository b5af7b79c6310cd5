//! The server's configuration: built-in defaults that run anywhere, then an optional TOML file, then
//! `PALAVER_*` environment variables.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Where the embedded database, the generated certificate and the admin token live.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset for the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    /// Plain-HTTP REST API.
    pub http_addr: SocketAddr,
    /// HTTPS REST API (the v3 SDK only speaks https).
    pub https_addr: SocketAddr,
    /// The XMPP domain every JID is in.
    pub domain: String,
    /// PEM certificate chain and key; generated (self-signed) into `data_dir/tls` when unset.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Bearer token of the admin API; generated into `data_dir/admin_token` when unset.
    pub admin_token: Option<String>,
    /// Session lifetime without use, in seconds.
    pub session_ttl_secs: u64,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` itself wins when set.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            http_addr: "0.0.0.0:8080".parse().expect("valid address"),
            https_addr: "0.0.0.0:8443".parse().expect("valid address"),
            domain: "localhost".into(),
            tls_cert: None,
            tls_key: None,
            admin_token: None,
            session_ttl_secs: 2 * 60 * 60,
            log: "info".into(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("PALAVER_").ignore(&["config"]))
            .extract()
            .map_err(Box::new)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => palaver_store::sqlite_url(&self.data_dir),
        }
    }

    pub fn core_settings(&self) -> palaver_core::CoreSettings {
        palaver_core::CoreSettings {
            session_ttl: std::time::Duration::from_secs(self.session_ttl_secs.max(1)),
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail works with its own error type
mod tests {
    use super::*;

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
}
