//! gRPC protocols of floe, generated from `proto/*.proto` by tonic and prost.

/// The worker protocol: leases, segments and staged files between the
/// coordinator and its workers.
pub mod worker {
    tonic::include_proto!("floe.worker.v1");

    impl std::fmt::Display for TopicPartition {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}/{}", self.topic, self.partition)
        }
    }
}
