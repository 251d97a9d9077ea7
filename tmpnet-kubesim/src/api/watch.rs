//! Watches: a streamed response of a resource's events (ADDED, MODIFIED,
//! DELETED as the selectors see them), with bookmarks and a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::query::truthy;
use crate::resources::Resource;
use crate::shared::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::Event;

use super::selectors;

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub(super) fn watch_response(
    shared: Arc<Shared>,
    res: &'static Resource,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let (labels, fields) = selectors(q)?;
    let since = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let bookmarks = truthy(q, "allowWatchBookmarks");
    let ns = ns.map(str::to_owned);
    // What this watch sends for an event, if anything: a change that makes
    // an object start (stop) matching the selectors is sent as ADDED
    // (DELETED), as the apiserver does.
    let translate = move |e: &Event| -> Option<&'static str> {
        if !std::ptr::eq(e.resource, res) || ns.as_deref().is_some_and(|n| e.namespace() != Some(n))
        {
            return None;
        }
        let matches = |o: &Value| labels.matches_labels(o) && fields.matches_fields(o);
        let now = matches(&e.object);
        match (&e.previous, now) {
            (Some(before), true) if !matches(before) => Some("ADDED"),
            (Some(before), false) if matches(before) => Some("DELETED"),
            (_, true) => Some(e.kind.as_str()),
            (_, false) => None,
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let started = shared.store.watch(res, since);
    tokio::spawn(async move {
        let (initial, mut receiver, initial_rv) = match started {
            Ok(pair) => pair,
            Err(e) => {
                let _ = tx.send(Ok(event_line("ERROR", &e.to_status()))).await;
                return;
            }
        };
        let mut last = since.unwrap_or(0);
        for event in &initial {
            let Some(kind) = translate(event) else {
                continue;
            };
            last = last.max(event.rv);
            if tx.send(Ok(event_line(kind, &event.object))).await.is_err() {
                return;
            }
        }
        let bookmark = |rv: u64| json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
        if bookmarks {
            // Everything up to now that matters was sent (the rest did not
            // match): resuming from here loses nothing.
            last = last.max(initial_rv);
            let _ = tx.send(Ok(event_line("BOOKMARK", &bookmark(last)))).await;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticks = tokio::time::interval(Duration::from_secs(10));
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = ticks.tick(), if bookmarks => {
                    // The last event processed: events still queued in the
                    // receiver are newer and come after a resume from here.
                    if tx.send(Ok(event_line("BOOKMARK", &bookmark(last)))).await.is_err() {
                        return;
                    }
                }
                received = receiver.recv() => match received {
                    Ok(event) if event.rv > last => {
                        last = event.rv;
                        if let Some(kind) = translate(&event) {
                            if tx.send(Ok(event_line(kind, &event.object))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => {
                        let gone = ApiError::gone("the watch fell behind; list again".into());
                        let _ = tx.send(Ok(event_line("ERROR", &gone.to_status()))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}
