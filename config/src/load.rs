//! Reading config files and mapping files.

use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::admin::AdminConfig;
use crate::commit::CommitConfig;
use crate::coordinator::CoordinatorConfig;
use crate::discovery::{DiscoverySection, ProcessorSection};
use crate::error::{ConfigError, Problem};
use crate::lfs::LfsService;
use crate::mapping::{Mapping, validate_mappings};
use crate::metrics::MetricsConfig;
use crate::{Config, EtcdConfig, IcebergConfig, OffsetsConfig, S3Config, SchemaConfig, WorkerConfig, WriterConfig};

/// The top level of a config file as written. Seed keys first: the order
/// here is the order in which "accepted keys" are listed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigDocument {
    s3: S3Config,
    iceberg: IcebergConfig,
    #[serde(default)]
    offsets: OffsetsConfig,
    #[serde(default)]
    discovery: DiscoverySection,
    #[serde(default)]
    etcd: EtcdConfig,
    #[serde(default)]
    schema: SchemaConfig,
    mappings: Vec<Mapping>,
    #[serde(default)]
    commit: CommitConfig,
    #[serde(default)]
    writer: WriterConfig,
    #[serde(default)]
    worker: WorkerConfig,
    #[serde(default)]
    coordinator: CoordinatorConfig,
    #[serde(default)]
    admin: AdminConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    lfs: LfsService,
    #[serde(default)]
    processor: ProcessorSection,
}

/// A file holding only `mappings:`, as conformance cases ship them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingsDocument {
    mappings: Vec<Mapping>,
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = read(path, &file)?;
        Self::from_yaml_str(&text, &file)
    }

    /// `source_name` stands for the file in error messages.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        Self::parse(text).map_err(|problem| ConfigError::new(source_name, problem))
    }

    fn parse(text: &str) -> Result<Self, Problem> {
        let text = crate::env::expand(text, |name| std::env::var(name).ok())?;
        let document: ConfigDocument = deserialize(&text)?;
        let config = Self {
            s3: document.s3,
            iceberg: document.iceberg,
            offsets: document.offsets,
            discovery: document.discovery.resolve(document.processor)?,
            etcd: document.etcd,
            schema: document.schema,
            mappings: document.mappings,
            commit: document.commit,
            writer: document.writer,
            worker: document.worker,
            coordinator: document.coordinator,
            admin: document.admin,
            metrics: document.metrics,
            lfs: document.lfs,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Reads a file whose only top-level key is `mappings`, as conformance cases
/// ship them. Rules about the mappings alone are checked here; rules that
/// involve other sections (a registry for `schema.source: registry`) when
/// the file's text is appended to those sections and loaded as a [`Config`].
pub fn load_mappings(path: &Path) -> Result<Vec<Mapping>, ConfigError> {
    let file = path.display().to_string();
    let text = read(path, &file)?;
    mappings_from_yaml_str(&text, &file)
}

/// [`load_mappings`] from text; `source_name` stands for the file in errors.
pub fn mappings_from_yaml_str(text: &str, source_name: &str) -> Result<Vec<Mapping>, ConfigError> {
    let parse = || -> Result<Vec<Mapping>, Problem> {
        let document: MappingsDocument = deserialize(text)?;
        validate_mappings(&document.mappings)?;
        Ok(document.mappings)
    };
    parse().map_err(|problem| ConfigError::new(source_name, problem))
}

fn read(path: &Path, file: &str) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|error| ConfigError::new(file, Problem::Unreadable(error)))
}

fn deserialize<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(Problem::from_yaml)
}
