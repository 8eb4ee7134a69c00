//! floe-storage
