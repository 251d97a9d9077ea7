//! The HTTP API under `/ext/`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::node::Node;

/// The API router.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/ext/health", get(health))
        .route("/ext/health/liveness", get(liveness))
        .route("/ext/info", get(info))
        .route("/ext/metrics", get(metrics))
        .route("/ext/kv/{key}", get(get_key).put(put_key))
        .route("/ext/fault/crash", post(crash))
        .with_state(node)
}

async fn health(State(node): State<Arc<Node>>) -> Response {
    let missing = node.missing_bootstrap_peers();
    let reason = if node.config.faults.unhealthy {
        Some("unhealthy by fault injection (fault-unhealthy)".to_owned())
    } else if !missing.is_empty() {
        Some(format!(
            "not connected to bootstrap peers: {}",
            missing.join(", ")
        ))
    } else {
        None
    };
    match reason {
        None => (StatusCode::OK, Json(json!({"healthy": true}))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"healthy": false, "reason": reason})),
        )
            .into_response(),
    }
}

/// Fault injection: answers, then exits at once with code 70 (no clean
/// shutdown, `process.json` left behind), as a crashing daemon would.
async fn crash() -> Json<serde_json::Value> {
    tracing::error!("crashing on request (POST /ext/fault/crash)");
    tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        std::process::exit(CRASH_EXIT_CODE);
    });
    Json(json!({"crashing": true}))
}

/// The exit code of a crash asked for through the API.
pub const CRASH_EXIT_CODE: i32 = 70;

async fn liveness() -> Json<serde_json::Value> {
    Json(json!({"alive": true}))
}

async fn info(State(node): State<Arc<Node>>) -> Json<serde_json::Value> {
    Json(json!({
        "nodeId": node.config.node_id,
        "version": env!("CARGO_PKG_VERSION"),
        "p2pAddress": node.p2p_address,
        "peers": node.peers(),
        "keys": node.key_count(),
    }))
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let c = &node.counters;
    let lines = [
        (
            "refnode_peers",
            "gauge",
            "Connected peers.",
            node.peers().len() as u64,
        ),
        (
            "refnode_kv_keys",
            "gauge",
            "Keys in the store.",
            node.key_count() as u64,
        ),
        (
            "refnode_kv_puts_total",
            "counter",
            "Local writes.",
            c.puts.load(Ordering::Relaxed),
        ),
        (
            "refnode_gossip_received_total",
            "counter",
            "Entries received from peers.",
            c.gossip_received.load(Ordering::Relaxed),
        ),
        (
            "refnode_gossip_sent_total",
            "counter",
            "Entries sent to peers.",
            c.gossip_sent.load(Ordering::Relaxed),
        ),
        (
            "refnode_connections_opened_total",
            "counter",
            "p2p connections opened.",
            c.connections_opened.load(Ordering::Relaxed),
        ),
        (
            "refnode_uptime_seconds",
            "gauge",
            "Seconds since start.",
            node.started.elapsed().as_secs(),
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in lines {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn get_key(State(node): State<Arc<Node>>, Path(key): Path<String>) -> Response {
    match node.get(&key) {
        Some(value) => value.into_response(),
        None => (StatusCode::NOT_FOUND, format!("no key {key:?}\n")).into_response(),
    }
}

async fn put_key(State(node): State<Arc<Node>>, Path(key): Path<String>, body: String) -> Response {
    match node.put(&key, body) {
        Ok(entry) => Json(json!({"key": entry.key, "version": entry.version})).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}
