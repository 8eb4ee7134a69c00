//! How workers write Parquet data files (`writer`).

use serde::Deserialize;

use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// A data file is closed and a new one started at about this size.
    #[serde(deserialize_with = "value::positive")]
    pub target_file_size_bytes: u64,
    /// Rows are buffered up to this size before a row group is written, which
    /// bounds writer memory.
    #[serde(deserialize_with = "value::positive")]
    pub row_group_bytes: u64,
    pub compression: Compression,
    /// zstd level, 1 to 22; other codecs ignore it.
    pub compression_level: i32,
}

const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            target_file_size_bytes: 128 * 1024 * 1024,
            row_group_bytes: 8 * 1024 * 1024,
            compression: Compression::Zstd,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
        }
    }
}

keyword_enum! {
    pub enum Compression {
        Zstd => "zstd",
        Snappy => "snappy",
        Gzip => "gzip",
        Lz4 => "lz4",
        Uncompressed => "none",
    }
}

impl WriterConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        if self.row_group_bytes > self.target_file_size_bytes {
            return Err(Problem::invalid(
                "writer.row_group_bytes",
                format!(
                    "({}) is larger than writer.target_file_size_bytes ({})",
                    self.row_group_bytes, self.target_file_size_bytes
                ),
                "lower row_group_bytes or raise target_file_size_bytes",
            ));
        }
        let level = self.compression_level;
        match self.compression {
            Compression::Zstd if !(1..=22).contains(&level) => Err(Problem::invalid(
                "writer.compression_level",
                format!("({level}) is outside zstd's levels"),
                "use a level from 1 (fastest) to 22 (smallest)",
            )),
            Compression::Zstd => Ok(()),
            // Only a non-default level can have been set on purpose.
            other if level != DEFAULT_COMPRESSION_LEVEL => Err(Problem::invalid(
                "writer.compression_level",
                format!("is set, but applies to zstd only and compression is {other}"),
                "remove compression_level, or set compression to zstd",
            )),
            _ => Ok(()),
        }
    }
}
