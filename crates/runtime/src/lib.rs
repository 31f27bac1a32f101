//! Process plumbing the switchyard servers share: listening where the last
//! run listened, shutting down on a signal, logging, and keeping connections
//! usable after a request body was left unread.

pub mod listen;
pub mod telemetry;
pub mod unread_body;

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutdown requested; draining in-flight requests");
    })
}
