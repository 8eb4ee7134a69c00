use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Result, StorageError, StorageErrorKind};
use crate::store::{LocalObject, ObjectMeta, SegmentStore, partition_prefix};

/// Segments in a local directory laid out like the bucket:
/// `{root}/{prefix}{topic}/{partition}/segment-*.kfs`.
///
/// This is the embedded default (`s3.endpoint: file:///DIR`, bucket `B` is
/// the directory `DIR/B`). A directory listing is cheap, so an incremental
/// listing reads the folder and keeps the names after `start_after`.
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
    prefix: String,
}

impl LocalDirStore {
    pub fn new(root: PathBuf, prefix: String) -> Self {
        Self { root, prefix }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        // Keys come from our own listings, but never let one escape the root.
        if key.split('/').any(|part| part == "..") || key.starts_with('/') {
            return Err(StorageError::new(
                StorageErrorKind::Permanent,
                "resolve",
                key,
                "key escapes the source directory",
            ));
        }
        Ok(self.root.join(key))
    }

    fn display(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::new(StorageErrorKind::Transient, "run", "blocking task", e))?
}

fn read_dir_names(dir: &Path, op: &'static str) -> Result<Vec<(String, std::fs::Metadata)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::from_io(op, dir.display(), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::from_io(op, dir.display(), e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not a name any broker writes
        };
        let meta = entry.metadata().map_err(|e| StorageError::from_io(op, entry.path().display(), e))?;
        out.push((name, meta));
    }
    Ok(out)
}

#[async_trait]
impl SegmentStore for LocalDirStore {
    async fn list_partitions(&self, topic: &str) -> Result<Vec<i32>> {
        let dir = self.root.join(format!("{}{topic}", self.prefix));
        blocking(move || {
            let mut partitions: Vec<i32> = read_dir_names(&dir, "list")?
                .into_iter()
                .filter(|(_, meta)| meta.is_dir())
                .filter_map(|(name, _)| name.parse().ok())
                .filter(|p: &i32| *p >= 0)
                .collect();
            partitions.sort_unstable();
            Ok(partitions)
        })
        .await
    }

    async fn list_topics(&self) -> Result<Vec<String>> {
        let dir = self.root.join(&self.prefix);
        blocking(move || {
            let mut topics: Vec<String> = read_dir_names(&dir, "list")?
                .into_iter()
                .filter(|(_, meta)| meta.is_dir())
                .map(|(name, _)| name)
                .collect();
            topics.sort_unstable();
            Ok(topics)
        })
        .await
    }

    async fn list_partition(&self, topic: &str, partition: i32, start_after: Option<&str>) -> Result<Vec<ObjectMeta>> {
        let folder = partition_prefix(&self.prefix, topic, partition);
        let dir = self.root.join(&folder);
        let start_after = start_after.map(str::to_owned);
        blocking(move || {
            let mut objects: Vec<ObjectMeta> = read_dir_names(&dir, "list")?
                .into_iter()
                .filter(|(_, meta)| meta.is_file())
                .map(|(name, meta)| ObjectMeta { key: format!("{folder}{name}"), size: meta.len() })
                .filter(|o| start_after.as_deref().is_none_or(|after| o.key.as_str() > after))
                .collect();
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(objects)
        })
        .await
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::from_io("stat", path.display(), e)),
        }
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let path = self.path(key)?;
        let location = self.display(key);
        blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            let mut file = std::fs::File::open(&path).map_err(|e| StorageError::from_io("open", &location, e))?;
            file.seek(SeekFrom::Start(range.start)).map_err(|e| StorageError::from_io("seek", &location, e))?;
            let mut buf = Vec::new();
            file.take(range.end.saturating_sub(range.start))
                .read_to_end(&mut buf)
                .map_err(|e| StorageError::from_io("read", &location, e))?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        tokio::fs::read(&path).await.map(Bytes::from).map_err(|e| StorageError::from_io("read", path.display(), e))
    }

    async fn local_copy(&self, key: &str, start: u64) -> Result<LocalObject> {
        let path = self.path(key)?;
        let len = tokio::fs::metadata(&path).await.map_err(|e| StorageError::from_io("stat", path.display(), e))?.len();
        Ok(LocalObject::borrowed(path, start.min(len), len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_incrementally_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("ns/orders/0");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::create_dir_all(dir.path().join("ns/orders/3")).unwrap();
        std::fs::create_dir_all(dir.path().join("ns/orders/lfs")).unwrap();
        for name in [
            "segment-00000000000000000010.kfs",
            "segment-00000000000000000000.kfs",
            "segment-00000000000000000000.index",
        ] {
            std::fs::write(part.join(name), b"abc").unwrap();
        }
        let store = LocalDirStore::new(dir.path().to_path_buf(), "ns/".into());
        assert_eq!(store.list_partitions("orders").await.unwrap(), vec![0, 3]);
        assert!(store.list_partitions("missing").await.unwrap().is_empty());
        std::fs::create_dir_all(dir.path().join("ns/billing.eu")).unwrap();
        assert_eq!(store.list_topics().await.unwrap(), ["billing.eu", "orders"]);
        let empty = LocalDirStore::new(dir.path().to_path_buf(), "none/".into());
        assert!(empty.list_topics().await.unwrap().is_empty(), "no prefix folder yet: no topics");

        let all = store.list_partition("orders", 0, None).await.unwrap();
        let keys: Vec<_> = all.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ns/orders/0/segment-00000000000000000000.index",
                "ns/orders/0/segment-00000000000000000000.kfs",
                "ns/orders/0/segment-00000000000000000010.kfs",
            ]
        );
        let after = store.list_partition("orders", 0, Some(keys[1])).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].key, keys[2]);
        assert_eq!(after[0].size, 3);

        assert_eq!(store.get_range(keys[2], 1..10).await.unwrap().as_ref(), b"bc");
        assert_eq!(store.size("ns/orders/0/nope.kfs").await.unwrap(), None);
        let err = store.get("../etc/passwd").await.unwrap_err();
        assert!(err.to_string().contains("escapes"), "{err}");
    }
}
