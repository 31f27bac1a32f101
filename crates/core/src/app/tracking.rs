//! What the use cases hand to the tracker once their change is committed:
//! a deployment or pipeline run to follow until it ends. The tracker (which
//! holds the application, so the application cannot hold it) takes the
//! receiving end once at start; handlers never call it.

use super::App;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Something to follow until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    Deployment(i64),
    PipelineRun(i64),
}

#[derive(Debug)]
pub(super) struct TrackingRequests {
    sender: mpsc::UnboundedSender<Tracked>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Tracked>>>,
}

impl Default for TrackingRequests {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        TrackingRequests {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

impl App {
    /// Asks for `what` to be followed; call after the commit that made it.
    pub(crate) fn track(&self, what: Tracked) {
        // Without a tracker (a one-off command) nobody follows: fine.
        let _ = self.tracking.sender.send(what);
    }

    /// The requests to follow, for the one tracker; None once taken.
    pub fn take_tracking_requests(&self) -> Option<mpsc::UnboundedReceiver<Tracked>> {
        self.tracking
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}
