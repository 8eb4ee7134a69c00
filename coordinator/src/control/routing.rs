//! Topics a mapping's pattern matches: discovery offers each new one, the
//! tables of every mapping it matches are loaded (or created) in tasks
//! while the loop goes on, then discovery is told to follow the topic. A
//! table that cannot be loaded shows as a problem in status and is tried
//! again at the next listing; the other topics go on.

use std::collections::BTreeSet;

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::Control;
use crate::discovery::FollowTopic;
use crate::feed::lowest_over_tables;
use crate::models::{Event, LoadedTable};
use crate::settings::TableMapping;

type Reply = oneshot::Sender<Option<FollowTopic>>;

/// A table being loaded for the topics of one mapping.
pub(super) struct Loading {
    /// The mapping's position in the config.
    mapping: usize,
    /// The topics waiting for it.
    topics: Vec<String>,
}

/// A topic whose tables are being loaded: it is followed once all are.
pub(super) struct Awaiting {
    reply: Reply,
    mappings: Vec<TableMapping>,
    /// Its tables not loaded yet.
    loading: BTreeSet<String>,
    /// Why some of its tables could not be loaded.
    problems: Vec<String>,
}

impl Control {
    pub(super) fn on_topic_found(&mut self, topic: String, reply: Reply) {
        let mappings = self.settings.route(&topic);
        if mappings.is_empty() {
            let _ = reply.send(None);
            return;
        }
        // One table, one mapping: its schema, format and partitioning.
        for mapping in &mappings {
            let table = mapping.table.to_string();
            let taken_by = match (self.table_mappings.get(&table), self.loading.get(&table)) {
                (Some(index), _) | (None, Some(Loading { mapping: index, .. })) => Some(*index),
                (None, None) => None,
            };
            if let Some(other) = taken_by.filter(|other| *other != mapping.index) {
                let problem = format!(
                    "matches mappings[{}], which names its table `{table}`, but mappings[{other}] writes that \
                     table: change one of their table templates",
                    mapping.index
                );
                return self.refuse(topic, problem, reply);
            }
        }
        let mut awaiting =
            Awaiting { reply, mappings: mappings.clone(), loading: BTreeSet::new(), problems: Vec::new() };
        for mapping in mappings {
            let table = mapping.table.to_string();
            if self.table_mappings.contains_key(&table) {
                continue; // another topic of the mapping feeds the table already
            }
            awaiting.loading.insert(table.clone());
            if let Some(loading) = self.loading.get_mut(&table) {
                loading.topics.push(topic.clone());
                continue;
            }
            info!(%topic, %table, "a new topic matches mappings[{}]: loading its table", mapping.index);
            self.loading.insert(table, Loading { mapping: mapping.index, topics: vec![topic.clone()] });
            let (loader, events) = (self.loader.clone(), self.events.clone());
            tokio::spawn(async move {
                let result = loader.load(&mapping).await.map(Box::new).map_err(|e| e.to_string());
                let _ = events.send(Event::TableLoaded { mapping: Box::new(mapping), result }).await;
            });
        }
        if awaiting.loading.is_empty() {
            self.follow(topic, awaiting);
        } else {
            self.awaiting.insert(topic, awaiting);
        }
    }

    pub(super) fn on_table_loaded(&mut self, mapping: &TableMapping, result: Result<Box<LoadedTable>, String>) {
        let table = mapping.table.to_string();
        let waiting = self.loading.remove(&table).map(|l| l.topics).unwrap_or_default();
        let problem = match result {
            Ok(loaded) => {
                self.add_table(*loaded);
                None
            }
            Err(e) => Some(format!("matches mappings[{}], but {e}; trying again at the next listing", mapping.index)),
        };
        for topic in waiting {
            let Some(mut awaiting) = self.awaiting.remove(&topic) else { continue };
            awaiting.loading.remove(&table);
            awaiting.problems.extend(problem.clone());
            match (awaiting.loading.is_empty(), awaiting.problems.is_empty()) {
                (false, _) => {
                    self.awaiting.insert(topic, awaiting);
                }
                (true, true) => self.follow(topic, awaiting),
                (true, false) => {
                    let problem = awaiting.problems.join("; ");
                    self.refuse(topic, problem, awaiting.reply);
                }
            }
        }
    }

    /// Maps the topic to its (loaded) tables and tells discovery where its
    /// partitions start.
    fn follow(&mut self, topic: String, awaiting: Awaiting) {
        let Awaiting { reply, mappings, .. } = awaiting;
        let tables: BTreeSet<String> = mappings.iter().map(|m| m.table.to_string()).collect();
        let mut tail = self.tail_tables();
        if !tail.contains_key(&topic) {
            // `floe tail` shows the topic as its first mapping's table does,
            // shared with the topic that table was loaded for.
            let first = mappings[0].table.to_string();
            let loaded_for =
                tail.iter().find(|(other, _)| self.topic_tables.get(*other).is_some_and(|t| t.contains(&first)));
            if let Some(shared) = loaded_for.map(|(_, t)| t.clone()) {
                tail.insert(topic.clone(), shared);
            }
        }
        drop(tail);
        self.unfollowed.remove(&topic);
        let committed_here = self.committed_at_start.iter().map(|(feed, at)| (feed.clone(), at.resume_from()));
        let table_list: Vec<String> = tables.iter().cloned().collect();
        let committed = lowest_over_tables(committed_here, |t| match t == topic {
            true => table_list.clone(),
            false => Vec::new(),
        })
        .into_iter()
        .collect();
        self.topic_tables.insert(topic, tables);
        let _ = reply.send(Some(FollowTopic { start: mappings[0].start, committed }));
    }

    /// Leaves the topic unfollowed for now, saying why in status.
    fn refuse(&mut self, topic: String, problem: String, reply: Reply) {
        if self.unfollowed.get(&topic) != Some(&problem) {
            warn!(%topic, "not followed: {problem}");
        }
        self.unfollowed.insert(topic, problem);
        let _ = reply.send(None);
    }
}
