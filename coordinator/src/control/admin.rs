//! Operators' commands (the admin API's pause, resume and skips), handled
//! in the control loop like every other event.
//!
//! A skip never races a worker: the partition's lease is taken back first
//! (its rows so far are staged and still committed), then the skipped range
//! is staged as a marker without files, recorded in the next snapshot's
//! summary (`floe.skipped`), and the partition is granted again past it.
//!
//! A table's rewind takes every lease of the table back and waits for its
//! commit cycle to be idle; then what is staged is dropped, `main` is moved
//! to the snapshot ([`crate::commit::rollback`]), the partitions take the offsets
//! that snapshot records, and discovery lists them again from there. Rows
//! are read again from those offsets: exactly once still holds, because
//! the table and its offsets went back together.

use tracing::{info, warn};

use super::Control;
use crate::commit::{OffsetMap, Position, RollbackError, RollbackTarget, StagedFile, StagedRange, resolve, roll_back};
use crate::discovery::Rescan;
use crate::feed::{Feed, Tp};
use crate::models::{AdminCommand, AdminError, AdminReply, Event, PendingRewind, PendingSkip, RolledBack};
use crate::pause::PauseTarget;

impl Control {
    pub(super) async fn on_admin(&mut self, command: AdminCommand, reply: AdminReply) {
        let result = match command {
            AdminCommand::RewindTable { table, target, reason } => {
                match self.rewind_refusal(&table) {
                    Some(refusal) => {
                        warn!(%table, "rewind refused: {refusal}");
                        let _ = reply.send(Err(refusal));
                    }
                    // Answered once the rollback is done.
                    None => self.rewind_table(&table, target, reason, reply),
                }
                return;
            }
            AdminCommand::Pause(target) => self.pause(target).await,
            AdminCommand::Resume(target) => self.resume(target).await,
            AdminCommand::SkipTo { tp, table, offset, reason } => {
                self.feed_named(tp, table).and_then(|feed| self.skip_to(&feed, offset, reason))
            }
            AdminCommand::SkipSegment { object, reason } => self.skip_segment(&object, reason),
        };
        let _ = reply.send(result);
    }

    /// Partitions a target names now.
    fn partitions_of(&self, target: &PauseTarget) -> Vec<Feed> {
        self.partitions
            .keys()
            .filter(|feed| match target {
                PauseTarget::Table(name) => feed.table == *name,
                PauseTarget::Topic(topic) => feed.tp.topic == *topic,
                PauseTarget::Partition(one) => feed.tp == *one,
            })
            .cloned()
            .collect()
    }

    /// The partition of `table` an operator names, or of the one table the
    /// topic feeds when none is named.
    fn feed_named(&self, tp: Tp, table: Option<String>) -> Result<Feed, AdminError> {
        if let Some(table) = table {
            let feed = Feed::new(table, tp);
            return match self.partitions.contains_key(&feed) {
                true => Ok(feed),
                false => Err(AdminError::NotFound(format!(
                    "partition {feed} is not known (not mapped, or not found in storage yet)"
                ))),
            };
        }
        let mut feeds = self.feeds_of(&tp);
        match feeds.len() {
            0 => Err(AdminError::NotFound(format!(
                "partition {tp} is not known (not mapped, or not found in storage yet)"
            ))),
            1 => Ok(feeds.remove(0)),
            _ => {
                let tables: Vec<&str> = feeds.iter().map(|f| f.table.as_str()).collect();
                Err(AdminError::Invalid(format!(
                    "partition {tp} feeds tables {}: name the one to act on (--table)",
                    tables.join(", ")
                )))
            }
        }
    }

    fn check_target(&self, target: &PauseTarget) -> Result<(), AdminError> {
        let known = match target {
            PauseTarget::Table(name) => self.tables.get(name).is_some_and(|t| t.dead_letters_of.is_none()),
            PauseTarget::Topic(topic) | PauseTarget::Partition(Tp { topic, .. }) => {
                self.topic_tables.contains_key(topic)
            }
        };
        if known {
            return Ok(());
        }
        let tables: std::collections::BTreeSet<&str> =
            self.topic_tables.values().flatten().map(String::as_str).collect();
        let tables: Vec<&str> = tables.into_iter().collect();
        Err(AdminError::NotFound(format!("no mapping reads {target}; the mapped tables are {}", tables.join(", "))))
    }

