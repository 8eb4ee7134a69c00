//! KafScale's cluster metadata: the operator writes the cluster's topics
//! and partitions as JSON under `/kafscale/metadata/snapshot` in etcd. With
//! `discovery.mode` `auto` or `etcd`, partitions come from there (topics or
//! partitions in error are left out, as brokers do), and S3 is listed only
//! for segments.

use std::collections::BTreeMap;

use etcd_client::Client;
use serde::Deserialize;

pub const SNAPSHOT_KEY: &str = "/kafscale/metadata/snapshot";

/// The parts of the snapshot floe reads. Field names are the Go struct's
/// (`Topics`, `Name`, ...); lower-case spellings are accepted too.
#[derive(Debug, Deserialize)]
struct Snapshot {
    #[serde(rename = "Topics", alias = "topics", default)]
    topics: Vec<SnapshotTopic>,
}

#[derive(Debug, Deserialize)]
struct SnapshotTopic {
    #[serde(rename = "Name", alias = "name")]
    name: String,
    #[serde(rename = "ErrorCode", alias = "error_code", default)]
    error_code: i16,
    #[serde(rename = "Partitions", alias = "partitions", default)]
    partitions: Vec<SnapshotPartition>,
}

#[derive(Debug, Deserialize)]
struct SnapshotPartition {
    #[serde(rename = "PartitionIndex", alias = "partition_index", alias = "partition")]
    index: i32,
    #[serde(rename = "ErrorCode", alias = "error_code", default)]
    error_code: i16,
}

/// Topic name to its partitions, in order.
pub type TopicPartitions = BTreeMap<String, Vec<i32>>;

#[derive(Clone)]
pub struct KafscaleMetadata {
    client: Client,
}

impl KafscaleMetadata {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The current snapshot's partitions, `None` when there is no snapshot.
    pub async fn topic_partitions(&self) -> Result<Option<TopicPartitions>, String> {
        let response =
            self.client.kv_client().get(SNAPSHOT_KEY, None).await.map_err(|e| format!("etcd {SNAPSHOT_KEY}: {e}"))?;
        let Some(kv) = response.kvs().first() else { return Ok(None) };
        parse_snapshot(kv.value()).map(Some)
    }
}

fn parse_snapshot(json: &[u8]) -> Result<TopicPartitions, String> {
    let snapshot: Snapshot =
        serde_json::from_slice(json).map_err(|e| format!("{SNAPSHOT_KEY} is not readable: {e}"))?;
    Ok(snapshot
        .topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .map(|t| {
            let mut partitions: Vec<i32> =
                t.partitions.iter().filter(|p| p.error_code == 0 && p.index >= 0).map(|p| p.index).collect();
            partitions.sort_unstable();
            (t.name, partitions)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_operators_snapshot() {
        let json = br#"{"Brokers":[{"NodeID":0,"Host":"b0","Port":9092}],"ClusterID":"prod","ControllerID":0,
            "Topics":[
              {"Name":"orders","ErrorCode":0,"Partitions":[{"PartitionIndex":1,"ErrorCode":0,"LeaderID":0},{"PartitionIndex":0,"ErrorCode":0}]},
              {"Name":"broken","ErrorCode":3,"Partitions":[{"PartitionIndex":0}]},
              {"Name":"clicks","Partitions":[{"PartitionIndex":0},{"PartitionIndex":2,"ErrorCode":5}]}
            ]}"#;
        let parsed = parse_snapshot(json).unwrap();
        assert_eq!(parsed.get("orders"), Some(&vec![0, 1]));
        assert_eq!(parsed.get("clicks"), Some(&vec![0]));
        assert!(!parsed.contains_key("broken"));
        assert!(parse_snapshot(b"[").unwrap_err().contains(SNAPSHOT_KEY));
    }
}
