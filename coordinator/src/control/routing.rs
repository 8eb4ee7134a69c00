//! Topics a mapping's pattern matches: discovery offers each new one, its
//! table is loaded (or created) in a task while the loop goes on, then
//! discovery is told to follow the topic. A table that cannot be loaded
//! shows as a problem in status and is tried again at the next listing;
//! the other topics go on.

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Control, Event, LoadedTable};
use crate::discovery::FollowTopic;
use crate::settings::TableMapping;

type Reply = oneshot::Sender<Option<FollowTopic>>;

/// A table being loaded for the topics of one mapping.
pub(super) struct Loading {
    /// The mapping's position in the config.
    mapping: usize,
    /// The topics waiting for it.
    topics: Vec<(String, Reply)>,
}

impl Control {
    pub(super) fn on_topic_found(&mut self, topic: String, reply: Reply) {
        let Some(mapping) = self.settings.route(&topic) else {
            let _ = reply.send(None);
            return;
        };
        let table = mapping.table.to_string();
        // One table, one mapping: its schema, format and partitioning.
        let taken_by = match (self.table_mappings.get(&table), self.loading.get(&table)) {
            (Some(index), _) | (None, Some(Loading { mapping: index, .. })) => Some(*index),
            (None, None) => None,
        };
        if let Some(other) = taken_by.filter(|other| *other != mapping.index) {
            let problem = format!(
                "matches mappings[{}], which names its table `{table}`, but mappings[{other}] writes that table: \
                 change one of their table templates",
                mapping.index
            );
            return self.refuse(topic, problem, reply);
        }
        if self.table_mappings.contains_key(&table) {
            // Another topic of the mapping feeds the table already.
            return self.follow(topic, &mapping, reply);
        }
        if let Some(loading) = self.loading.get_mut(&table) {
            loading.topics.push((topic, reply));
            return;
        }
        info!(%topic, %table, "a new topic matches mappings[{}]: loading its table", mapping.index);
        self.loading.insert(table, Loading { mapping: mapping.index, topics: vec![(topic, reply)] });
        let (loader, events) = (self.loader.clone(), self.events.clone());
        tokio::spawn(async move {
            let result = loader.load(&mapping).await.map(Box::new).map_err(|e| e.to_string());
            let _ = events.send(Event::TableLoaded { mapping: Box::new(mapping), result }).await;
        });
    }

    pub(super) fn on_table_loaded(&mut self, mapping: &TableMapping, result: Result<Box<LoadedTable>, String>) {
        let waiting = self.loading.remove(&mapping.table.to_string()).map(|l| l.topics).unwrap_or_default();
        match result {
            Ok(loaded) => {
                self.add_table(*loaded);
                for (topic, reply) in waiting {
                    self.follow(topic, mapping, reply);
                }
            }
            Err(e) => {
                for (topic, reply) in waiting {
                    let problem =
                        format!("matches mappings[{}], but {e}; trying again at the next listing", mapping.index);
                    self.refuse(topic, problem, reply);
                }
            }
        }
    }

    /// Maps the topic to its (loaded) table and tells discovery where its
    /// partitions start.
    fn follow(&mut self, topic: String, mapping: &TableMapping, reply: Reply) {
        let table = mapping.table.to_string();
        let mut tail = self.tail_tables();
        if !tail.contains_key(&topic) {
            // Shared with the topic the table was loaded for.
            let loaded_for = tail.iter().find(|(other, _)| self.topic_table.get(*other) == Some(&table));
            if let Some(shared) = loaded_for.map(|(_, t)| t.clone()) {
                tail.insert(topic.clone(), shared);
            }
        }
        drop(tail);
        self.unfollowed.remove(&topic);
        self.topic_table.insert(topic.clone(), table);
        let committed = self
            .committed_at_start
            .iter()
            .filter(|(tp, _)| tp.topic == topic)
            .map(|(tp, position)| (tp.clone(), position.resume_from()))
            .collect();
        let _ = reply.send(Some(FollowTopic { start: mapping.start, committed }));
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
