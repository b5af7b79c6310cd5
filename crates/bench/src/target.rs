//! The server under test: where it listens, its XMPP domain, how users log in, and the accounts to log
//! in as (loaded from the JSON that `palaver user import` prints, or any file of logins).

use crate::link::Endpoint;
use crate::sasl::Mechanism;
use anyhow::{bail, Context};
use serde::Deserialize;

/// One user account the generator may log in as.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    /// The server's user id, where it has one (Palaver); used in the XMPP username template.
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Reads accounts: a JSON array, or JSON objects one per line, each with `login` and optionally `id`
/// and `password` (those without a password get `default_password`).
pub fn parse_accounts(text: &str, default_password: Option<&str>) -> anyhow::Result<Vec<Account>> {
    let mut accounts: Vec<Account> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).context("a JSON array of accounts")?
    } else {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .enumerate()
            .map(|(n, line)| serde_json::from_str(line).with_context(|| format!("account line {}", n + 1)))
            .collect::<anyhow::Result<_>>()?
    };
    for account in &mut accounts {
        if account.password.is_none() {
            match default_password {
                Some(p) => account.password = Some(p.to_owned()),
                None => bail!(
                    "account {} has no password and no default was given",
                    account.login
                ),
            }
        }
    }
    Ok(accounts)
}

/// The REST API of a Palaver (or ConnectyCube-compatible) server.
#[derive(Debug, Clone)]
pub struct Rest {
    pub base_url: String,
    pub app_id: i64,
    pub auth_key: String,
}

#[derive(Debug, Clone)]
pub struct Target {
    /// A name for reports (`palaver`, `prosody`, `ejabberd`).
    pub label: String,
    pub endpoint: Endpoint,
    pub domain: String,
    /// Domain of group rooms (Palaver: `muc.{domain}`).
    pub muc_domain: String,
    pub mechanism: Mechanism,
    pub accounts: Vec<Account>,
    /// XMPP username of an account: `{id}`, `{login}` and `{app}` are replaced (Palaver: `{id}-{app}`).
    pub username_template: String,
    pub app: Option<i64>,
    pub rest: Option<Rest>,
}

impl Target {
    /// Account `n` (accounts are reused in turn when more clients than accounts are asked for).
    pub fn account(&self, n: usize) -> &Account {
        &self.accounts[n % self.accounts.len()]
    }

    pub fn username(&self, n: usize) -> String {
        let account = self.account(n);
        self.username_template
            .replace("{id}", &account.id.map(|i| i.to_string()).unwrap_or_default())
            .replace("{login}", &account.login)
            .replace("{app}", &self.app.map(|a| a.to_string()).unwrap_or_default())
    }

    pub fn password(&self, n: usize) -> &str {
        self.account(n).password.as_deref().unwrap_or_default()
    }

    pub fn bare_jid(&self, n: usize) -> String {
        format!("{}@{}", self.username(n), self.domain)
    }

    /// A Palaver dialog's room JID.
    pub fn room_jid(&self, dialog_id: &str) -> String {
        format!("{}_{dialog_id}@{}", self.app.unwrap_or_default(), self.muc_domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_output_and_arrays_both_load() {
        let lines =
            "{\"login\":\"u1\",\"id\":7}\n\n{\"login\":\"u2\",\"id\":8,\"password\":\"own-secret\"}\n";
        let accounts = parse_accounts(lines, Some("shared-secret")).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].password.as_deref(), Some("shared-secret"));
        assert_eq!(accounts[1].password.as_deref(), Some("own-secret"));
        let array = parse_accounts(r#"[{"login":"a","password":"p"}]"#, None).unwrap();
        assert_eq!(array[0].id, None);
        assert!(parse_accounts(r#"{"login":"a"}"#, None).is_err());
    }

    #[test]
    fn usernames_follow_the_template() {
        let target = Target {
            label: "palaver".into(),
            endpoint: Endpoint::tcp("127.0.0.1:5222".parse().unwrap()),
            domain: "localhost".into(),
            muc_domain: "muc.localhost".into(),
            mechanism: Mechanism::Plain,
            accounts: parse_accounts("{\"login\":\"u1\",\"id\":7}", Some("pw")).unwrap(),
            username_template: "{id}-{app}".into(),
            app: Some(3),
            rest: None,
        };
        assert_eq!(target.bare_jid(0), "7-3@localhost");
        assert_eq!(target.bare_jid(5), "7-3@localhost", "accounts are reused in turn");
        assert_eq!(target.room_jid("abc"), "3_abc@muc.localhost");
    }
}
