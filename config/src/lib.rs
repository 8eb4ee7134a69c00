//! floe-config
