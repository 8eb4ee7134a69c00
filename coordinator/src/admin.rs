//! The admin API's gRPC service: status streams read the status the
//! control loop publishes; commands go to the control loop as events and
//! wait for its answer.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_proto::admin::admin_server::Admin;
use floe_proto::admin::rewind_request::To;
use floe_proto::admin::table_snapshot::At;
use floe_proto::admin::{
    Changed, ClusterStatus, RewindRequest, SkipSegmentRequest, StatusRequest, TableSnapshot, TableStatus, Target,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::commit::RollbackTarget;
use crate::feed::Tp;
use crate::models::{AdminCommand, AdminError, Event};
use crate::pause::PauseTarget;

/// Shortest time between two updates of one stream.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

pub struct AdminService {
    events: mpsc::Sender<Event>,
    status: watch::Receiver<Arc<ClusterStatus>>,
}

impl AdminService {
    pub fn new(events: mpsc::Sender<Event>, status: watch::Receiver<Arc<ClusterStatus>>) -> Self {
        Self { events, status }
    }

    async fn command(&self, command: AdminCommand) -> Result<Response<Changed>, Status> {
        let (reply, answer) = oneshot::channel();
        let stopping = || Status::unavailable("the coordinator is stopping");
        self.events.send(Event::Admin { command, reply }).await.map_err(|_| stopping())?;
        match answer.await.map_err(|_| stopping())? {
            Ok(message) => Ok(Response::new(Changed { message })),
            Err(AdminError::NotFound(message)) => Err(Status::not_found(message)),
            Err(AdminError::Invalid(message)) => Err(Status::failed_precondition(message)),
            Err(AdminError::Unavailable(message)) => Err(Status::unavailable(message)),
        }
    }
}

/// Checks the bearer token of every call, when one is configured.
#[derive(Clone)]
pub struct TokenCheck {
    expected: Option<Arc<str>>,
}

impl TokenCheck {
    pub fn new(token: Option<String>) -> Self {
        Self { expected: token.filter(|t| !t.is_empty()).map(Arc::from) }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else { return Ok(request) };
        let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        match given.and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) if same(token.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("wrong admin token (admin.token)")),
            None => Err(Status::unauthenticated(
                "this coordinator requires an admin token: send `authorization: Bearer <admin.token>`",
            )),
        }
    }
}

/// Compares without stopping at the first difference, so response times do
/// not reveal how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn pause_target(target: Target) -> Result<PauseTarget, Status> {
    match (target.table.is_empty(), target.topic.is_empty(), target.partition) {
        (false, true, None) => Ok(PauseTarget::Table(target.table)),
        (true, false, None) => Ok(PauseTarget::Topic(target.topic)),
        (true, false, Some(partition)) => Ok(PauseTarget::Partition(Tp::new(target.topic, partition))),
        _ => Err(Status::invalid_argument("name a table, a topic, or a topic and one of its partitions")),
    }
}

/// The part of the status a request asks for.
fn filtered(status: &ClusterStatus, request: &StatusRequest) -> ClusterStatus {
    if request.table.is_empty() && request.topic.is_empty() {
        return status.clone();
    }
    let wanted_table = |t: &TableStatus| {
        (request.table.is_empty() || t.table == request.table || t.dead_letters_of == request.table)
            && (request.topic.is_empty() || t.topic == request.topic)
    };
    ClusterStatus {
        tables: status.tables.iter().filter(|t| wanted_table(t)).cloned().collect(),
        partitions: status
            .partitions
            .iter()
            .filter(|p| request.table.is_empty() || p.table == request.table)
            .filter(|p| request.topic.is_empty() || p.topic == request.topic)
            .cloned()
            .collect(),
        ..status.clone()
    }
}

type StatusStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ClusterStatus, Status>> + Send>>;

#[tonic::async_trait]
impl Admin for AdminService {
    type StatusStream = StatusStream;

