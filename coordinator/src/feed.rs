//! The names of what floe reads: a topic-partition ([`Tp`]), and a
//! topic-partition feeding one table ([`Feed`]), which is what a lease is
//! for.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use floe_proto::worker::Feed as ProtoFeed;

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tp {
    pub topic: String,
    pub partition: i32,
}

impl Tp {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for Tp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// One topic-partition feeding one table: what a lease is for. A topic
/// that feeds several tables is read once for each, every table at its own
/// pace, since each table records its own offsets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Feed {
    pub table: String,
    pub tp: Tp,
}

impl Feed {
    pub fn new(table: impl Into<String>, tp: Tp) -> Self {
        Self { table: table.into(), tp }
    }

    /// The feed a worker message names.
    pub fn from_proto(feed: &ProtoFeed) -> Self {
        Feed::new(&feed.table, Tp::new(feed.topic.clone(), feed.partition))
    }

    /// The feed as the worker protocol names it.
    pub fn to_proto(&self) -> ProtoFeed {
        ProtoFeed { topic: self.tp.topic.clone(), partition: self.tp.partition, table: self.table.clone() }
    }
}

impl std::fmt::Display for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.tp, self.table)
    }
}

/// What discovery starts a topic-partition from, when it lists it once for
/// every table it feeds: the lowest of the tables' values (resume offsets,
/// discovery cursors), and nothing where one of them has none, so the
/// listing starts at the beginning for the table that begins there.
/// `tables_of(topic)` names the tables the topic feeds now; values of
/// others (a mapping since removed) do not count.
pub fn lowest_over_tables<V: Ord>(
    values: impl IntoIterator<Item = (Feed, V)>,
    tables_of: impl Fn(&str) -> Vec<String>,
) -> HashMap<Tp, V> {
    let mut lowest: HashMap<Tp, (usize, V)> = HashMap::new();
    for (feed, value) in values {
        if !tables_of(&feed.tp.topic).contains(&feed.table) {
            continue;
        }
        match lowest.entry(feed.tp) {
            Entry::Occupied(mut seen) => {
                let (tables, low) = seen.get_mut();
                *tables += 1;
                if value < *low {
                    *low = value;
                }
            }
            Entry::Vacant(first) => {
                first.insert((1, value));
            }
        }
    }
    lowest.retain(|tp, (tables, _)| *tables == tables_of(&tp.topic).len());
    lowest.into_iter().map(|(tp, (_, value))| (tp, value)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_shared_by_tables_starts_at_the_lowest_only_when_every_table_has_one() {
        let tables_of = |topic: &str| match topic {
            "orders" => vec!["a".to_string(), "b".to_string()],
            "payments" => vec!["p".to_string()],
            _ => Vec::new(),
        };
        let feed = |table: &str, topic: &str, partition| Feed::new(table, Tp::new(topic, partition));
        let committed = [
            (feed("a", "orders", 0), 40),
            (feed("b", "orders", 0), 25),
            // Only one of the two tables has committed orders/1.
            (feed("a", "orders", 1), 9),
            (feed("p", "payments", 0), 7),
            // A table no mapping writes any more does not hold anything back.
            (feed("gone", "payments", 0), 1),
            (feed("gone", "audit", 0), 3),
        ];
        let lowest = lowest_over_tables(committed, tables_of);
        let expected = HashMap::from([(Tp::new("orders", 0), 25), (Tp::new("payments", 0), 7)]);
        assert_eq!(lowest, expected);
    }
}
