//! floe-coordinator
