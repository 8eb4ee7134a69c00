//! What the control loop and the code around it say to each other: the
//! loop's [`Event`]s, the operators' commands and their replies, the tables
//! as loaded, and what a schema source answers.
//!
//! These types sit below the loop. The worker endpoint, the admin API, the
//! table loader and the schema refreshes send events; the loop and its
//! helpers read them. All of them import from here, and nothing here
//! imports any of them, so no module of the coordinator needs another that
//! needs it back (as an actor system keeps its actors' messages apart from
//! the actors).

mod admin;
mod event;
mod schema;
mod table;

pub use self::admin::{AdminCommand, AdminError, AdminReply, PendingRewind, PendingSkip, RolledBack};
pub use self::event::{Event, Outbox};
pub use self::schema::{FetchError, FetchedSchema};
pub use self::table::{LoadedDeadLetters, LoadedTable, Sourced};
