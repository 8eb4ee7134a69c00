//! The Iceberg side: catalog and warehouse (`iceberg`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::secret::Secret;
use crate::source::{is_http_url, optional_endpoint};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergConfig {
    pub catalog: CatalogConfig,
    /// Root URL of table data and metadata: `s3://bucket/prefix`,
    /// `file:///DIR`, or any scheme the table writer supports.
    pub warehouse: String,
    /// How to reach an `s3://` warehouse. Credentials come from the default
    /// AWS chain (environment, profile, web identity), as for the source.
    #[serde(default)]
    pub s3: WarehouseS3Config,
}

/// The warehouse's S3 settings; each one left out takes the `s3` block's
/// value, so a warehouse on the same service as the segments needs none.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseS3Config {
    /// An S3-compatible service's URL; `""` for the `s3` block's.
    #[serde(default, deserialize_with = "optional_endpoint")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub path_style: Option<bool>,
    /// SSE-KMS: the KMS key id or ARN data files and metadata are encrypted
    /// with; empty for the bucket's default encryption.
    #[serde(default)]
    pub kms_key_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    #[serde(rename = "type")]
    pub kind: CatalogType,
    /// REST: the catalog's base URL. SQL: `sqlite:///ABS/PATH/catalog.db`
    /// or `postgres(ql)://...`.
    pub uri: String,
    /// Catalog name, as SQL catalogs record it next to every table.
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub token: Secret,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Secret,
}

fn default_name() -> String {
    "floe".to_owned()
}

keyword_enum! {
    pub enum CatalogType {
        Rest => "rest",
        Sql => "sql",
    }
}

impl CatalogConfig {
    /// The database file of a SQL catalog on SQLite, `None` for any other
    /// catalog: `sqlite:///tmp/x/catalog.db` is `/tmp/x/catalog.db`. Only
    /// absolute paths pass validation; a query string (`?mode=rwc`) is not
    /// part of the path.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.kind != CatalogType::Sql {
            return None;
        }
        let rest = self.uri.strip_prefix("sqlite://")?;
        let path = rest.split('?').next().unwrap_or(rest);
        Some(PathBuf::from(path))
    }

    fn uri_problem(&self) -> Option<&'static str> {
        let uri = self.uri.as_str();
        match self.kind {
            CatalogType::Rest => (!is_http_url(uri)).then_some("not an http(s) URL"),
            // Relative SQLite paths would depend on the working directory.
            CatalogType::Sql if uri.starts_with("sqlite:") => {
                (!uri.starts_with("sqlite:///")).then_some("not an absolute SQLite file URL (it needs three slashes)")
            }
            CatalogType::Sql => (!uri.starts_with("postgres://") && !uri.starts_with("postgresql://"))
                .then_some("neither a sqlite: nor a postgres(ql): URL"),
        }
    }

    fn validate(&self) -> Result<(), Problem> {
        let example = match self.kind {
            CatalogType::Rest => "the REST catalog's base URL, e.g. https://iceberg-catalog.example.com",
            CatalogType::Sql => "sqlite:///ABSOLUTE/PATH/catalog.db or postgresql://user@host/database",
        };
        if self.uri.is_empty() {
            return Err(Problem::invalid("iceberg.catalog.uri", "is empty", format!("set it to {example}")));
        }
        if let Some(problem) = self.uri_problem() {
            return Err(Problem::invalid(
                "iceberg.catalog.uri",
                format!("is `{}`, {problem}", self.uri),
                format!("set it to {example}"),
            ));
        }
        if self.name.is_empty() {
            return Err(Problem::invalid(
                "iceberg.catalog.name",
                "is empty",
                "set a catalog name or remove the key for the default, floe",
            ));
        }
        Ok(())
    }
}

impl IcebergConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.catalog.validate()?;
        let fix = "set it to a URL such as s3://bucket/prefix or file:///var/lib/floe/warehouse";
        if self.warehouse.is_empty() {
            return Err(Problem::invalid("iceberg.warehouse", "is empty", fix));
        }
        let absolute_file_url = |url: &url::Url| self.warehouse.starts_with("file:///") && url.to_file_path().is_ok();
        let problem = match url::Url::parse(&self.warehouse) {
            Err(_) => "not a URL with a scheme",
            Ok(url) if url.scheme() == "file" && !absolute_file_url(&url) => {
                "not an absolute file URL (it needs three slashes)"
            }
            Ok(_) => return Ok(()),
        };
        Err(Problem::invalid("iceberg.warehouse", format!("is `{}`, {problem}", self.warehouse), fix))
    }
}
