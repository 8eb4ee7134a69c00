//! `floe tail`: what a table would receive from a partition, decoded on
//! demand from storage and streamed as Arrow record batches over an Arrow
//! Flight `DoGet` on the admin endpoint. It reads segments the way workers
//! do (every CRC checked, read-committed, typed columns filled by the same
//! row builder) but commits nothing: it is for looking, e.g. at why records
//! become dead letters.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse,
    PollInfo, PutResult, SchemaResult, Ticket,
};
use arrow_schema::SchemaRef;
use floe_config::PayloadFormat;
use floe_kfs::naming::{ObjectKind, parse_object_name};
use floe_kfs::reader::{ReaderOptions, SegmentReader};
use floe_kfs::record::Record;
use floe_kfs::txn::ReadCommitted;
use floe_registry::confluent::ConfluentRegistry;
use floe_storage::SegmentStore;
use floe_table::{MappedColumn, RowBuilder};
use futures::stream::{BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// Rows per record batch sent.
const BATCH_ROWS: usize = 1000;
/// Bytes of open transactions held while tailing, as a worker's default.
const MAX_PENDING_TXN_BYTES: usize = 64 << 20;

/// What `floe tail` asks for, as the Flight ticket (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailTicket {
    pub topic: String,
    pub partition: i32,
    /// From this offset; the first in storage when absent.
    pub from: Option<i64>,
    /// At most this many rows; 0 for all that storage holds.
    pub limit: u64,
    /// The records that would be dead letters (with their reasons) instead
    /// of the rows.
    pub dead_letters: bool,
}

/// A mapped topic's table, as workers would write it.
#[derive(Debug, Clone)]
pub struct TailTable {
    pub schema: SchemaRef,
    pub columns: Vec<MappedColumn>,
    pub format: PayloadFormat,
    /// The dead-letter table's schema, for a typed table.
    pub dead_letters: Option<SchemaRef>,
}

/// Each followed topic's table; the control loop adds those of topics a
/// mapping's pattern finds.
pub type TailTables = Arc<std::sync::RwLock<HashMap<String, TailTable>>>;

pub struct TailService {
    store: Arc<dyn SegmentStore>,
    tables: TailTables,
    /// Writer schemas of wire-format tables.
    registry: Option<Arc<ConfluentRegistry>>,
}

impl TailService {
    pub fn new(store: Arc<dyn SegmentStore>, tables: TailTables, registry: Option<Arc<ConfluentRegistry>>) -> Self {
        Self { store, tables, registry }
    }
}

/// Gives `rows` the writer schemas of `records` it lacks. Runs on a
/// blocking thread of the runtime.
fn add_writer_schemas(
    rows: &mut RowBuilder,
    records: &[Record],
    registry: Option<&ConfluentRegistry>,
) -> Result<(), String> {
    let ids = rows.unknown_schema_ids(records);
    let Some(registry) = registry.filter(|_| !ids.is_empty()) else { return Ok(()) };
    let runtime = tokio::runtime::Handle::current();
    for id in ids {
        let schema = runtime.block_on(registry.writer_schema(id)).map_err(|e| e.to_string())?;
        rows.add_writer_schema(id, schema);
    }
    Ok(())
}

/// Decodes the partition's segments from `ticket.from` and sends record
/// batches until the limit or the end of storage.
async fn tail(
    store: Arc<dyn SegmentStore>,
    registry: Option<Arc<ConfluentRegistry>>,
    table: TailTable,
    ticket: TailTicket,
    out: mpsc::Sender<Result<arrow_array::RecordBatch, FlightError>>,
) -> Result<(), String> {
    let (topic, partition) = (ticket.topic.clone(), ticket.partition);
    let listed = store.list_partition(&topic, partition, None).await.map_err(|e| e.to_string())?;
    let mut segments: Vec<(i64, String)> = listed
        .into_iter()
        .filter_map(|o| match parse_object_name(&o.key)? {
            (base, ObjectKind::Segment) => Some((base, o.key)),
            _ => None,
        })
        .collect();
    segments.sort();
    // The segment holding `from` is the last one starting at or before it.
    let from = ticket.from.unwrap_or(i64::MIN);
    let first = segments.iter().rposition(|(base, _)| *base <= from).unwrap_or(0);
    let mut remaining = if ticket.limit == 0 { u64::MAX } else { ticket.limit };
    let mut txn = ReadCommitted::new(from.max(0), MAX_PENDING_TXN_BYTES);
    for (_, key) in segments.into_iter().skip(first) {
        if out.is_closed() {
            break; // the client went away
        }
        let bytes = store.get(&key).await.map_err(|e| e.to_string())?;
        let (table, ticket, out, registry) = (table.clone(), ticket.clone(), out.clone(), registry.clone());
        let (sent, state) = tokio::task::spawn_blocking(move || {
            let segment = Segment { key: &key, bytes, registry: registry.as_deref() };
            decode_segment(segment, &table, &ticket, txn, remaining, &out)
        })
        .await
        .map_err(|e| e.to_string())??;
        txn = state;
        remaining -= sent;
        if remaining == 0 {
            break;
        }
    }
    Ok(())
}

/// A segment to decode, and where its records' writer schemas are.
struct Segment<'a> {
    key: &'a str,
    bytes: bytes::Bytes,
    registry: Option<&'a ConfluentRegistry>,
}