    async fn record_pause(&mut self, target: &PauseTarget, paused: bool) -> Result<(), AdminError> {
        self.store.set_pause(&target.key(), paused).await.map_err(|e| {
            AdminError::Unavailable(format!("could not record it in the state store, nothing changed: {e}"))
        })
    }

    async fn pause(&mut self, target: PauseTarget) -> Result<String, AdminError> {
        self.check_target(&target)?;
        if self.pauses.contains(&target) {
            return Ok(format!("{target} was already paused"));
        }
        self.record_pause(&target, true).await?;
        self.pauses.insert(target.clone());
        let feeds = self.partitions_of(&target);
        let revoked = feeds.iter().filter(|feed| self.take_back(feed)).count();
        warn!(%target, partitions = feeds.len(), "paused by an operator");
        Ok(format!(
            "paused {target}: {} partition(s) stop reading ({revoked} being released after staging their rows; \
             staged rows are still committed)",
            feeds.len()
        ))
    }

    async fn resume(&mut self, target: PauseTarget) -> Result<String, AdminError> {
        self.check_target(&target)?;
        if !self.pauses.contains(&target) {
            let still: Vec<String> = self
                .partitions_of(&target)
                .iter()
                .filter_map(|feed| self.pauses.of(&feed.tp, &feed.table).map(|p| p.to_string()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            return match still.is_empty() {
                true => Ok(format!("{target} was not paused")),
                false => Err(AdminError::Invalid(format!(
                    "{target} is not paused itself but by {}: resume that instead",
                    still.join(", ")
                ))),
            };
        }
        self.record_pause(&target, false).await?;
        self.pauses.remove(&target);
        self.rebalance_needed = true;
        let feeds = self.partitions_of(&target);
        let still = feeds.iter().filter(|feed| self.pauses.of(&feed.tp, &feed.table).is_some()).count();
        info!(%target, partitions = feeds.len(), "resumed by an operator");
        Ok(match still {
            0 => format!("resumed {target}: {} partition(s) are read again", feeds.len()),
            n => format!("resumed {target}: {n} of its {} partition(s) stay paused by a wider pause", feeds.len()),
        })
    }

    fn skip_to(&mut self, feed: &Feed, offset: i64, reason: String) -> Result<String, AdminError> {
        let partition = self.partitions.get(feed).ok_or_else(|| {
            AdminError::NotFound(format!("partition {feed} is not known (not mapped, or not found in storage yet)"))
        })?;
        let Some(staged) = partition.staged else {
            return Err(AdminError::Invalid(format!(
                "partition {feed} has not started yet (no segment found): nothing to skip"
            )));
        };
        if offset <= staged.next {
            return Err(AdminError::Invalid(format!(
                "partition {feed} has read up to offset {} already: a partition only moves forward \
                 (rewind the whole table to an earlier snapshot to read again)",
                staged.next
            )));
        }
        self.partitions.get_mut(feed).expect("checked above").pending_skip =
            Some(PendingSkip { to: offset, reason: reason.clone() });
        let releasing = self.take_back(feed);
        self.rebalance_needed = true;
        warn!(partition = %feed, from = staged.next, to = offset, %reason, "an operator skips offsets");
        Ok(format!(
            "partition {feed} skips offsets {}..{} ({}); recorded in the next snapshot of {} as floe.skipped",
            staged.next,
            offset - 1,
            match releasing {
                true => "once its worker has staged its rows and released it",
                false => "now",
            },
            feed.table
        ))
    }

    /// Skips a segment object in every table its partition feeds that has
    /// not read past it.
    fn skip_segment(&mut self, object: &str, reason: String) -> Result<String, AdminError> {
        let found: Vec<(Feed, i64)> = self
            .partitions
            .iter()
            .filter_map(|(feed, p)| {
                let damaged = p.damaged.iter().find(|(_, (key, _))| key == object).map(|(base, _)| *base);
                let complete = p.segments.values().find(|s| s.kfs_key == object).map(|s| s.base_offset);
                damaged.or(complete).map(|base| (feed.clone(), base))
            })
            .collect();
        let Some((first, base)) = found.first().cloned() else {
            return Err(AdminError::NotFound(format!(
                "no partition waits on segment {object}: give the `.kfs` key exactly as status shows it"
            )));
        };
        let partition = &self.partitions[&first];
        // Where the object ends: its index says so when it is complete;
        // for a damaged one, where the next segment in storage starts.
        let end = match partition.segments.get(&base).filter(|s| s.kfs_key == object) {
            Some(segment) => Some(segment.last_offset + 1),
            None => {
                let next_complete = partition.segments.range(base + 1..).next().map(|(b, _)| *b);
                let next_damaged = partition.damaged.range(base + 1..).next().map(|(b, _)| *b);
                next_complete.into_iter().chain(next_damaged).min()
            }
        };
        let Some(end) = end else {
            return Err(AdminError::Invalid(format!(
                "no segment after {object} is in storage yet, so where it ends is unknown: wait for the next \
                 segment, or skip to an offset with `floe ctl rewind --partition {} --offset N --table {}`",
                first.tp, first.table
            )));
        };
        let reason = match reason.is_empty() {
            true => format!("segment {object} skipped"),
            false => format!("segment {object} skipped: {reason}"),
        };
        let mut skipped = Vec::new();
        let mut refused = None;
        for (feed, _) in found {
            match self.skip_to(&feed, end, reason.clone()) {
                Ok(message) => skipped.push(message),
                Err(e) => refused = refused.or(Some(e)),
            }
        }
        match refused {
            Some(e) if skipped.is_empty() => Err(e),
            _ => Ok(skipped.join("; ")),
        }
    }

    /// Why `table` cannot be rewound now, if it cannot.
    fn rewind_refusal(&self, table: &str) -> Option<AdminError> {
        match self.tables.get(table) {
            None => Some(AdminError::NotFound(format!("no mapping writes table {table}"))),
            Some(state) if state.dead_letters_of.is_some() => Some(AdminError::Invalid(format!(
                "{table} holds the dead letters of {}: rewind that table",
                state.dead_letters_of.as_deref().unwrap_or_default()
            ))),
            Some(state) if state.rewind.is_some() => {
                Some(AdminError::Invalid(format!("{table} is being rewound already: wait for it")))
            }
            Some(_) => None,
        }
    }

    /// Starts a rewind: the table's leases are taken back; the rollback
    /// itself waits for them ([`Control::start_rollback`]). `reply` is
    /// answered when it is done.
    fn rewind_table(&mut self, table: &str, target: RollbackTarget, reason: String, reply: AdminReply) {
        let feeds = self.partitions_of(&PauseTarget::Table(table.to_string()));
        let releasing = feeds.iter().filter(|feed| self.take_back(feed)).count();
        warn!(%table, ?target, %reason, releasing, "an operator rewinds the table");
        if let Some(state) = self.tables.get_mut(table) {
            state.rewind = Some(PendingRewind { target, reason, reply: Some(reply), started: false });
        }
    }

    /// Rolls a rewinding table back once no worker holds its partitions
    /// and no commit of it is running. Called when its cycle is idle.
    pub(super) fn start_rollback(&mut self, name: &str) {
        let held = self.partitions.iter().any(|(feed, p)| feed.table == name && p.lease.is_some());
        let Some(state) = self.tables.get_mut(name) else { return };
        let Some(rewind) = state.rewind.as_mut().filter(|r| !r.started && !held) else { return };
        rewind.started = true;
        let target = rewind.target;
        // Rows staged since the last commit are read again from the
        // snapshot's offsets; their files become orphans, collected later.
        state.cycle.begin_rollback();
        let (catalog, settings, events, ident) =
            (self.catalog.clone(), self.settings.clone(), self.events.clone(), state.ident.clone());
        let name = name.to_string();
        tokio::spawn(async move {
            let result = async {
                let load = || async {
                    catalog
                        .load_table(&ident)
                        .await
                        .map_err(|e| RollbackError::Failed(format!("loading the table: {e}")))
                };
                let table = load().await?;
                let snapshot_id = resolve(table.metadata(), target)?;
                roll_back(&settings.catalog, &table, snapshot_id).await?;
                let table = load().await?;
                let offsets =
                    OffsetMap::committed(table.metadata()).map_err(|e| RollbackError::Failed(e.to_string()))?;
                Ok(Box::new(RolledBack { snapshot_id, table, offsets }))
            }
            .await;
            let _ = events.send(Event::RolledBack { table: name, result }).await;
        });
    }

    /// Sets the table's partitions to the offsets of the snapshot it went
    /// back to, and answers the operator.
    pub(super) async fn on_rolled_back(&mut self, name: &str, result: Result<Box<RolledBack>, RollbackError>) {
        let Some(state) = self.tables.get_mut(name) else { return };
        state.cycle.end_rollback();
        let Some(mut rewind) = state.rewind.take() else { return };
        self.rebalance_needed = true;
        let reply = rewind.reply.take();
        let rolled = match result {
            Ok(rolled) => rolled,
            Err(e) => {
                warn!(table = %name, "rewind failed: {e}");
                if let Some(reply) = reply {
                    let _ = reply.send(Err(AdminError::Invalid(format!("table {name} was not rewound: {e}"))));
                }
                return;
            }
        };
        state.table = rolled.table;
        let feeds = self.partitions_of(&PauseTarget::Table(name.to_string()));
        let mut rescans = Vec::with_capacity(feeds.len());
        for feed in &feeds {
            let Some(partition) = self.partitions.get_mut(feed) else { continue };
            let committed = rolled.offsets.get(&feed.tp);
            partition.committed = committed;
            partition.staged = committed;
            partition.watermark_ms = rolled.offsets.max_timestamp(&feed.tp);
            partition.segments.clear();
            partition.damaged.clear();
            partition.failure = None;
            partition.waiting = None;
            partition.pending_skip = None;
            partition.discovery_cursor = None;
            partition.refusals = 0;
            rescans.push(Rescan { tp: feed.tp.clone(), from: committed.map(|c| c.resume_from()) });
        }
        // A new leader must not list after cursors the table went back past.
        if let Err(e) = self.store.forget_discovery_cursors(&feeds).await {
            warn!(table = %name, "could not forget discovery cursors: {e}");
        }
        let _ = self.rescans.send(rescans);
        warn!(table = %name, snapshot_id = rolled.snapshot_id, reason = %rewind.reason, "table rewound");
        if let Some(reply) = reply {
            let _ = reply.send(Ok(format!(
                "table {name} rewound to snapshot {}: its {} partition(s) are read again from the offsets that \
                 snapshot records",
                rolled.snapshot_id,
                feeds.len()
            )));
        }
    }

    /// Stages the skips whose partitions are free of their lease.
    pub(super) fn apply_pending_skips(&mut self) {
        let ready: Vec<Feed> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.pending_skip.is_some() && p.lease.is_none())
            .map(|(feed, _)| feed.clone())
            .collect();
        for feed in ready {
            let partition = self.partitions.get_mut(&feed).expect("listed above");
            let Some(skip) = partition.pending_skip.take() else { continue };
            let Some(staged) = partition.staged else { continue };
            if skip.to <= staged.next {
                continue; // the worker read past it while releasing
            }
            let range = StagedRange {
                tp: feed.tp.clone(),
                from: staged.next,
                to: skip.to,
                open_txn_start: None,
                record_count: 0,
                max_timestamp_ms: None,
                skipped: Some(skip.reason.clone()),
            };
            partition.staged = Some(Position { next: skip.to, open_txn_start: None });
            partition.failure = None;
            partition.waiting = None;
            partition.refusals = 0;
            partition.damaged.retain(|base, _| *base >= skip.to);
            warn!(partition = %feed, from = range.from, to = skip.to, reason = %skip.reason, "offsets skipped");
            if let Some(state) = self.tables.get_mut(&feed.table) {
                state.cycle.stage(StagedFile::marker(range));
            }
            self.rebalance_needed = true;
        }
    }
}
