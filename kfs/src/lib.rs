//! floe-kfs
