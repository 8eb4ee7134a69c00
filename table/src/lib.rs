//! floe-table
