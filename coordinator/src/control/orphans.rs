//! Orphan collection's state: every `grace / 4` (10 s to 10 min) a task
//! looks for files whose path was handed out longer than the grace period
//! ago and that no table references ([`crate::gc`]); the loop, which knows
//! what is staged right now, makes the final call ([`Orphans::condemn`])
//! and deletes them (`orphan_scans.rs`). A late report of a deleted file is
//! refused.

use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Orphans {
    next_scan: Instant,
    /// While a scan runs: the files committed since it started. The scan
    /// read the tables before they were, and would call them orphans.
    committed_during_scan: Option<HashSet<String>>,
    /// Orphans deleted or being deleted.
    condemned: HashSet<String>,
}

impl Default for Orphans {
    fn default() -> Self {
        Self { next_scan: Instant::now(), committed_during_scan: None, condemned: HashSet::new() }
    }
}

impl Orphans {
    /// Time for a scan, and none is running.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next_scan && !self.is_scanning()
    }

    pub fn is_scanning(&self) -> bool {
        self.committed_during_scan.is_some()
    }

    /// A scan starts now; the next one is a quarter of the grace period
    /// away.
    pub fn start(&mut self, now: Instant, grace: Duration) {
        self.committed_during_scan = Some(HashSet::new());
        self.next_scan = now + (grace / 4).clamp(Duration::from_secs(10), Duration::from_secs(600));
    }

    /// Files a commit just took into its table.
    pub fn committed(&mut self, paths: &[String]) {
        if let Some(committed) = self.committed_during_scan.as_mut() {
            committed.extend(paths.iter().cloned());
        }
    }

    /// The scan ended: what was committed while it ran.
    pub fn end_scan(&mut self) -> HashSet<String> {
        self.committed_during_scan.take().unwrap_or_default()
    }

    /// Of the orphans a scan found, those to delete: neither staged now nor
    /// committed while the scan ran. From now on a report naming one of
    /// them is refused.
    pub fn condemn(
        &mut self,
        found: Vec<String>,
        staged: &HashSet<&str>,
        committed_during_scan: &HashSet<String>,
    ) -> Vec<String> {
        let doomed: Vec<String> =
            found.into_iter().filter(|p| !staged.contains(p.as_str()) && !committed_during_scan.contains(p)).collect();
        self.condemned.extend(doomed.iter().cloned());
        doomed
    }

    pub fn is_condemned(&self, path: &str) -> bool {
        self.condemned.contains(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_staged_or_committed_while_the_scan_ran_is_not_an_orphan() {
        let mut orphans = Orphans::default();
        let now = Instant::now();
        assert!(orphans.is_due(now), "the first scan comes at once");
        orphans.start(now, Duration::from_secs(3600));
        assert!(orphans.is_scanning() && !orphans.is_due(now + Duration::from_secs(3600)), "one scan at a time");
        // The scan read the table before this commit took `committed`.
        orphans.committed(&["committed".to_string()]);
        let committed_during_scan = orphans.end_scan();
        let found = ["committed", "staged", "orphan"].map(String::from).to_vec();
        let doomed = orphans.condemn(found, &HashSet::from(["staged"]), &committed_during_scan);
        assert_eq!(doomed, ["orphan"]);
        assert!(
            orphans.is_condemned("orphan") && !orphans.is_condemned("committed") && !orphans.is_condemned("staged")
        );
    }

    #[test]
    fn scans_come_every_quarter_of_the_grace_period_within_bounds() {
        let now = Instant::now();
        let mut orphans = Orphans::default();
        let next_after = |orphans: &mut Orphans, grace: u64| {
            orphans.start(now, Duration::from_secs(grace));
            orphans.end_scan();
            (1..=3600).find(|s| orphans.is_due(now + Duration::from_secs(*s)))
        };
        assert_eq!(next_after(&mut orphans, 2000), Some(500));
        assert_eq!(next_after(&mut orphans, 8), Some(10), "at least 10 s");
        assert_eq!(next_after(&mut orphans, 24 * 3600), Some(600), "at most 10 min");
        // Commits while no scan runs are not remembered.
        orphans.committed(&["late".to_string()]);
        assert!(orphans.end_scan().is_empty());
    }
}
