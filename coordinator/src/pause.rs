//! Operator pauses: a table, a topic or one partition stops being read
//! until resumed. They are kept in the state store, so a coordinator that
//! takes over keeps them.

use std::collections::BTreeSet;
use std::fmt;

use crate::feed::Tp;

/// What an operator paused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PauseTarget {
    Table(String),
    Topic(String),
    Partition(Tp),
}

impl PauseTarget {
    /// The key it is stored under: `table/NAME`, `topic/NAME` or
    /// `partition/TOPIC/N`.
    pub fn key(&self) -> String {
        match self {
            Self::Table(name) => format!("table/{name}"),
            Self::Topic(topic) => format!("topic/{topic}"),
            Self::Partition(tp) => format!("partition/{}/{}", tp.topic, tp.partition),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, rest) = key.split_once('/')?;
        match kind {
            "table" => Some(Self::Table(rest.to_string())),
            "topic" => Some(Self::Topic(rest.to_string())),
            "partition" => {
                let (topic, partition) = rest.rsplit_once('/')?;
                Some(Self::Partition(Tp::new(topic, partition.parse().ok()?)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for PauseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Table(name) => write!(f, "table {name}"),
            Self::Topic(topic) => write!(f, "topic {topic}"),
            Self::Partition(tp) => write!(f, "partition {tp}"),
        }
    }
}

/// Every pause in force.
#[derive(Debug, Default, Clone)]
pub struct Pauses(BTreeSet<PauseTarget>);

impl Pauses {
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Self {
        Self(keys.into_iter().filter_map(|k| PauseTarget::from_key(k)).collect())
    }

    pub fn insert(&mut self, target: PauseTarget) -> bool {
        self.0.insert(target)
    }

    pub fn remove(&mut self, target: &PauseTarget) -> bool {
        self.0.remove(target)
    }

    /// The pause that stops a partition of `table`, if any: the partition's
    /// own first, then its topic's, then its table's.
    pub fn of(&self, tp: &Tp, table: &str) -> Option<&PauseTarget> {
        let own = PauseTarget::Partition(tp.clone());
        let topic = PauseTarget::Topic(tp.topic.clone());
        let table = PauseTarget::Table(table.to_string());
        self.0.get(&own).or_else(|| self.0.get(&topic)).or_else(|| self.0.get(&table))
    }

    pub fn contains(&self, target: &PauseTarget) -> bool {
        self.0.contains(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_the_narrowest_pause_wins() {
        let targets = [
            PauseTarget::Table("prod.orders".into()),
            PauseTarget::Topic("orders".into()),
            PauseTarget::Partition(Tp::new("my/topic", 7)),
        ];
        for target in &targets {
            assert_eq!(PauseTarget::from_key(&target.key()).as_ref(), Some(target));
        }
        assert_eq!(PauseTarget::from_key("bogus/x"), None);
        let keys: Vec<String> = targets.iter().map(PauseTarget::key).collect();
        let pauses = Pauses::from_keys(&keys);
        assert_eq!(pauses.of(&Tp::new("my/topic", 7), "t"), Some(&targets[2]));
        assert_eq!(pauses.of(&Tp::new("orders", 1), "prod.orders"), Some(&targets[1]));
        assert_eq!(pauses.of(&Tp::new("payments", 1), "prod.orders"), Some(&targets[0]));
        assert_eq!(pauses.of(&Tp::new("payments", 1), "prod.payments"), None);
    }
}
