use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{FileIO, FileIOBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

/// The FileIO that reads and writes under a warehouse or table location.
/// The storage backend is chosen per path from its scheme (`file://`, `s3://`).
pub fn warehouse_file_io(props: &HashMap<String, String>) -> FileIO {
    FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new())).with_props(props.clone()).build()
}
