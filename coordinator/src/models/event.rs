//! The control loop's inbox: everything that changes coordinator state
//! arrives as one of these and is handled in order.

use std::collections::BTreeMap;

use floe_proto::worker::CoordinatorMessage;
use floe_proto::worker::worker_message::Body as FromWorker;
use tokio::sync::mpsc;

use super::admin::{AdminCommand, AdminReply, RolledBack};
use super::schema::{FetchError, FetchedSchema};
use super::table::LoadedTable;
use crate::commit::{CommitError, Committed, RollbackError, SessionId};
use crate::discovery::DiscoveryEvent;
use crate::gc::OrphanScan;
use crate::settings::TableMapping;

/// Messages to one worker. Bounded: a worker that stops reading is dropped
/// rather than letting the queue grow.
pub type Outbox = mpsc::Sender<Result<CoordinatorMessage, tonic::Status>>;

#[derive(Debug)]
pub enum Event {
    Connected {
        session: SessionId,
        worker_id: String,
        outbox: Outbox,
    },
    FromWorker {
        session: SessionId,
        body: FromWorker,
    },
    Disconnected {
        session: SessionId,
    },
    Discovery(DiscoveryEvent),
    Committed {
        table: String,
        files: usize,
        result: Result<Box<Committed>, CommitError>,
    },
    OrphansScanned(BTreeMap<String, OrphanScan>),
    /// An operator's command from the admin API.
    Admin {
        command: AdminCommand,
        reply: AdminReply,
    },
    /// A table's rollback (an operator's rewind) ended.
    RolledBack {
        table: String,
        result: Result<Box<RolledBack>, RollbackError>,
    },
    /// The table of a topic a mapping's pattern matched was loaded (or
    /// could not be).
    TableLoaded {
        mapping: Box<TableMapping>,
        result: Result<Box<LoadedTable>, String>,
    },
    /// A table's schema source answered (or did not).
    SchemaFetched {
        table: String,
        result: Result<FetchedSchema, FetchError>,
    },
    /// Stop: close every open file, commit, then end the loop.
    Drain,
}
