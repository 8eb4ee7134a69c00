//! Source offsets recorded in Iceberg snapshot summaries: the table itself is
//! the source of truth for what has been committed.
//!
//! Every floe snapshot carries the full map (merged with the previous one):
//! - `floe.offsets`: `{"topic": {"partition": next_offset}}`, where
//!   `next_offset` is the first offset not yet consumed;
//! - `floe.open-txn-start`: `{"topic": {"partition": offset}}` for partitions
//!   where a transaction was still open at `next_offset` (only present when
//!   there is one): a restart re-reads from there so the transaction's
//!   records are emitted once its marker arrives;
//! - `floe.max-timestamp-ms`: `{"topic": {"partition": ms}}`, the highest
//!   record timestamp committed per partition, and `floe.watermark-ms`, the
//!   lowest of those: every partition has data at least that fresh. The
//!   watermark is also set as the table property of the same name.

use std::collections::{BTreeMap, HashMap};

use iceberg::spec::TableMetadata;

use crate::feed::Tp;

pub const OFFSETS_KEY: &str = "floe.offsets";
pub const OPEN_TXN_KEY: &str = "floe.open-txn-start";
pub const MAX_TIMESTAMP_KEY: &str = "floe.max-timestamp-ms";
pub const WATERMARK_KEY: &str = "floe.watermark-ms";
/// Offsets an operator skipped in this snapshot, and why (JSON list).
pub const SKIPPED_KEY: &str = "floe.skipped";

/// How far a partition has been consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// First offset not consumed yet.
    pub next: i64,
    /// First offset of the oldest transaction still open at `next`.
    pub open_txn_start: Option<i64>,
}

impl Position {
    /// Where a reader resumes: the oldest open transaction, or `next`.
    pub fn resume_from(&self) -> i64 {
        self.open_txn_start.map_or(self.next, |s| s.min(self.next))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("snapshot {snapshot_id} has an unreadable `{key}` summary entry: {message}")]
pub struct OffsetsError {
    pub snapshot_id: i64,
    pub key: &'static str,
    pub message: String,
}

/// Committed positions of every partition a table holds, and the highest
/// record timestamp committed of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    positions: BTreeMap<Tp, Position>,
    max_timestamps: BTreeMap<Tp, i64>,
}

type Nested = BTreeMap<String, BTreeMap<String, i64>>;

impl OffsetMap {
    pub fn get(&self, tp: &Tp) -> Option<Position> {
        self.positions.get(tp).copied()
    }

    pub fn set(&mut self, tp: Tp, position: Position) {
        self.positions.insert(tp, position);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Tp, &Position)> {
        self.positions.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The highest committed record timestamp of `tp`.
    pub fn max_timestamp(&self, tp: &Tp) -> Option<i64> {
        self.max_timestamps.get(tp).copied()
    }

    /// Records that a record stamped `ms` of `tp` is committed.
    pub fn raise_max_timestamp(&mut self, tp: &Tp, ms: i64) {
        let max = self.max_timestamps.entry(tp.clone()).or_insert(ms);
        *max = (*max).max(ms);
    }

    /// The lowest, over the partitions, of the highest committed record
    /// timestamp.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.max_timestamps.values().copied().min()
    }

    /// The positions recorded by the newest floe snapshot of the current
    /// branch. Snapshots of other writers (no `floe.offsets`) are skipped by
    /// walking parents, so their commits never reset ours.
    pub fn committed(metadata: &TableMetadata) -> Result<Self, OffsetsError> {
        let mut next = metadata.current_snapshot();
        while let Some(snapshot) = next {
            let props = &snapshot.summary().additional_properties;
            if props.contains_key(OFFSETS_KEY) {
                return Self::from_summary(snapshot.snapshot_id(), props);
            }
            next = snapshot.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
        }
        Ok(Self::default())
    }