    async fn status(&self, request: Request<StatusRequest>) -> Result<Response<StatusStream>, Status> {
        let request = request.into_inner();
        let interval = match request.interval_ms {
            0 => Duration::from_secs(1),
            ms => Duration::from_millis(ms.into()).max(MIN_INTERVAL),
        };
        let mut status = self.status.clone();
        let (updates, stream) = mpsc::channel(4);
        tokio::spawn(async move {
            // The first update is one built after the request, not a stale one.
            status.mark_unchanged();
            let mut last_sent: Option<Instant> = None;
            while status.changed().await.is_ok() {
                if last_sent.is_some_and(|at| at.elapsed() < interval) {
                    continue;
                }
                let update = filtered(&status.borrow_and_update(), &request);
                if updates.send(Ok(update)).await.is_err() || request.once {
                    return;
                }
                last_sent = Some(Instant::now());
            }
            let _ = updates.send(Err(Status::unavailable("the coordinator stopped"))).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn pause(&self, request: Request<Target>) -> Result<Response<Changed>, Status> {
        self.command(AdminCommand::Pause(pause_target(request.into_inner())?)).await
    }

    async fn resume(&self, request: Request<Target>) -> Result<Response<Changed>, Status> {
        self.command(AdminCommand::Resume(pause_target(request.into_inner())?)).await
    }

    async fn rewind(&self, request: Request<RewindRequest>) -> Result<Response<Changed>, Status> {
        let request = request.into_inner();
        match request.to {
            Some(To::Partition(p)) => {
                let reason = match request.reason.is_empty() {
                    true => "skipped by an operator".to_string(),
                    false => request.reason,
                };
                let table = Some(p.table).filter(|t| !t.is_empty());
                let tp = Tp::new(p.topic, p.partition);
                self.command(AdminCommand::SkipTo { tp, table, offset: p.offset, reason }).await
            }
            Some(To::Table(TableSnapshot { table, at })) => {
                let target = match at {
                    Some(At::SnapshotId(id)) => RollbackTarget::SnapshotId(id),
                    Some(At::TimestampMs(ms)) => RollbackTarget::AsOf(ms),
                    None => return Err(Status::invalid_argument("give the snapshot id or the time to go back to")),
                };
                let reason = match request.reason.is_empty() {
                    true => "rewound by an operator".to_string(),
                    false => request.reason,
                };
                self.command(AdminCommand::RewindTable { table, target, reason }).await
            }
            None => {
                Err(Status::invalid_argument("say where to rewind: a partition and offset, or a table and snapshot"))
            }
        }
    }

    async fn skip_segment(&self, request: Request<SkipSegmentRequest>) -> Result<Response<Changed>, Status> {
        let request = request.into_inner();
        if request.object.is_empty() {
            return Err(Status::invalid_argument("name the segment object (its `.kfs` key)"));
        }
        self.command(AdminCommand::SkipSegment { object: request.object, reason: request.reason }).await
    }
}

#[cfg(test)]
mod tests {
    use tonic::service::Interceptor;

    use super::*;

    #[test]
    fn the_token_is_required_when_configured() {
        let mut check = TokenCheck::new(Some("s3cr3t".into()));
        let with = |value: &str| {
            let mut request = Request::new(());
            request.metadata_mut().insert("authorization", value.parse().unwrap());
            request
        };
        assert!(check.call(with("Bearer s3cr3t")).is_ok());
        let wrong = check.call(with("Bearer guess")).unwrap_err();
        assert_eq!((wrong.code(), wrong.message()), (tonic::Code::Unauthenticated, "wrong admin token (admin.token)"));
        let missing = check.call(Request::new(())).unwrap_err();
        assert!(missing.message().contains("requires an admin token"), "{}", missing.message());
        assert!(TokenCheck::new(None).call(Request::new(())).is_ok());
    }

    #[test]
    fn targets_name_one_thing() {
        let target =
            |table: &str, topic: &str, partition| Target { table: table.into(), topic: topic.into(), partition };
        assert_eq!(pause_target(target("prod.orders", "", None)).unwrap(), PauseTarget::Table("prod.orders".into()));
        assert_eq!(pause_target(target("", "orders", Some(3))).unwrap(), PauseTarget::Partition(Tp::new("orders", 3)));
        assert_eq!(pause_target(target("", "orders", None)).unwrap(), PauseTarget::Topic("orders".into()));
        assert!(pause_target(target("t", "orders", None)).is_err());
        assert!(pause_target(target("", "", None)).is_err());
    }
}
