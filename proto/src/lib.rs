//! gRPC protocols of floe, generated from `proto/*.proto` by tonic and prost.

/// The worker protocol: leases, segments and staged files between the
/// coordinator and its workers.
pub mod worker {
    tonic::include_proto!("floe.worker.v1");

    impl std::fmt::Display for Feed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}/{} ({})", self.topic, self.partition, self.table)
        }
    }
}

/// The admin API: status, pause, resume, rewind and skip, used by `floe ctl`
/// and the console.
pub mod admin {
    tonic::include_proto!("floe.admin.v1");

    impl std::fmt::Display for Target {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match (&self.table, &self.topic, self.partition) {
                (table, _, _) if !table.is_empty() => write!(f, "table {table}"),
                (_, topic, Some(partition)) => write!(f, "partition {topic}/{partition}"),
                (_, topic, None) => write!(f, "topic {topic}"),
            }
        }
    }
}
