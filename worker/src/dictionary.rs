//! Which string columns get a dictionary, learned from the values written.
//!
//! A dictionary pays for a column of few distinct values (a status, a
//! country). For one of mostly distinct values (an id, a note) it only
//! costs: every value is hashed and interned until the dictionary outgrows
//! its page limit, in every row group, and Parquet then falls back to plain
//! encoding anyway. Column types cannot tell the two apart, so the first
//! values of each string column decide, and later files of the table leave
//! the dictionary out of the mostly distinct ones.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_schema::DataType;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Values sampled per column before it is judged.
const SAMPLE: usize = 1024;

/// Distinct values per sampled value above which a column is mostly distinct.
const MOSTLY_DISTINCT: f64 = 0.5;

pub struct DictionaryChoice {
    /// String columns being sampled, with the hashes of their values so far.
    sampling: BTreeMap<String, Sample>,
    /// Columns judged mostly distinct that `apply` has not turned off yet.
    turn_off: Vec<String>,
    hasher: RandomState,
}

#[derive(Default)]
struct Sample {
    seen: usize,
    distinct: HashSet<u64>,
}

impl DictionaryChoice {
    /// Samples the top-level string columns `props` gives a dictionary.
    pub fn new(schema: &arrow_schema::Schema, props: &WriterProperties) -> Self {
        let sampling = schema
            .fields()
            .iter()
            .filter(|field| field.data_type() == &DataType::Utf8)
            .filter(|field| props.dictionary_enabled(&ColumnPath::from(field.name().as_str())))
            .map(|field| (field.name().clone(), Sample::default()))
            .collect();
        Self { sampling, turn_off: Vec::new(), hasher: RandomState::new() }
    }

    /// Samples the string values of `rows`, judging each column once it has
    /// seen enough of them.
    pub fn observe(&mut self, rows: &RecordBatch) {
        if self.sampling.is_empty() {
            return;
        }
        let hasher = &self.hasher;
        self.sampling.retain(|name, sample| {
            let Some(values) = rows.column_by_name(name).and_then(|c| c.as_string_opt::<i32>()) else { return true };
            for value in values.iter().flatten().take(SAMPLE - sample.seen) {
                sample.seen += 1;
                sample.distinct.insert(hasher.hash_one(value));
            }
            if sample.seen < SAMPLE {
                return true;
            }
            if sample.distinct.len() as f64 > MOSTLY_DISTINCT * SAMPLE as f64 {
                tracing::debug!(column = %name, distinct = sample.distinct.len(), "mostly distinct: no dictionary");
                self.turn_off.push(name.clone());
            }
            false
        });
    }

    /// `props` without a dictionary for the columns judged mostly distinct
    /// since the last call; `None` when nothing changed.
    pub fn apply(&mut self, props: &WriterProperties) -> Option<WriterProperties> {
        if self.turn_off.is_empty() {
            return None;
        }
        let mut builder = props.clone().into_builder();
        for name in self.turn_off.drain(..) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), false);
        }
        Some(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn mostly_distinct_string_columns_lose_their_dictionary_once_sampled() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("status", DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("id", DataType::Utf8, true),
        ]));
        let props = WriterProperties::builder().set_column_dictionary_enabled(ColumnPath::from("id"), false).build();
        let mut choice = DictionaryChoice::new(&schema, &props);
        assert_eq!(choice.sampling.keys().collect::<Vec<_>>(), ["note", "status"], "id has no dictionary already");
        let batch = |from: usize, rows: usize| {
            let status: ArrayRef =
                Arc::new(StringArray::from_iter_values((from..from + rows).map(|i| ["NEW", "PAID"][i % 2])));
            let note: ArrayRef =
                Arc::new(StringArray::from_iter_values((from..from + rows).map(|i| format!("note {i}"))));
            let id: ArrayRef = Arc::new(StringArray::from_iter_values((from..from + rows).map(|i| i.to_string())));
            RecordBatch::try_new(schema.clone(), vec![status, note, id]).unwrap()
        };
        choice.observe(&batch(0, SAMPLE - 1));
        assert!(choice.apply(&props).is_none(), "not judged before {SAMPLE} values");
        choice.observe(&batch(SAMPLE - 1, 10));
        let next = choice.apply(&props).expect("note judged");
        assert!(!next.dictionary_enabled(&ColumnPath::from("note")));
        assert!(next.dictionary_enabled(&ColumnPath::from("status")));
        assert!(choice.sampling.is_empty() && choice.apply(&next).is_none(), "judged once");
    }
}
