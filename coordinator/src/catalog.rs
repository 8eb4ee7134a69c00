//! The Iceberg catalog: connecting, creating tables, adding columns. The
//! guard every commit goes through is [`crate::commit::guard`].

use std::collections::HashMap;
use std::sync::Arc;

use floe_config::Column;
use floe_table::iceberg_type;
use iceberg::spec::{FormatVersion, PartitionSpec, PrimitiveType, Schema, Type};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, Result, TableCreation, TableIdent};
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
