//! floe-worker