/// One segment's rows (or dead letters), in batches of [`BATCH_ROWS`];
/// how many were sent, and the transaction state to carry on with.
fn decode_segment(
    Segment { key, bytes, registry }: Segment<'_>,
    table: &TailTable,
    ticket: &TailTicket,
    mut txn: ReadCommitted,
    limit: u64,
    out: &mpsc::Sender<Result<arrow_array::RecordBatch, FlightError>>,
) -> Result<(u64, ReadCommitted), String> {
    let size = bytes.len() as u64;
    let mut reader =
        SegmentReader::new(Cursor::new(bytes), key, size, ReaderOptions::default()).map_err(|e| e.to_string())?;
    let mut rows = RowBuilder::new(table.schema.clone(), &table.columns)
        .map(|rows| rows.with_format(table.format))
        .map_err(|e| e.to_string())?;
    let mut dead = match (&table.dead_letters, ticket.dead_letters) {
        (Some(schema), true) => Some(RowBuilder::for_dead_letters(schema.clone()).map_err(|e| e.to_string())?),
        _ => None,
    };
    let from = ticket.from.unwrap_or(i64::MIN);
    let (mut decided, mut sent) = (Vec::new(), 0u64);
    // Sends what the builder holds, cut at the limit; false once done.
    let flush = |builder: &mut RowBuilder, sent: &mut u64| -> Result<bool, String> {
        let batch = builder.finish().map_err(|e| e.to_string())?;
        let take = (limit - *sent).min(batch.num_rows() as u64);
        *sent += take;
        let client_gone = out.blocking_send(Ok(batch.slice(0, take as usize))).is_err();
        Ok(!client_gone && *sent < limit)
    };
    while let Some(batch) = reader.next_batch().map_err(|e| e.to_string())? {
        txn.push(batch, &mut decided).map_err(|e| e.to_string())?;
        decided.retain(|r| r.offset >= from);
        add_writer_schemas(&mut rows, &decided, registry)?;
        let rejected = rows.append(&ticket.topic, ticket.partition, &decided, &[]).map_err(|e| e.to_string())?;
        if let Some(dead) = dead.as_mut() {
            for rejected in &rejected {
                let record = &decided[rejected.index];
                dead.append_dead_letter(&ticket.topic, ticket.partition, record, &rejected.rejection)
                    .map_err(|e| e.to_string())?;
            }
            rows.finish().map_err(|e| e.to_string())?; // the rows are not asked for
        }
        decided.clear();
        let builder = dead.as_mut().unwrap_or(&mut rows);
        if (builder.len() >= BATCH_ROWS || sent + builder.len() as u64 >= limit) && !flush(builder, &mut sent)? {
            return Ok((sent, txn));
        }
    }
    let builder = dead.as_mut().unwrap_or(&mut rows);
    if !builder.is_empty() {
        flush(builder, &mut sent)?;
    }
    Ok((sent, txn))
}

type FlightStream<T> = BoxStream<'static, Result<T, Status>>;

fn unsupported<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!("{what} is not served here: `floe tail` uses DoGet only")))
}

#[tonic::async_trait]
impl FlightService for TailService {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;
    type DoExchangeStream = FlightStream<FlightData>;

    async fn do_get(&self, request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        let ticket: TailTicket = serde_json::from_slice(&request.into_inner().ticket)
            .map_err(|e| Status::invalid_argument(format!("not a tail ticket: {e}")))?;
        let table = {
            let tables = self.tables.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            tables.get(&ticket.topic).cloned().ok_or_else(|| {
                let mut topics: Vec<&str> = tables.keys().map(String::as_str).collect();
                topics.sort();
                Status::not_found(format!("topic {} is not mapped; mapped topics: {}", ticket.topic, topics.join(", ")))
            })?
        };
        let schema = match (ticket.dead_letters, &table.dead_letters) {
            (true, Some(dead_letters)) => dead_letters.clone(),
            (true, None) => {
                return Err(Status::failed_precondition(format!(
                    "topic {} maps to a table of records as they are: every record becomes a row, none is a \
                     dead letter (dead letters come with typed columns)",
                    ticket.topic
                )));
            }
            (false, _) => table.schema.clone(),
        };
        let (batches, received) = mpsc::channel(4);
        let (store, registry) = (self.store.clone(), self.registry.clone());
        tokio::spawn(async move {
            let errors = batches.clone();
            if let Err(message) = tail(store, registry, table, ticket, batches).await {
                let _ = errors.send(Err(FlightError::Tonic(Box::new(Status::internal(message))))).await;
            }
        });
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(ReceiverStream::new(received))
            .map(|data| data.map_err(|e| Status::internal(e.to_string())));
        Ok(Response::new(stream.boxed()))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unsupported("Handshake")
    }

    async fn list_flights(&self, _: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("ListFlights")
    }

    async fn get_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        unsupported("GetFlightInfo")
    }

    async fn poll_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        unsupported("PollFlightInfo")
    }

    async fn get_schema(&self, _: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        unsupported("GetSchema")
    }

    async fn do_put(&self, _: Request<Streaming<FlightData>>) -> Result<Response<Self::DoPutStream>, Status> {
        unsupported("DoPut")
    }

    async fn do_action(&self, _: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        unsupported("DoAction")
    }

    async fn list_actions(&self, _: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
        unsupported("ListActions")
    }

    async fn do_exchange(&self, _: Request<Streaming<FlightData>>) -> Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("DoExchange")
    }
}
