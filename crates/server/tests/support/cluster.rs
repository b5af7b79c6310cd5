//! Three (or more) real `palaver` nodes on one fresh PostgreSQL schema and the NATS server on this machine,
//! under a subject prefix of their own, with one application and a few users.

use super::world::{call, password, session_token};
use super::xmpp::Client;
use super::{Db, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Where the tests find NATS (`PALAVER_TEST_NATS_URL`, default the local server).
pub fn nats_url() -> String {
    std::env::var("PALAVER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Whether NATS answers; when it does not the cluster tests say so and skip.
pub fn nats_reachable() -> bool {
    let url = nats_url();
    let addr = url.trim_start_matches("nats://");
    let reachable = std::net::TcpStream::connect(addr).is_ok();
    if !reachable {
        eprintln!("SKIPPED: no NATS at {url} (start nats-server -js, or set PALAVER_TEST_NATS_URL)");
    }
    reachable
}

/// The admin API's token, the same on every node (as docs/cluster.md advises).
pub const ADMIN_TOKEN: &str = "cluster-admin-token";

pub struct Cluster {
    pub nodes: Vec<Server>,
    pub app: i64,
    pub key: String,
    /// (id, login); each user's password is `{login}-password`.
    pub users: Vec<(i64, String)>,
    pub http: reqwest::Client,
    /// The PostgreSQL schema the nodes share.
    pub schema: String,
}

impl Cluster {
    /// `nodes` nodes sharing a fresh schema, each with its own data directory and ports.
    pub async fn start(nodes: usize, app_name: &str, logins: &[&str]) -> Cluster {
        Cluster::start_on(&nats_url(), nodes, app_name, logins, &[]).await
    }

    /// The same, with more settings for every node.
    pub async fn start_with(
        nodes: usize,
        app_name: &str,
        logins: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Cluster {
        Cluster::start_on(&nats_url(), nodes, app_name, logins, extra_env).await
    }

    /// The same, on the NATS server at `nats`.
    pub async fn start_on(
        nats: &str,
        nodes: usize,
        app_name: &str,
        logins: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Cluster {
        let (url, schema) = palaver_store::testing::fresh_postgres_schema()
            .await
            .expect("PostgreSQL for tests");
        let prefix = format!("test{}", palaver_proto::random_hex_token(6));
        let mut started = Vec::new();
        for n in 0..nodes {
            let name = format!("node{n}");
            let mut env = vec![
                ("PALAVER_DATABASE_URL", url.as_str()),
                ("PALAVER_NATS_URL", nats),
                ("PALAVER_NATS_PREFIX", prefix.as_str()),
                ("PALAVER_NODE_NAME", name.as_str()),
                ("PALAVER_CLUSTER_NODE_TIMEOUT_MS", "2000"),
                ("PALAVER_CLUSTER_REQUEST_TIMEOUT_MS", "1000"),
                ("PALAVER_XMPP_STANZA_RATE", "0"),
                ("PALAVER_LOG", "info,palaver_cluster=debug"),
                ("PALAVER_ADMIN_TOKEN", ADMIN_TOKEN),
            ];
            env.extend_from_slice(extra_env);
            started.push(Server::start_with(Db::Sqlite, &env).await);
        }
        let (app, key, _) = started[0].create_app(app_name);
        let users = logins
            .iter()
            .map(|login| {
                (
                    started[0].create_user(app, login, &password(login)),
                    login.to_string(),
                )
            })
            .collect();
        Cluster {
            nodes: started,
            app,
            key,
            users,
            http: reqwest::Client::new(),
            schema,
        }
    }

    pub fn id(&self, n: usize) -> i64 {
        self.users[n].0
    }

    /// `{uid}-{app}`, the XMPP username.
    pub fn jid_node(&self, n: usize) -> String {
        format!("{}-{}", self.id(n), self.app)
    }

    pub fn bare(&self, n: usize) -> String {
        format!("{}@localhost", self.jid_node(n))
    }

    pub fn room(&self, dialog: &str) -> String {
        format!("{}_{dialog}@muc.localhost", self.app)
    }

    /// User `n` logged in on node `at` over WebSocket, with initial presence sent and echoed.
    pub async fn online(&self, n: usize, at: usize) -> Client {
        let mut client = Client::websocket(&self.nodes[at].ws).await;
        client
            .online("localhost", &self.jid_node(n), &password(&self.users[n].1))
            .await;
        client
    }

    /// User `n` logged in and bound on node `at`, without presence.
    pub async fn login(&self, n: usize, at: usize) -> Client {
        let mut client = Client::websocket(&self.nodes[at].ws).await;
        client
            .login("localhost", &self.jid_node(n), &password(&self.users[n].1))
            .await;
        client
    }

    /// A fresh REST session token of user `n`, made on node `at`.
    pub async fn token(&self, n: usize, at: usize) -> String {
        let login = &self.users[n].1;
        session_token(&self.http, &self.nodes[at].http, self.app, &self.key, login).await
    }

    /// A REST call on node `at`.
    /// A group dialog (type 2) made over REST at node `at` by the owner of `token`, with the users numbered
    /// `members` as occupants; its id.
    pub async fn group(&self, at: usize, token: &str, name: &str, members: &[usize]) -> String {
        let occupants: Vec<String> = members.iter().map(|&n| self.id(n).to_string()).collect();
        let (status, dialog) = self
            .rest(
                at,
                Method::POST,
                "/chat/Dialog.json",
                token,
                Some(json!({"type": 2, "name": name, "occupants_ids": occupants.join(", ")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{dialog}");
        dialog["_id"].as_str().unwrap().to_owned()
    }

    /// `DELETE /chat/Message/{id}.json` with `force=1` (for everyone) at node `at`; the status.
    pub async fn delete_for_everyone(&self, at: usize, token: &str, message_id: &str) -> StatusCode {
        self.http
            .delete(format!("{}/chat/Message/{message_id}.json", self.nodes[at].http))
            .header("CB-Token", token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("force=1")
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn rest(
        &self,
        at: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.http, &self.nodes[at].http, method, path, token, body).await
    }

    /// An admin API call on node `at`.
    pub async fn admin(
        &self,
        at: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.nodes[at].http))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        super::world::answer(request).await
    }

    /// The ids `GET /users/online` lists on node `at`.
    pub async fn online_ids(&self, at: usize, token: &str) -> Vec<i64> {
        let (status, body) = self
            .rest(at, Method::GET, "/users/online.json?limit=100", token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut ids: Vec<i64> = body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["user"]["id"].as_i64().or_else(|| u["id"].as_i64()).unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Waits until every node in `at` lists exactly `users` (indexes) online: the session directory has
    /// reached them. Panics after a minute, showing what was listed.
    pub async fn until_online_everywhere(&self, at: &[usize], users: &[usize], token: &str) {
        let mut want: Vec<i64> = users.iter().map(|&n| self.id(n)).collect();
        want.sort_unstable();
        let deadline = Instant::now() + Duration::from_secs(60);
        for &node in at {
            loop {
                let listed = self.online_ids(node, token).await;
                if listed == want {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {node} lists {listed:?} online, not {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The nodes first (their own Drop kills them), then the schema they shared.
        self.nodes.clear();
        let schema = std::mem::take(&mut self.schema);
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(palaver_store::testing::drop_postgres_schema(&schema))
        })
        .join();
    }
}

/// A NATS server of a test's own (so it can be killed and restarted without disturbing anyone else's),
/// on a free loopback port. `None` when `nats-server` is not installed.
pub struct OwnNats {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnNats {
    pub fn start() -> Option<OwnNats> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = OwnNats { port, child: None };
        nats.spawn().then_some(nats)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port); false when there is no `nats-server`.
    pub fn spawn(&mut self) -> bool {
        let Ok(child) = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        else {
            eprintln!("SKIPPED: nats-server is not installed");
            return false;
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Kills the server with SIGKILL.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.crash();
    }
}
