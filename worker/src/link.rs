//! The worker's side of the session stream: ordered outbound messages, and
//! the file-path requests waiting for the coordinator's answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use floe_proto::worker::worker_message::Body;
use floe_proto::worker::{FileOpened, OpenFile, WorkerMessage};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
#[error("the session with the coordinator has ended")]
pub struct SessionClosed;

pub struct CoordinatorLink {
    outbound: mpsc::Sender<WorkerMessage>,
    next_request: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<FileOpened>>>,
}

impl CoordinatorLink {
    pub fn new(outbound: mpsc::Sender<WorkerMessage>) -> Self {
        Self { outbound, next_request: AtomicU64::new(1), waiting: Mutex::new(HashMap::new()) }
    }

    /// Sends a message; messages leave in the order they were sent.
    pub async fn send(&self, body: Body) -> Result<(), SessionClosed> {
        self.outbound.send(WorkerMessage { body: Some(body) }).await.map_err(|_| SessionClosed)
    }

    /// Asks the coordinator for a new data file path of `table`.
    pub async fn open_file(&self, table: &str, partition_path: &str) -> Result<Result<String, String>, SessionClosed> {
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(request_id, tx);
        let open = OpenFile { request_id, table: table.to_string(), partition_path: partition_path.to_string() };
        self.send(Body::OpenFile(open)).await?;
        let answer = rx.await.map_err(|_| SessionClosed)?;
        Ok(if answer.error.is_empty() { Ok(answer.path) } else { Err(answer.error) })
    }

    /// Delivers the coordinator's answer to the waiting request.
    pub fn file_opened(&self, answer: FileOpened) {
        if let Some(waiting) = self.lock().remove(&answer.request_id) {
            let _ = waiting.send(answer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<FileOpened>>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
