//! A push webhook receiver (`PALAVER_PUSH_WEBHOOK_URL`) on a free loopback port, keeping every post.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type Posts = Arc<Mutex<Vec<Value>>>;

/// Starts the receiver: its URL and what it received.
pub async fn webhook() -> (String, Posts) {
    let posts: Posts = Arc::default();
    async fn receive(State(posts): State<Posts>, Json(body): Json<Value>) -> &'static str {
        posts.lock().unwrap().push(body);
        "ok"
    }
    let router = Router::new()
        .route("/push", post(receive))
        .with_state(posts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, posts)
}

/// Waits for `n` posts (10 s at most), then a little longer, so that "exactly n" means something.
pub async fn wait_for(posts: &Posts, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = posts.lock().unwrap().clone();
        if got.len() >= n {
            tokio::time::sleep(Duration::from_millis(700)).await;
            return posts.lock().unwrap().clone();
        }
        assert!(
            Instant::now() < deadline,
            "webhook got {} of {n} posts: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
