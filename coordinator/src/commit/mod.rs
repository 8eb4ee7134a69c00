//! Exactly-once into the tables: every rule that keeps each source offset
//! in a table once, whatever crashes, retries, lost replies and competing
//! coordinators happen, and the commit kinds that follow them.
//!
//! The invariants:
//!
//! 1. Offsets live in the tables ([`offsets`]). Every snapshot floe commits
//!    records, in its summary, the next offset of every topic-partition the
//!    table holds (`floe.offsets`, the full map merged with the previous
//!    floe snapshot's) and where a transaction still open there started
//!    (`floe.open-txn-start`). Snapshots without `floe.offsets` (other
//!    writers) are skipped by walking parents, so another writer never
//!    resets floe's offsets. At start the coordinator reads the offsets
//!    from the tables; the state store only mirrors them.
//! 2. A worker's report is admitted only under its partition's current
//!    lease (the same worker session, the same epoch; epochs only grow)
//!    and only when each range starts exactly where the partition's
//!    accepted ranges end ([`admission`]), so a partition's staged ranges
//!    follow each other without a gap or an overlap.
//! 3. Before every commit attempt, retries included, the table is loaded
//!    fresh and each staged file is classified against the offsets it
//!    records ([`classify`]): already committed (a lost reply), continuing
//!    them, or a conflict, which commits nothing and stops the table's
//!    commits with the reason.
//! 4. The commit lands only on the snapshot that was checked ([`guard`]):
//!    iceberg-rust gets exactly the checked metadata, so the catalog
//!    rejects the commit if anything landed in between, and it never
//!    retries on its own (which would re-apply the change on a newer
//!    snapshot). floe retries after checking again, with backoff.
//! 5. Every data file path is recorded in the state store before a worker
//!    gets it, and forgotten once committed ([`crate::store`]): a file
//!    that never got committed is found and deleted after a grace period,
//!    and a late report of a deleted file is refused.
//! 6. A typed table's dead letters commit first, to its dead-letter table,
//!    with the same ranges recorded there. If the table's commit then
//!    fails, the dead-letter table is ahead: the next attempt skips its
//!    files, and a worker reading the ranges again is told where the dead
//!    letters end. The other order could commit rows past a record whose
//!    dead letter is then lost.
//!
//! Commit kinds, one file each, as iceberg-rust has one transaction
//! action per kind of table change:
//!
//! - [`append`]: ingestion; staged files appended with their offsets;
//! - [`rollback`]: an operator's rewind; `main` moved back to an earlier
//!   snapshot, whose offsets come back with it, so rows after it are read
//!   again exactly once.
//!
//! A kind that writes a snapshot loads the table with [`load`], commits
//! through the guard and carries `floe.offsets` forward, so exactly-once
//! holds whatever kind of snapshot is newest.

pub mod admission;
pub mod append;
pub mod classify;
pub mod error;
pub mod guard;
pub mod offsets;
pub mod rollback;
pub mod staged;

pub use self::admission::{Admitting, Holder, Refusal, SessionId, admit_ranges, read_data_file};
pub use self::append::{Committed, DeadLettersCommitted, commit_staged};
pub use self::error::{CommitError, load};
pub use self::offsets::{OffsetMap, OffsetsError, Position};
pub use self::rollback::{RollbackError, RollbackTarget, resolve, roll_back};
pub use self::staged::{StagedDeadLetters, StagedFile, StagedRange};
