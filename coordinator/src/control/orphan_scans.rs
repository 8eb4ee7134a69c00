//! The loop's part in orphan collection: it starts a scan when one is due,
//! and when the scan reports, deletes the orphans that nothing staged right
//! now names. The rules of what may be deleted are [`super::orphans`]'.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use tracing::{info, warn};

use super::{Control, now_ms};
use crate::commit::StagedFile;
use crate::gc::{OrphanScan, scan_orphans};
use crate::models::Event;

impl Control {
    pub(super) fn start_orphan_scan(&mut self) {
        let grace = self.settings.orphan_grace;
        self.orphans.start(Instant::now(), grace);
        let before_ms = now_ms() - grace.as_millis() as i64;
        let tables: BTreeMap<String, iceberg::TableIdent> =
            self.tables.iter().map(|(name, t)| (name.clone(), t.ident.clone())).collect();
        let (catalog, store, events) = (self.catalog.clone(), self.store.clone(), self.events.clone());
        tokio::spawn(async move {
            let scan = scan_orphans(catalog.as_ref(), store.as_ref(), &tables, before_ms).await;
            let _ = events.send(Event::OrphansScanned(scan)).await;
        });
    }

    /// Deletes the orphans that are not staged right now.
    pub(super) async fn on_orphans_scanned(&mut self, scan: BTreeMap<String, OrphanScan>) {
        let committed_during_scan = self.orphans.end_scan();
        for (name, found) in scan {
            let Some(table) = self.tables.get(&name) else { continue };
            if let Err(e) = self.store.forget_files(&found.committed).await {
                warn!(table = %name, "could not forget committed files: {e}");
            }
            // A dead-letter table's files are staged with its table's.
            let staged: HashSet<&str> =
                self.tables.values().flat_map(|t| t.cycle.staged()).flat_map(StagedFile::paths).collect();
            let doomed = self.orphans.condemn(found.orphans, &staged, &committed_during_scan);
            if doomed.is_empty() {
                continue;
            }
            info!(table = %name, files = doomed.len(), "deleting orphan data files");
            // Orphans are rare (a crash's worth of files): deleting them here
            // keeps the bookkeeping in one place and lets `--once` finish clean.
            let file_io = table.table.file_io().clone();
            let mut deleted = Vec::with_capacity(doomed.len());
            for path in doomed {
                match file_io.delete(&path).await {
                    Ok(()) => deleted.push(path),
                    Err(e) => warn!(%path, "could not delete orphan data file: {e}"),
                }
            }
            if let Err(e) = self.store.forget_files(&deleted).await {
                warn!(table = %name, "could not forget deleted orphans: {e}");
            }
        }
    }
}
