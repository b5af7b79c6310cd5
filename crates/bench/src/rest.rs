//! The few REST calls the scenarios need from a Palaver server: a user session (its token logs in over
//! XMPP too), a group dialog, and plain reads (dialog lists, history pages).

use crate::target::Rest;
use anyhow::{bail, Context};
use serde_json::{json, Value};

#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    rest: Rest,
}

impl RestClient {
    pub fn new(rest: Rest) -> RestClient {
        RestClient {
            http: reqwest::Client::new(),
            rest,
        }
    }

    /// `POST /session.json` with a login and password; the session token.
    pub async fn session(&self, login: &str, password: &str) -> anyhow::Result<String> {
        let body: Value = self
            .post(
                "/session.json",
                None,
                json!({"application_id": self.rest.app_id, "auth_key": self.rest.auth_key,
                    "user": {"login": login, "password": password}}),
            )
            .await?;
        body["session"]["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no session token in {body}"))
    }

    /// `POST /chat/Dialog.json` of type 2 (group) owned by the token's user; the dialog id.
    pub async fn create_group(&self, token: &str, name: &str, occupants: &[i64]) -> anyhow::Result<String> {
        let ids: Vec<String> = occupants.iter().map(i64::to_string).collect();
        let body = self
            .post(
                "/chat/Dialog.json",
                Some(token),
                json!({"type": 2, "name": name, "occupants_ids": ids.join(",")}),
            )
            .await?;
        body["_id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no dialog id in {body}"))
    }

    /// `GET path` as the token's user; the JSON body.
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.rest.base_url))
            .header("CB-Token", token)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.rest.base_url))
            .json(&body);
        if let Some(token) = token {
            request = request.header("CB-Token", token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}
