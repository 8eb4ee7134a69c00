//! The Iceberg catalog: connecting, creating tables, and the guard that keeps
//! iceberg-rust from retrying a commit on its own.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use floe_config::Column;
use floe_table::iceberg_type;
use iceberg::spec::{FormatVersion, PartitionSpec, PrimitiveType, Schema, Type};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{
    Catalog, CatalogBuilder, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation, TableIdent,
};
use iceberg_catalog_rest::{REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};

/// How to reach the catalog.
#[derive(Debug, Clone)]
pub enum CatalogKind {
    /// The SQL catalog (the JDBC catalog's tables) on SQLite or PostgreSQL.
    Sql { uri: String },
    /// An Iceberg REST catalog, with a bearer token or an OAuth2 client
    /// credential (`id:secret`) when it asks for one.
    Rest { uri: String, token: String, credential: Option<String> },
}

#[derive(Debug, Clone)]
pub struct CatalogSettings {
    pub kind: CatalogKind,
    pub name: String,
    pub warehouse: String,
    /// FileIO properties for the warehouse (endpoints, credentials).
    pub file_io_props: HashMap<String, String>,
}

/// Connects to the catalog the settings describe.
pub async fn connect_catalog(settings: &CatalogSettings) -> Result<Arc<dyn Catalog>> {
    match &settings.kind {
        CatalogKind::Sql { uri } => {
            // SQLite takes `?` placeholders, PostgreSQL `$1`.
            let sqlite = uri.starts_with("sqlite:");
            let bind_style = if sqlite { SqlBindStyle::QMark } else { SqlBindStyle::DollarNumeric };
            // A new SQLite catalog is created, as the state store would
            // (which is not there when etcd keeps the state).
            let uri = match sqlite {
                true => prepare_sqlite_file(uri).map_err(|e| iceberg::Error::new(ErrorKind::Unexpected, e))?,
                false => uri.clone(),
            };
            let catalog = SqlCatalogBuilder::default()
                .uri(uri)
                .warehouse_location(&settings.warehouse)
                .sql_bind_style(bind_style)
                .props(settings.file_io_props.clone())
                .with_storage_factory(Arc::new(floe_storage::WarehouseStorageFactory))
                .load(&settings.name, HashMap::new())
                .await?;
            Ok(Arc::new(catalog))
        }
        CatalogKind::Rest { uri, token, credential } => {
            let mut props = settings.file_io_props.clone();
            props.insert(REST_CATALOG_PROP_URI.to_string(), uri.clone());
            props.insert(REST_CATALOG_PROP_WAREHOUSE.to_string(), settings.warehouse.clone());
            if !token.is_empty() {
                props.insert("token".to_string(), token.clone());
            }
            if let Some(credential) = credential {
                props.insert("credential".to_string(), credential.clone());
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(Arc::new(floe_storage::WarehouseStorageFactory))
                .load(&settings.name, props)
                .await?;
            // The builder connects lazily: ask for something now so a wrong
            // URI or credential is an error at start, not at the first commit.
            catalog.list_namespaces(None).await?;
            Ok(Arc::new(catalog))
        }
    }
}

/// Creates the SQLite file's folder and returns a URL that creates the file.
pub(crate) fn prepare_sqlite_file(uri: &str) -> std::result::Result<String, String> {
    let path = uri.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating folder {}: {e}", parent.display()))?;
    }
    Ok(if uri.contains('?') { uri.to_string() } else { format!("{uri}?mode=rwc") })
}

/// Table properties floe sets on the tables it creates.
fn created_table_properties() -> HashMap<String, String> {
    HashMap::from([
        ("write.format.default".to_string(), "parquet".to_string()),
        ("write.parquet.compression-codec".to_string(), "zstd".to_string()),
        ("floe.managed".to_string(), "true".to_string()),
    ])
}