    fn from_summary(snapshot_id: i64, props: &HashMap<String, String>) -> Result<Self, OffsetsError> {
        let parse = |key: &'static str| -> Result<Vec<(Tp, i64)>, OffsetsError> {
            let Some(text) = props.get(key) else { return Ok(Vec::new()) };
            let err = |message: String| OffsetsError { snapshot_id, key, message };
            let nested: Nested = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
            let mut out = Vec::new();
            for (topic, partitions) in nested {
                for (partition, offset) in partitions {
                    let partition =
                        partition.parse().map_err(|_| err(format!("partition `{partition}` is not a number")))?;
                    out.push((Tp::new(topic.clone(), partition), offset));
                }
            }
            Ok(out)
        };
        let mut map: BTreeMap<Tp, Position> =
            parse(OFFSETS_KEY)?.into_iter().map(|(tp, next)| (tp, Position { next, open_txn_start: None })).collect();
        for (tp, start) in parse(OPEN_TXN_KEY)? {
            map.entry(tp).or_default().open_txn_start = Some(start);
        }
        Ok(Self { positions: map, max_timestamps: parse(MAX_TIMESTAMP_KEY)?.into_iter().collect() })
    }

    /// The summary entries of a snapshot recording this map.
    pub fn to_summary(&self) -> HashMap<String, String> {
        let mut offsets = Nested::new();
        let mut open = Nested::new();
        for (tp, position) in &self.positions {
            offsets.entry(tp.topic.clone()).or_default().insert(tp.partition.to_string(), position.next);
            if let Some(start) = position.open_txn_start {
                open.entry(tp.topic.clone()).or_default().insert(tp.partition.to_string(), start);
            }
        }
        let mut summary = HashMap::from([(OFFSETS_KEY.to_string(), to_json(&offsets))]);
        if !open.is_empty() {
            summary.insert(OPEN_TXN_KEY.to_string(), to_json(&open));
        }
        let mut max_timestamps = Nested::new();
        for (tp, ms) in &self.max_timestamps {
            max_timestamps.entry(tp.topic.clone()).or_default().insert(tp.partition.to_string(), *ms);
        }
        if let Some(watermark) = self.watermark_ms() {
            summary.insert(MAX_TIMESTAMP_KEY.to_string(), to_json(&max_timestamps));
            summary.insert(WATERMARK_KEY.to_string(), watermark.to_string());
        }
        summary
    }
}

fn to_json(nested: &Nested) -> String {
    serde_json::to_string(nested).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_round_trip_keeps_open_transactions() {
        let mut map = OffsetMap::default();
        map.set(Tp::new("orders", 0), Position { next: 81, open_txn_start: None });
        map.set(Tp::new("orders", 10), Position { next: 140, open_txn_start: Some(120) });
        let summary = map.to_summary();
        assert_eq!(summary[OFFSETS_KEY], r#"{"orders":{"0":81,"10":140}}"#);
        assert_eq!(summary[OPEN_TXN_KEY], r#"{"orders":{"10":120}}"#);
        assert_eq!(OffsetMap::from_summary(1, &summary).unwrap(), map);
        assert_eq!(map.get(&Tp::new("orders", 10)).unwrap().resume_from(), 120);
        assert!(!summary.contains_key(WATERMARK_KEY), "no timestamps, no watermark");
    }

    #[test]
    fn the_watermark_is_the_least_fresh_partition() {
        let mut map = OffsetMap::default();
        map.set(Tp::new("orders", 0), Position { next: 81, open_txn_start: None });
        map.raise_max_timestamp(&Tp::new("orders", 0), 5_000);
        map.raise_max_timestamp(&Tp::new("orders", 0), 4_000);
        map.raise_max_timestamp(&Tp::new("orders", 1), 3_000);
        let summary = map.to_summary();
        assert_eq!(summary[MAX_TIMESTAMP_KEY], r#"{"orders":{"0":5000,"1":3000}}"#);
        assert_eq!(summary[WATERMARK_KEY], "3000");
        assert_eq!(OffsetMap::from_summary(1, &summary).unwrap(), map);
    }

    #[test]
    fn unreadable_summary_names_snapshot_and_key() {
        let props = HashMap::from([(OFFSETS_KEY.to_string(), r#"{"orders":{"x":1}}"#.to_string())]);
        let err = OffsetMap::from_summary(7, &props).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot 7 has an unreadable `floe.offsets` summary entry: partition `x` is not a number"
        );
    }
}
