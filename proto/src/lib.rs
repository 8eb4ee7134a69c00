//! floe-proto
