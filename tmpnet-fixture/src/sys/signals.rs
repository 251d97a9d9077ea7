//! The signals that end a run early: Ctrl-C (SIGINT), SIGTERM, and a closed
//! terminal (SIGHUP). Every program of the project answers them alike: it
//! stops what it started, then exits with 128 + the signal's number.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves when one of them arrives, with the exit code that reports it:
/// 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). Never resolves if they
/// cannot be watched (a warning says so; a killed run is reaped by the
/// next one).
pub async fn ending_signal() -> u8 {
    let watch = |kind: SignalKind| {
        signal(kind).map_err(|e| tracing::warn!(error = %e, "cannot watch for signals; an interrupted run is reaped by the next one"))
    };
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        watch(SignalKind::interrupt()),
        watch(SignalKind::terminate()),
        watch(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 130,
        _ = term.recv() => 143,
        _ = hup.recv() => 129,
    }
}
