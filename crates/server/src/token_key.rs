//! The server's token key (`palaver_core::token_seal`): configured, or made once in the data directory.

use crate::config::Config;
use crate::tls;
use anyhow::{bail, Context};
use palaver_core::token_seal::{TokenSealer, TOKEN_KEY_LEN};

/// The sealer for session tokens: from `token_key`, else (one node) from `data_dir/token_key`, made on first
/// start. A cluster member without `token_key` gets none, since a key of its own would not open the other
/// nodes' tokens: its sessions keep their tokens' SCRAM keys from the start.
pub fn token_sealer(config: &Config, clustered: bool) -> anyhow::Result<Option<TokenSealer>> {
    if let Some(key) = config.token_key.as_deref().filter(|k| !k.trim().is_empty()) {
        return Ok(Some(TokenSealer::new(
            &parse(key).context("token_key (PALAVER_TOKEN_KEY)")?,
        )));
    }
    if clustered {
        tracing::info!(
            "no token_key: this cluster node derives each session token's SCRAM keys when the session is made \
             (set the same token_key on every node to derive them on first use)"
        );
        return Ok(None);
    }
    let path = config.data_dir.join("token_key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = parse(&text).with_context(|| format!("the token key in {}", path.display()))?;
            Ok(Some(TokenSealer::new(&key)))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = TokenSealer::generate_key();
            tls::write_private(&path, hex::encode(key).as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(file = %path.display(), "generated the session token key");
            Ok(Some(TokenSealer::new(&key)))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

fn parse(text: &str) -> anyhow::Result<[u8; TOKEN_KEY_LEN]> {
    let bytes = hex::decode(text.trim()).context("not hexadecimal")?;
    let Ok(key) = <[u8; TOKEN_KEY_LEN]>::try_from(bytes.as_slice()) else {
        bail!(
            "{} hex digits, where a token key has {}",
            text.trim().len(),
            TOKEN_KEY_LEN * 2
        );
    };
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> Config {
        Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        }
    }

    #[test]
    fn one_node_makes_its_key_once_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = token_sealer(&config(dir.path()), false).unwrap().unwrap();
        let saved = std::fs::read_to_string(dir.path().join("token_key")).unwrap();
        assert_eq!(saved.len(), 64);
        let again = token_sealer(&config(dir.path()), false).unwrap().unwrap();
        let sealed = first.seal("token", "hash");
        assert_eq!(
            again.open(&sealed, "hash").as_deref(),
            Some("token"),
            "the same key after a restart"
        );
    }

    #[test]
    fn a_configured_key_wins_and_a_cluster_without_one_derives_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let key = "11".repeat(32);
        let configured = Config {
            token_key: Some(key.clone()),
            ..config(dir.path())
        };
        let sealer = token_sealer(&configured, true).unwrap().unwrap();
        let same = TokenSealer::new(&[0x11; 32]);
        assert_eq!(same.open(&sealer.seal("t", "h"), "h").as_deref(), Some("t"));
        assert!(
            !dir.path().join("token_key").exists(),
            "nothing written when configured"
        );

        assert!(token_sealer(&config(dir.path()), true).unwrap().is_none());
        assert!(!dir.path().join("token_key").exists());

        let short = Config {
            token_key: Some("abcd".into()),
            ..config(dir.path())
        };
        let error = format!("{:#}", token_sealer(&short, false).unwrap_err());
        assert!(
            error.contains("4 hex digits, where a token key has 64"),
            "{error}"
        );
    }
}
