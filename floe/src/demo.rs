//! `floe demo`: writes sample segments (several topics, partitions and
//! codecs, transactions), runs the pipeline on them (one typed, partitioned
//! table; the others as records are), and shows how to query the tables
//! with PyIceberg and DuckDB.

use std::path::Path;

use anyhow::Context;
use floe_coordinator::RunSummary;

use crate::generate::{DataSpec, TopicSpec, parse_codec, write_data_set};
use crate::run::run_pipeline;

const BUCKET: &str = "bucket";
const NAMESPACE: &str = "production";

pub async fn run_demo(dir: &Path, records: u64) -> anyhow::Result<RunSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let segments = dir.join("segments");
    let topic = |name: &str, partitions, codec: &str, transactions| TopicSpec {
        name: name.into(),
        partitions,
        codecs: parse_codec(codec).expect("demo codecs are valid"),
        transactions,
    };
    let spec = DataSpec {
        topics: vec![
            topic("orders", 3, "mixed", false),
            topic("clicks", 2, "zstd", false),
            topic("payments", 1, "lz4", true),
        ],
        records_per_partition: records,
        value_bytes: 160,
        batch_records: 200,
        segment_records: 1000,
        start_ms: 1_767_225_600_000,
    };
    println!("writing sample segments to {}", segments.display());
    let written = write_data_set(&segments.join(BUCKET).join(NAMESPACE), &spec)?;
    for p in &written {
        println!(
            "  {}/{}: {} segments, {} offsets, {} committed records, {} KiB",
            p.topic,
            p.partition,
            p.segments,
            p.offsets,
            p.committed_records,
            p.bytes / 1024
        );
    }

    let config = dir.join("floe.yaml");
    std::fs::write(&config, demo_config(&dir)).with_context(|| format!("writing {}", config.display()))?;
    println!("\nrunning: floe run --once --config {}\n", config.display());
    let Some(summary) = run_pipeline(&config, true, 2, Some("off")).await? else {
        anyhow::bail!("stopped before the pipeline ran");
    };
    print!("{summary}");
    print_queries(&dir, &summary);
    Ok(summary)
}

fn demo_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"# Written by `floe demo`: the embedded default, no external service.
s3:
  bucket: {BUCKET}
  namespace: {NAMESPACE}
  endpoint: file://{d}/segments
iceberg:
  catalog:
    type: sql
    uri: sqlite://{d}/catalog.db
    name: floe
  warehouse: file://{d}/warehouse
commit:
  interval_seconds: 2
mappings:
  # Typed columns read from the JSON values, partitioned by day and status;
  # records that cannot become rows would go to demo.orders_dlq.
  - topic: orders
    table: demo.orders
    partition_by: ["day(created_at)", status]
    schema:
      columns:
        - {{name: order_id, type: long, required: true}}
        - {{name: status, type: string}}
        - {{name: amount, type: "decimal(10,2)"}}
        - {{name: qty, type: int}}
        - {{name: customer_id, type: long, path: customer.id}}
        - {{name: country, type: string, path: customer.country}}
        - {{name: created_at, type: timestamptz}}
  # The others hold each record as it is.
  - topic: clicks
    table: demo.clicks
  - topic: payments
    table: demo.payments
"#
    )
}

fn print_queries(dir: &Path, summary: &RunSummary) {
    let d = dir.display();
    println!("\nQuery the tables (both read the catalog in {d}/catalog.db):\n");
    println!("PyIceberg (pip install 'pyiceberg[sql-sqlite,pyarrow]'):");
    println!(
        "  python3 -c \"from pyiceberg.catalog.sql import SqlCatalog; \
         c = SqlCatalog('floe', uri='sqlite:///{d}/catalog.db', warehouse='file://{d}/warehouse'); \
         print(c.load_table('demo.orders').scan().to_arrow().group_by('status').aggregate([('amount', 'sum'), ('order_id', 'count')]))\""
    );
    println!("\nDuckDB (pip install duckdb; its iceberg extension reads the table's metadata file):");
    // A table without a snapshot (an empty dead-letter table) has nothing to scan.
    for table in summary.tables.iter().filter(|t| t.snapshot_id.is_some()) {
        if let Some(location) = &table.metadata_location {
            println!(
                "  duckdb -c \"INSTALL iceberg; LOAD iceberg; SELECT partition, count(*) AS records, max(offset) \
                 FROM iceberg_scan('{location}') GROUP BY ALL ORDER BY ALL\"   # {}",
                table.table
            );
        }
    }
    println!("\nThe committed Kafka offsets are in each snapshot's summary (`floe.offsets`).");
}
