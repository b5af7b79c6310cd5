//! A running server with one application and a few users, and the calls tests make as those users:
//! REST with their session tokens, XMPP logins.

use super::xmpp::Client;
use super::{Db, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub struct World {
    pub server: Server,
    pub app: i64,
    pub key: String,
    /// (id, login); each user's password is `{login}-password`.
    pub users: Vec<(i64, String)>,
    pub http: reqwest::Client,
}

impl World {
    pub async fn start(db: Db, env: &[(&str, &str)], app_name: &str, logins: &[&str]) -> World {
        let server = Server::start_with(db, env).await;
        let (app, key, _) = server.create_app(app_name);
        let users = logins
            .iter()
            .map(|login| {
                (
                    server.create_user(app, login, &password(login)),
                    login.to_string(),
                )
            })
            .collect();
        World {
            server,
            app,
            key,
            users,
            http: reqwest::Client::new(),
        }
    }

    pub fn id(&self, n: usize) -> i64 {
        self.users[n].0
    }

    /// `{uid}-{app}`, the XMPP username.
    pub fn node(&self, n: usize) -> String {
        format!("{}-{}", self.id(n), self.app)
    }

    pub fn bare(&self, n: usize) -> String {
        format!("{}@localhost", self.node(n))
    }

    /// A dialog's room JID.
    pub fn room(&self, dialog: &str) -> String {
        format!("{}_{dialog}@muc.localhost", self.app)
    }

    /// A fresh user session token.
    pub async fn token(&self, n: usize) -> String {
        let login = &self.users[n].1;
        session_token(&self.http, &self.server.http, self.app, &self.key, login).await
    }

    /// A REST call with a JSON body (if any); the answer as JSON, or as a string when it is not JSON.
    pub async fn rest(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.http, &self.server.http, method, path, token, body).await
    }

    /// Logged in over WebSocket and bound, without presence.
    pub async fn login(&self, n: usize) -> Client {
        let mut client = Client::websocket(&self.server.ws).await;
        client
            .login("localhost", &self.node(n), &password(&self.users[n].1))
            .await;
        client
    }

    /// Logged in, with initial presence sent and echoed.
    pub async fn online(&self, n: usize) -> Client {
        let mut client = Client::websocket(&self.server.ws).await;
        client
            .online("localhost", &self.node(n), &password(&self.users[n].1))
            .await;
        client
    }
}

pub fn password(login: &str) -> String {
    format!("{login}-password")
}

/// Sends a request; the status and the body as JSON (or as a string when it is not JSON).
/// A REST session token of `login` (password: [`password`]) from the server at `base`.
pub async fn session_token(http: &reqwest::Client, base: &str, app: i64, key: &str, login: &str) -> String {
    let body: Value = http
        .post(format!("{base}/session.json"))
        .json(&json!({"application_id": app, "auth_key": key,
            "user": {"login": login, "password": password(login)}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["session"]["token"].as_str().unwrap().to_owned()
}

/// A REST call to the server at `base` with a JSON body (if any).
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http
        .request(method, format!("{base}{path}"))
        .header("CB-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request).await
}

/// Every message of a dialog's history, page after page, without marking them read.
pub async fn whole_history(http: &reqwest::Client, base: &str, token: &str, dialog: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 0.. {
        let path = format!(
            "/chat/Message.json?chat_dialog_id={dialog}&limit=100&skip={}&mark_as_read=0",
            page * 100
        );
        let (_, history) = call(http, base, Method::GET, &path, token, None).await;
        let items = history["items"].as_array().unwrap();
        if items.is_empty() {
            return all;
        }
        all.extend(items.iter().cloned());
    }
    all
}

pub async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
