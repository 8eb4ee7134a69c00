//! What the coordinator counts: commits, records written and dead letters,
//! errors; and the per-partition gauges taken from its status.

use std::sync::LazyLock;

use floe_proto::admin::ClusterStatus;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, exponential_buckets, register_histogram_vec,
    register_int_counter_vec, register_int_gauge_vec,
};

use crate::Stage;

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register_int_counter_vec!(Opts::new(name, help), labels).expect("metric names are unique")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register_int_gauge_vec!(Opts::new(name, help), labels).expect("metric names are unique")
}

fn histogram(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    register_histogram_vec!(HistogramOpts::new(name, help).buckets(buckets), labels).expect("metric names are unique")
}

pub(crate) static RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "kafscale_processor_records_total",
        "Records committed, by topic and result: written (a row of the table) or dead_letter",
        &["topic", "result"],
    )
});

pub(crate) static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter("kafscale_processor_errors_total", "Errors by stage: list, decode, report, commit, store", &["stage"])
});

static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter("floe_dead_letters_total", "Records committed to a dead-letter table, by reason", &["table", "reason"])
});

static WRITE_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram(
        "kafscale_processor_write_latency_seconds",
        "Time to commit one snapshot (its dead letters included), by topic",
        &["topic"],
        exponential_buckets(0.01, 2.0, 14).expect("valid buckets"),
    )
});

static COMMIT_FILES: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram(
        "floe_commit_files",
        "Data files per commit",
        &["table"],
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
    )
});

static COMMIT_BYTES: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram(
        "floe_commit_bytes",
        "Bytes of data files per commit",
        &["table"],
        exponential_buckets(1_048_576.0, 4.0, 8).expect("valid buckets"),
    )
});

static LAST_OFFSET: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "kafscale_processor_last_offset",
        "Newest offset found in storage (the end of the last complete segment)",
        &["topic", "partition"],
    )
});

static WATERMARK_OFFSET: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "kafscale_processor_watermark_offset",
        "Next offset to commit: every offset below it is in the table",
        &["topic", "partition", "table"],
    )
});

static WATERMARK_TIMESTAMP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "kafscale_processor_watermark_timestamp_ms",
        "Highest record timestamp committed (Unix ms)",
        &["topic", "partition", "table"],
    )
});

static LAG_RECORDS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge("floe_lag_records", "Offsets in storage not yet committed", &["topic", "partition", "table"])
});

static LAG_BYTES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge("floe_lag_bytes", "Bytes of segments not wholly committed", &["topic", "partition", "table"])
});

static LAG_SECONDS: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    prometheus::register_gauge_vec!(
        Opts::new("floe_lag_seconds", "Age of the oldest segment not wholly committed"),
        &["topic", "partition", "table"]
    )
    .expect("metric names are unique")
});

static PARTITIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "floe_partitions",
        "Partitions by state: reading, idle, unassigned, releasing, paused, skipping, waiting, failed",
        &["state"],
    )
});

static LEASES: LazyLock<IntGaugeVec> =
    LazyLock::new(|| gauge("floe_worker_leases", "Partition leases each worker holds", &["worker"]));

static TABLE_WATERMARK: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "floe_table_watermark_timestamp_ms",
        "A table's freshness: the lowest, over its partitions, of the highest committed record timestamp",
        &["table"],
    )
});

/// Counts an error of `stage`.
pub fn count_error(stage: Stage) {
    ERRORS.with_label_values(&[stage.label()]).inc();
}

/// What one commit of a table did.
#[derive(Debug, Default)]
pub struct CommitMetrics<'a> {
    pub table: &'a str,
    /// The topics feeding it, joined by commas ("" when unknown).
    pub topic: &'a str,
    pub seconds: f64,
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub dead_letter_table: &'a str,
    /// Dead letters committed with it, by reason code.
    pub dead_letters: &'a [(String, u64)],
}

impl CommitMetrics<'_> {
    pub fn record(&self) {
        WRITE_LATENCY.with_label_values(&[self.topic]).observe(self.seconds);
        COMMIT_FILES.with_label_values(&[self.table]).observe(self.files as f64);
        COMMIT_BYTES.with_label_values(&[self.table]).observe(self.bytes as f64);
        RECORDS.with_label_values(&[self.topic, "written"]).inc_by(self.records);
        for (reason, count) in self.dead_letters {
            RECORDS.with_label_values(&[self.topic, "dead_letter"]).inc_by(*count);
            DEAD_LETTERS.with_label_values(&[self.dead_letter_table, reason]).inc_by(*count);
        }
    }
}

