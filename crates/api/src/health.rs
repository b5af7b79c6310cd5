//! `/health` and `/ready`. Health is liveness: the process answers HTTP. Readiness is whether it can do
//! its work: the database answers a read of Palaver's tables, and every listener the server registered
//! is accepting connections (and the server is not shutting down). A load balancer or an orchestrator
//! sends traffic on `/ready` and restarts on `/health`.

use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `/ready` waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(3);

/// The listeners that are serving, and whether the server is shutting down. Cheap to clone.
#[derive(Clone, Default)]
pub struct Readiness {
    listeners: Arc<Mutex<BTreeMap<&'static str, bool>>>,
    stopping: Arc<AtomicBool>,
}

impl Readiness {
    /// Marks the listener `name` as serving until the returned guard is dropped (when its accept loop
    /// ends).
    pub fn serving(&self, name: &'static str) -> Serving {
        self.set(name, true);
        Serving {
            readiness: self.clone(),
            name,
        }
    }

    /// From now on the server is not ready: it is draining before it stops.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn set(&self, name: &'static str, up: bool) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, up);
    }

    fn listeners(&self) -> BTreeMap<&'static str, bool> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A listener that is accepting connections; it stops counting as one when dropped.
pub struct Serving {
    readiness: Readiness,
    name: &'static str,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.readiness.set(self.name, false);
    }
}

/// `GET /health`: the process is alive.
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /ready`: 200 `{"status": "ready", …}` or 503 with what is wrong.
pub async fn ready(State(state): State<ApiState>) -> Response {
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, state.core.store.admin().ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            "unreachable"
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            "timed out"
        }
    };
    let listeners = state.readiness.listeners();
    let stopping = state.readiness.stopping.load(Ordering::SeqCst);
    let ready = database == "ok" && !stopping && listeners.values().all(|up| *up);
    let listeners: Map<String, Value> = listeners
        .into_iter()
        .map(|(name, up)| (name.to_owned(), json!(if up { "serving" } else { "down" })))
        .collect();
    let body = json!({
        "status": if ready { "ready" } else if stopping { "stopping" } else { "not ready" },
        "database": database,
        "listeners": listeners,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
