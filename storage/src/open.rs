//! Choosing the segment store for a source: the one place that knows every
//! kind of store, above the stores themselves and the trait they share.

use std::path::PathBuf;
use std::sync::Arc;

use floe_proto::worker::SourceSpec;

use crate::local::LocalDirStore;
use crate::s3::{BucketLocation, S3Store};
use crate::store::SegmentStore;

/// Opens the segment store a source spec describes: the bucket's local
/// directory for `file://` endpoints, S3 otherwise. The spec's replica fields are resolved
/// (a non-empty `read_bucket` means there is a replica). Remote segments are
/// spooled to the temporary directory (`TMPDIR`).
pub async fn open_segment_store(spec: &SourceSpec) -> Arc<dyn SegmentStore> {
    if let Some(root) = spec.endpoint.strip_prefix("file://") {
        return Arc::new(LocalDirStore::new(PathBuf::from(root), spec.prefix.clone()));
    }
    let endpoint = |url: &str| (!url.is_empty()).then(|| url.to_string());
    let primary = BucketLocation {
        bucket: spec.bucket.clone(),
        region: spec.region.clone(),
        endpoint: endpoint(&spec.endpoint),
        path_style: spec.path_style,
    };
    let replica = (!spec.read_bucket.is_empty()).then(|| BucketLocation {
        bucket: spec.read_bucket.clone(),
        region: spec.read_region.clone(),
        endpoint: endpoint(&spec.read_endpoint),
        path_style: spec.path_style,
    });
    Arc::new(S3Store::connect(&primary, replica.as_ref(), spec.prefix.clone(), std::env::temp_dir()).await)
}
