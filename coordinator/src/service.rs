//! The worker protocol's gRPC service: one bidirectional stream per worker,
//! bridged to the control loop.

use std::sync::atomic::{AtomicU64, Ordering};

use floe_proto::worker::coordination_server::Coordination;
use floe_proto::worker::worker_message::Body as FromWorker;
use floe_proto::worker::{CoordinatorMessage, WorkerMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::commit::SessionId;
use crate::models::Event;

/// Messages queued for a worker before it is considered stuck.
const OUTBOX_CAPACITY: usize = 16 * 1024;

pub struct WorkerService {
    events: mpsc::Sender<Event>,
    next_session: AtomicU64,
}

impl WorkerService {
    pub fn new(events: mpsc::Sender<Event>) -> Self {
        Self { events, next_session: AtomicU64::new(1) }
    }
}

#[tonic::async_trait]
impl Coordination for WorkerService {
    type SessionStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let register = match inbound.message().await?.and_then(|m| m.body) {
            Some(FromWorker::Register(register)) => register,
            _ => return Err(Status::invalid_argument("the first message of a session must be Register")),
        };
        if register.worker_id.is_empty() {
            return Err(Status::invalid_argument("Register.worker_id is empty: give each worker a name"));
        }
        let session = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let (outbox, messages) = mpsc::channel(OUTBOX_CAPACITY);
        let events = self.events.clone();
        events
            .send(Event::Connected { session, worker_id: register.worker_id, outbox })
            .await
            .map_err(|_| Status::unavailable("the coordinator is shutting down"))?;
        tokio::spawn(async move {
            // Forward until the stream ends or breaks; either way the worker is gone.
            while let Ok(Some(message)) = inbound.message().await {
                let Some(body) = message.body else { continue };
                if events.send(Event::FromWorker { session, body }).await.is_err() {
                    return;
                }
            }
            let _ = events.send(Event::Disconnected { session }).await;
        });
        Ok(Response::new(ReceiverStream::new(messages)))
    }
}
