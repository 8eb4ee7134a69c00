//! What a worker counts while it decodes.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, IntGauge, Opts, register_int_counter_vec, register_int_gauge};

static BATCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new("kafscale_processor_batches_total", "Record batches decoded (CRC checked), by topic"),
        &["topic"]
    )
    .expect("metric names are unique")
});

static DECODED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "floe_worker_records_decoded_total",
            "Records decoded by workers, by topic (re-reads after a failover count again)"
        ),
        &["topic"]
    )
    .expect("metric names are unique")
});

static LFS_RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "floe_lfs_records_total",
            "Records holding a KafScale LFS envelope, by table and outcome (resolved, referenced, skipped, \
             dead_letter); re-reads after a failover count again"
        ),
        &["table", "outcome"]
    )
    .expect("metric names are unique")
});

static CONNECTED: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("floe_worker_connected", "1 while the worker has a session with the leading coordinator")
        .expect("metric names are unique")
});

pub fn count_batch(topic: &str) {
    BATCHES.with_label_values(&[topic]).inc();
}

pub fn count_decoded(topic: &str, records: u64) {
    DECODED.with_label_values(&[topic]).inc_by(records);
}

/// Counts what a table's LFS mode made of envelope records. `skipped` is
/// the only trace of records a `skip` table drops on purpose.
pub fn count_lfs(table: &str, outcome: &str, records: u64) {
    if records > 0 {
        LFS_RECORDS.with_label_values(&[table, outcome]).inc_by(records);
    }
}

pub fn set_connected(connected: bool) {
    CONNECTED.set(connected.into());
}

/// A worker is ready while it has a session with the leading coordinator.
pub fn worker_readiness() -> Result<String, String> {
    match CONNECTED.get() {
        1 => Ok("connected to the leading coordinator".into()),
        _ => Err("not connected to a coordinator (yet): see the worker's log for why".into()),
    }
}