/// Sets the per-partition, per-worker and per-table gauges from a status
/// snapshot; series of partitions or workers gone are dropped.
pub fn observe_status(status: &ClusterStatus) {
    for family in [&*LAST_OFFSET, &*WATERMARK_OFFSET, &*WATERMARK_TIMESTAMP, &*LAG_RECORDS, &*LAG_BYTES] {
        family.reset();
    }
    LAG_SECONDS.reset();
    PARTITIONS.reset();
    LEASES.reset();
    TABLE_WATERMARK.reset();
    for p in &status.partitions {
        let partition = p.partition.to_string();
        let labels = [p.topic.as_str(), partition.as_str()];
        if let Some(end) = p.storage_end {
            LAST_OFFSET.with_label_values(&labels).set(end - 1);
        }
        // A topic feeding several tables has a series per table.
        let labels = [p.topic.as_str(), partition.as_str(), p.table.as_str()];
        if let Some(committed) = p.committed {
            WATERMARK_OFFSET.with_label_values(&labels).set(committed);
        }
        if let Some(ms) = p.watermark_ms {
            WATERMARK_TIMESTAMP.with_label_values(&labels).set(ms);
        }
        LAG_RECORDS.with_label_values(&labels).set(p.lag_records);
        LAG_BYTES.with_label_values(&labels).set(p.lag_bytes as i64);
        LAG_SECONDS.with_label_values(&labels).set(p.lag_seconds);
        PARTITIONS.with_label_values(&[p.state.as_str()]).inc();
    }
    for worker in &status.workers {
        LEASES.with_label_values(&[worker.worker_id.as_str()]).set(worker.leases.into());
    }
    for table in &status.tables {
        if let Some(ms) = table.watermark_ms {
            TABLE_WATERMARK.with_label_values(&[table.table.as_str()]).set(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use floe_proto::admin::{PartitionStatus, TableStatus, WorkerStatus};

    use super::*;

    fn text() -> String {
        prometheus::TextEncoder::new().encode_to_string(&prometheus::gather()).unwrap()
    }

    #[test]
    fn gauges_follow_the_status_and_forget_what_is_gone() {
        let partition = |n: i32, table: &str| PartitionStatus {
            topic: "gauges".into(),
            partition: n,
            table: table.into(),
            committed: Some(40),
            storage_end: Some(100),
            lag_records: 60,
            watermark_ms: Some(1_767_225_600_000),
            state: "reading".into(),
            ..Default::default()
        };
        let mut status = ClusterStatus {
            partitions: vec![partition(0, "t.gauges"), partition(1, "t.gauges"), partition(0, "audit.gauges")],
            workers: vec![WorkerStatus { worker_id: "gauge-worker".into(), leases: 2, ..Default::default() }],
            tables: vec![TableStatus { table: "t.gauges".into(), watermark_ms: Some(5), ..Default::default() }],
            ..Default::default()
        };
        observe_status(&status);
        let all = text();
        assert!(all.contains(r#"kafscale_processor_last_offset{partition="1",topic="gauges"} 99"#), "{all}");
        assert!(
            all.contains(r#"kafscale_processor_watermark_offset{partition="0",table="t.gauges",topic="gauges"} 40"#)
        );
        // One series per table the partition feeds.
        assert!(all.contains(r#"floe_lag_records{partition="0",table="audit.gauges",topic="gauges"} 60"#));
        assert!(all.contains(r#"floe_lag_records{partition="0",table="t.gauges",topic="gauges"} 60"#));
        assert!(all.contains(r#"floe_worker_leases{worker="gauge-worker"} 2"#));
        assert!(all.contains(r#"floe_table_watermark_timestamp_ms{table="t.gauges"} 5"#));
        status.partitions.remove(1);
        observe_status(&status);
        assert!(!text().contains(r#"floe_lag_records{partition="1""#), "a partition gone is dropped");
    }

    #[test]
    fn a_commit_counts_rows_and_dead_letters_by_reason() {
        let reasons = [("not_json".to_string(), 2), ("type_mismatch".to_string(), 1)];
        let commit = CommitMetrics {
            table: "t.counted",
            topic: "counted",
            seconds: 0.25,
            files: 2,
            bytes: 3 << 20,
            records: 500,
            dead_letter_table: "t.counted_dlq",
            dead_letters: &reasons,
        };
        commit.record();
        let all = text();
        assert!(all.contains(r#"kafscale_processor_records_total{result="written",topic="counted"} 500"#), "{all}");
        assert!(all.contains(r#"kafscale_processor_records_total{result="dead_letter",topic="counted"} 3"#));
        assert!(all.contains(r#"floe_dead_letters_total{reason="not_json",table="t.counted_dlq"} 2"#));
        assert!(all.contains(r#"kafscale_processor_write_latency_seconds_count{topic="counted"} 1"#));
    }
}
