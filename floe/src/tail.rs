//! `floe tail`: the rows a table would receive from a partition (or the
//! records that would be dead letters, with why), decoded by the leading
//! coordinator from storage and streamed over Arrow Flight. One JSON object
//! per row on stdout.

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_flight::error::FlightError;
use arrow_flight::{FlightClient, Ticket};
use arrow_schema::DataType;
use base64::Engine as _;
use floe_console::Admin;
use futures::TryStreamExt;
use serde_json::{Map, Value};

use crate::ctl::AdminArgs;

pub struct TailRequest {
    pub topic: String,
    pub partition: i32,
    pub from: Option<i64>,
    pub limit: u64,
    pub dead_letters: bool,
}

pub async fn run(args: &AdminArgs, request: TailRequest) -> anyhow::Result<()> {
    let admin = Admin::connect(args.options()?).await?;
    let mut client = FlightClient::new(admin.channel());
    if let Some(token) = args.token() {
        client.add_header("authorization", &format!("Bearer {token}"))?;
    }
    let ticket = serde_json::json!({
        "topic": request.topic,
        "partition": request.partition,
        "from": request.from,
        "limit": request.limit,
        "dead_letters": request.dead_letters,
    });
    let what = format!("tailing {}/{}", request.topic, request.partition);
    let mut batches = client.do_get(Ticket::new(ticket.to_string())).await.map_err(plain).context(what.clone())?;
    while let Some(batch) = batches.try_next().await.map_err(plain).context(what.clone())? {
        for row in rows_as_json(&batch)? {
            println!("{row}");
        }
    }
    Ok(())
}

/// The coordinator's own message, without the transport's wrapping.
fn plain(error: FlightError) -> anyhow::Error {
    match error {
        FlightError::Tonic(status) => anyhow::anyhow!("{}", status.message()),
        other => other.into(),
    }
}

/// Each row as a JSON object: numbers and booleans as JSON, binary as UTF-8
/// text when it is (base64 otherwise), everything else as Arrow displays it.
fn rows_as_json(batch: &RecordBatch) -> anyhow::Result<Vec<Value>> {
    let options = FormatOptions::default();
    let mut rows = vec![Map::new(); batch.num_rows()];
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        for (i, row) in rows.iter_mut().enumerate() {
            let value = if column.is_null(i) {
                Value::Null
            } else {
                match field.data_type() {
                    DataType::Binary | DataType::LargeBinary => {
                        let bytes = match field.data_type() {
                            DataType::Binary => column.as_binary::<i32>().value(i),
                            _ => column.as_binary::<i64>().value(i),
                        };
                        match std::str::from_utf8(bytes) {
                            Ok(text) => Value::String(text.to_string()),
                            Err(_) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
                        }
                    }
                    DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::Float32
                    | DataType::Float64
                    | DataType::Boolean => serde_json::from_str(&formatter.value(i).to_string()).unwrap_or(Value::Null),
                    _ => Value::String(formatter.value(i).to_string()),
                }
            };
            row.insert(field.name().clone(), value);
        }
    }
    Ok(rows.into_iter().map(Value::Object).collect())
}