/// Loads a table, creating its namespace and the table itself when missing
/// and `create` allows it.
pub async fn load_or_create_table(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    schema: &Schema,
    spec: Option<PartitionSpec>,
    create: bool,
) -> Result<Table> {
    match catalog.load_table(ident).await {
        Ok(table) => return Ok(table),
        Err(e) if !create || !matches!(e.kind(), ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound) => {
            return Err(e);
        }
        Err(_) => {}
    }
    let namespace = ident.namespace();
    if !catalog.namespace_exists(namespace).await?
        && let Err(e) = catalog.create_namespace(namespace, HashMap::new()).await
        // Another table of the namespace (or another coordinator) may have
        // created it meanwhile; the SQL catalog then reports a constraint
        // violation rather than NamespaceAlreadyExists.
        && e.kind() != ErrorKind::NamespaceAlreadyExists
        && !catalog.namespace_exists(namespace).await?
    {
        return Err(e);
    }
    let creation = TableCreation::builder()
        .name(ident.name().to_string())
        .schema(schema.clone())
        .partition_spec_opt(spec.map(PartitionSpec::into_unbound))
        .properties(created_table_properties())
        .format_version(FormatVersion::V2)
        .build();
    match catalog.create_table(namespace, creation).await {
        Ok(table) => Ok(table),
        // Another coordinator won the race: use its table.
        Err(e) if e.kind() == ErrorKind::TableAlreadyExists => catalog.load_table(ident).await,
        Err(e) => Err(e),
    }
}

/// Adds the columns a table lacks (as optional columns), in one schema
/// change. A column whose type differs from the one `asked_by` (the
/// mapping, the registry schema) gives is refused with what to do:
/// iceberg-rust cannot change a column's type.
pub async fn add_missing_columns(
    catalog: &dyn Catalog,
    table: Table,
    columns: &[Column],
    allow_type_widening: bool,
    asked_by: &str,
) -> std::result::Result<Table, String> {
    let schema = table.metadata().current_schema().clone();
    let mut missing = Vec::new();
    for column in columns {
        let wanted = iceberg_type(column.column_type);
        match schema.field_by_name(&column.name) {
            None => missing.push((column.name.as_str(), wanted)),
            Some(field) if *field.field_type == wanted => {}
            Some(field) => {
                let widening = matches!(
                    (field.field_type.as_ref(), &wanted),
                    (Type::Primitive(PrimitiveType::Int), Type::Primitive(PrimitiveType::Long))
                        | (Type::Primitive(PrimitiveType::Float), Type::Primitive(PrimitiveType::Double))
                );
                let how = match (widening, allow_type_widening) {
                    (true, true) => "floe cannot widen a column's type itself yet: widen it with an engine \
                                     (e.g. Spark's ALTER TABLE ... ALTER COLUMN ... TYPE), then restart"
                        .to_string(),
                    (true, false) => format!(
                        "set schema.allow_type_widening and widen the column with an engine (e.g. Spark's \
                         ALTER TABLE ... ALTER COLUMN ... TYPE), or keep the table's type in {asked_by}"
                    ),
                    (false, _) => format!(
                        "the two types are incompatible: keep the table's type in {asked_by}, or put the field \
                         in a new column"
                    ),
                };
                return Err(format!(
                    "column `{}` is {} in the table but {} in {asked_by}; {how}",
                    column.name, field.field_type, column.column_type
                ));
            }
        }
    }
    if missing.is_empty() {
        return Ok(table);
    }
    let added = missing.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    let tx = Transaction::new(&table);
    let update = missing.into_iter().fold(tx.update_schema(), |update, (name, field_type)| {
        update.add_column(AddColumn::optional(name, field_type))
    });
    let table =
        async { update.apply(tx)?.commit(catalog).await }.await.map_err(|e| format!("adding columns {added}: {e}"))?;
    tracing::info!(table = %table.identifier(), columns = %added, "added new columns from {asked_by}");
    Ok(table)
}

/// A catalog view for exactly one commit attempt.
///
/// iceberg-rust's `Transaction::commit` reloads the table and re-applies the
/// append on top of whatever it finds, and retries on its own. After a lost
/// reply that would append the same files twice. Through this view:
/// - loading the table being committed returns the exact metadata the
///   caller checked the offsets against, so the commit's requirements pin that
///   snapshot and the catalog rejects it if anything landed in between;
/// - every failure of `update_table` is marked not retryable, so the library
///   never retries a commit floe has not checked.
#[derive(Debug)]
pub struct CheckedCommitCatalog<'a> {
    inner: &'a dyn Catalog,
    checked: Table,
}

impl<'a> CheckedCommitCatalog<'a> {
    pub fn new(inner: &'a dyn Catalog, checked: Table) -> Self {
        Self { inner, checked }
    }
}

#[async_trait]
impl Catalog for CheckedCommitCatalog<'_> {
    async fn list_namespaces(&self, parent: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(&self, namespace: &NamespaceIdent, properties: HashMap<String, String>) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(&self, namespace: &NamespaceIdent, creation: TableCreation) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        if table == self.checked.identifier() {
            return Ok(self.checked.clone());
        }
        self.inner.load_table(table).await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await.map_err(|e| e.with_retryable(false))
    }
}
