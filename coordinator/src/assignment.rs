//! Which worker holds which partition: spread evenly, moved as little as
//! possible (a partition stays where it is unless its worker holds more
//! than its share).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Changes that bring the leases to an even spread.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<P, W> {
    /// Partitions without a live holder, and who gets them.
    pub grants: Vec<(P, W)>,
    /// Partitions to take back from overloaded workers; they are granted
    /// again once the worker has released them.
    pub revokes: Vec<(P, W)>,
}

/// Plans grants and revokes for `holders` (every partition, with its current
/// holder if any) over `workers` (in a stable order).
pub fn plan<P, W>(workers: &[W], holders: &BTreeMap<P, Option<W>>) -> Plan<P, W>
where
    P: Ord + Clone,
    W: Eq + Hash + Clone,
{
    let mut out = Plan { grants: Vec::new(), revokes: Vec::new() };
    if workers.is_empty() {
        return out;
    }
    let share = holders.len().div_ceil(workers.len());
    let mut held: HashMap<&W, Vec<&P>> = workers.iter().map(|w| (w, Vec::new())).collect();
    let mut free = Vec::new();
    for (partition, holder) in holders {
        match holder.as_ref().and_then(|w| held.get_mut(w)) {
            Some(list) => list.push(partition),
            None => free.push(partition),
        }
    }
    for worker in workers {
        let list = &held[worker];
        for partition in list.iter().skip(share) {
            out.revokes.push(((*partition).clone(), worker.clone()));
        }
    }
    let mut load: Vec<(usize, usize)> =
        workers.iter().enumerate().map(|(i, w)| (held[w].len().min(share), i)).collect();
    for partition in free {
        // Least loaded first; ties go to the earlier worker.
        let slot = load.iter_mut().min().expect("workers is not empty");
        out.grants.push((partition.clone(), workers[slot.1].clone()));
        slot.0 += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holders(spec: &[(u32, Option<&'static str>)]) -> BTreeMap<u32, Option<&'static str>> {
        spec.iter().copied().collect()
    }

    #[test]
    fn spreads_free_partitions_evenly() {
        let plan = plan(&["a", "b"], &holders(&[(0, None), (1, None), (2, None), (3, None), (4, None)]));
        assert_eq!(plan.grants, [(0, "a"), (1, "b"), (2, "a"), (3, "b"), (4, "a")]);
        assert!(plan.revokes.is_empty());
    }

    #[test]
    fn a_joining_worker_takes_only_the_excess() {
        let current = holders(&[(0, Some("a")), (1, Some("a")), (2, Some("a")), (3, Some("a"))]);
        let plan = plan(&["a", "b"], &current);
        assert_eq!(plan.revokes, [(2, "a"), (3, "a")]);
        assert!(plan.grants.is_empty());
    }

    #[test]
    fn a_lost_workers_partitions_go_to_the_others() {
        let current = holders(&[(0, Some("a")), (1, Some("gone")), (2, Some("b")), (3, Some("gone"))]);
        let plan = plan(&["a", "b"], &current);
        assert_eq!(plan.grants, [(1, "a"), (3, "b")]);
        assert!(plan.revokes.is_empty());
    }

    #[test]
    fn balanced_leases_stay_put() {
        let current = holders(&[(0, Some("a")), (1, Some("b")), (2, Some("a"))]);
        assert_eq!(plan(&["a", "b"], &current), Plan { grants: vec![], revokes: vec![] });
        assert_eq!(plan::<u32, &str>(&[], &current), Plan { grants: vec![], revokes: vec![] });
    }
}
