//! Listening where the last run listened. A port picked from 0 is stored in
//! the data dir, so after a crash the API and the local cloud come back on
//! the ports that clients, hook functions and tasks were given.

use std::net::SocketAddr;
use std::path::Path;
use tokio::net::TcpListener;

/// Binds `requested`. When its port is 0, first tries the address stored in
/// `memory` by an earlier run (same IP), and stores the address it gets.
pub async fn bind_remembered(requested: SocketAddr, memory: &Path) -> anyhow::Result<TcpListener> {
    if requested.port() != 0 {
        return bind(requested).await;
    }
    if let Some(previous) = remembered(memory).filter(|a| a.ip() == requested.ip()) {
        match TcpListener::bind(previous).await {
            Ok(listener) => return Ok(listener),
            Err(e) => {
                tracing::warn!(address = %previous, error = %e, "the port of the last run is taken; picking another");
            }
        }
    }
    let listener = bind(requested).await?;
    remember(memory, listener.local_addr()?)?;
    Ok(listener)
}

async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

fn remembered(memory: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(memory).ok()?.trim().parse().ok()
}

/// Written whole or not at all: a crash mid-write leaves the old address.
fn remember(memory: &Path, address: SocketAddr) -> anyhow::Result<()> {
    let partial = memory.with_extension("partial");
    std::fs::write(&partial, format!("{address}\n"))
        .and_then(|()| std::fs::rename(&partial, memory))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot store the listen address in {}: {e}",
                memory.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_picked_from_zero_is_picked_again() {
        let dir = tempfile::tempdir().unwrap();
        let memory = dir.path().join("listen-address");
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let first = bind_remembered(any, &memory).await.unwrap();
        let address = first.local_addr().unwrap();
        drop(first);
        let again = bind_remembered(any, &memory).await.unwrap();
        assert_eq!(again.local_addr().unwrap(), address);
        // Taken by someone else meanwhile: another port, remembered instead.
        let other = bind_remembered(any, &memory).await.unwrap();
        let moved = other.local_addr().unwrap();
        assert_ne!(moved, address);
        assert_eq!(remembered(&memory), Some(moved));
        // An explicit port is used as given and leaves the memory alone.
        drop(again);
        let explicit = bind_remembered(address, &memory).await.unwrap();
        assert_eq!(explicit.local_addr().unwrap(), address);
        assert_eq!(remembered(&memory), Some(moved));
    }
}
