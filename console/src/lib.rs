//! floe's admin client and its live terminal console.
//!
//! - [`client`]: the admin client, shared with `floe ctl`.

pub mod client;

pub use client::{Admin, ClientError, ClientOptions};
