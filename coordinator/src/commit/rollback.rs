//! Points a table's `main` branch back at one of its earlier snapshots
//! (`floe ctl rewind --table`).
//!
//! iceberg-rust 0.10 has no public action for a ref change, so this makes
//! the same commit a catalog client would, guarded the same way (the branch
//! must still be where it was checked):
//! - SQL catalog: new metadata written next to the current one, then the
//!   catalog row swapped only if it still names the current metadata file;
//! - REST catalog: the spec's `set-snapshot-ref` update with an
//!   `assert-ref-snapshot-id` requirement.

use std::str::FromStr;

use iceberg::spec::{MAIN_BRANCH, SnapshotReference, SnapshotRetention, TableMetadata};
use iceberg::table::Table;
use iceberg::{MetadataLocation, TableRequirement, TableUpdate};
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::catalog::{CatalogKind, CatalogSettings, prepare_sqlite_file};
use crate::store::numbered_params;

/// Which snapshot to go back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackTarget {
    SnapshotId(i64),
    /// The newest snapshot of the branch committed at or before this time (Unix ms).
    AsOf(i64),
}

/// Why a table was not rewound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// The snapshot is not an ancestor of the current one: the operator
    /// names another.
    #[error(
        "snapshot {0} is not in the table's current history (`floe ctl status --json` or the engine's snapshots \
         table lists them)"
    )]
    NotInHistory(i64),
    /// Nothing was committed that early: the operator names a later time.
    #[error("the table has no snapshot at or before {0} ms")]
    NothingAsOf(i64),
    /// Another commit landed after the table was read: the same rewind can
    /// be asked again. With the catalog's answer, when it gave one.
    #[error("the table changed meanwhile (another commit landed): try again{}", in_parentheses(.0))]
    Changed(Option<String>),
    /// The catalog, the warehouse or the table's metadata kept the change
    /// from being made.
    #[error("{0}")]
    Failed(String),
}

fn in_parentheses(answer: &Option<String>) -> String {
    answer.as_ref().map(|answer| format!(" ({answer})")).unwrap_or_default()
}

impl From<String> for RollbackError {
    fn from(message: String) -> Self {
        RollbackError::Failed(message)
    }
}

/// Resolves `target` among the ancestors of the table's current snapshot
/// (a snapshot of another branch, or one already rolled back, is refused).
pub fn resolve(metadata: &TableMetadata, target: RollbackTarget) -> Result<i64, RollbackError> {
    let mut ancestors = Vec::new();
    let mut next = metadata.current_snapshot();
    while let Some(snapshot) = next {
        ancestors.push(snapshot);
        next = snapshot.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
    }
    let found = match target {
        RollbackTarget::SnapshotId(id) => ancestors.iter().find(|s| s.snapshot_id() == id),
        RollbackTarget::AsOf(ms) => ancestors.iter().find(|s| s.timestamp_ms() <= ms),
    };
    match (found, target) {
        (Some(snapshot), _) => Ok(snapshot.snapshot_id()),
        (None, RollbackTarget::SnapshotId(id)) => Err(RollbackError::NotInHistory(id)),
        (None, RollbackTarget::AsOf(ms)) => Err(RollbackError::NothingAsOf(ms)),
    }
}

/// Moves `main` of `table` to `snapshot_id`.
pub async fn roll_back(settings: &CatalogSettings, table: &Table, snapshot_id: i64) -> Result<(), RollbackError> {
    let current = table.metadata().current_snapshot_id();
    if current == Some(snapshot_id) {
        return Ok(());
    }
    let reference = SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None));
    match &settings.kind {
        CatalogKind::Sql { uri } => roll_back_sql(uri, &settings.name, table, reference).await,
        CatalogKind::Rest { uri, token, credential } => {
            let rest = RestAccess { uri: uri.trim_end_matches('/'), token, credential: credential.as_deref() };
            rest.roll_back(table, current, reference).await
        }
    }
}

async fn roll_back_sql(
    uri: &str,
    catalog: &str,
    table: &Table,
    reference: SnapshotReference,
) -> Result<(), RollbackError> {
    let current_location =
        table.metadata_location().ok_or_else(|| RollbackError::Failed("the table has no metadata file".into()))?;
    let metadata = table
        .metadata()
        .clone()
        .into_builder(Some(current_location.to_string()))
        .set_ref(MAIN_BRANCH, reference)
        .and_then(|builder| builder.build())
        .map_err(|e| e.to_string())?
        .metadata;
    let location = MetadataLocation::from_str(current_location)
        .map_err(|e| e.to_string())?
        .with_next_version()
        .with_new_metadata(&metadata);
    metadata.write_to(table.file_io(), &location).await.map_err(|e| format!("writing {location}: {e}"))?;

    install_default_drivers();
    let sqlite = uri.starts_with("sqlite:");
    let url = if sqlite { prepare_sqlite_file(uri)? } else { uri.to_string() };
    let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await.map_err(|e| e.to_string())?;
    let ident = table.identifier();
    let query = numbered_params(
        "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
         WHERE catalog_name = ? AND table_name = ? AND table_namespace = ? AND metadata_location = ?",
        !sqlite,
    );
    let updated = sqlx::query(&query)
        .bind(location.to_string())
        .bind(current_location)
        .bind(catalog)
        .bind(ident.name())
        .bind(ident.namespace().join("."))
        .bind(current_location)
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    match updated.rows_affected() {
        1 => Ok(()),
        _ => Err(RollbackError::Changed(None)),
    }
}

struct RestAccess<'a> {
    uri: &'a str,
    token: &'a str,
    credential: Option<&'a str>,
}

impl RestAccess<'_> {
    async fn roll_back(
        &self,
        table: &Table,
        current: Option<i64>,
        reference: SnapshotReference,
    ) -> Result<(), RollbackError> {
        let http = reqwest::Client::new();
        let bearer = self.bearer(&http).await?;
        let with_auth = |request: reqwest::RequestBuilder| match &bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        // The catalog may serve its tables under a prefix (`/v1/config`).
        let config = json_answer(with_auth(http.get(format!("{}/v1/config", self.uri))), "GET /v1/config").await?;
        let prefix = config["overrides"]["prefix"].as_str().map(|p| format!("{p}/")).unwrap_or_default();
        let ident = table.identifier();
        let mut url = url::Url::parse(&format!("{}/v1/{prefix}namespaces", self.uri)).map_err(|e| e.to_string())?;
        url.path_segments_mut()
            .map_err(|()| format!("{} cannot be a base URL", self.uri))?
            // The spec joins namespace levels with the unit separator.
            .extend([ident.namespace().join("\u{1F}").as_str(), "tables", ident.name()]);
        let body = serde_json::json!({
            "identifier": { "namespace": ident.namespace().iter().collect::<Vec<_>>(), "name": ident.name() },
            "requirements": [TableRequirement::RefSnapshotIdMatch { r#ref: MAIN_BRANCH.to_string(), snapshot_id: current }],
            "updates": [TableUpdate::SetSnapshotRef { ref_name: MAIN_BRANCH.to_string(), reference }],
        });
        let response =
            with_auth(http.post(url.clone()).json(&body)).send().await.map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(match status.as_u16() {
            409 => RollbackError::Changed(Some(text)),
            _ => RollbackError::Failed(format!("POST {url}: {status}: {text}")),
        })
    }

    /// The bearer token: configured, or exchanged for the OAuth2 client
    /// credential (`id:secret`).
    async fn bearer(&self, http: &reqwest::Client) -> Result<Option<String>, String> {
        if !self.token.is_empty() {
            return Ok(Some(self.token.to_string()));
        }
        let Some(credential) = self.credential else { return Ok(None) };
        let (id, secret) = credential.split_once(':').unwrap_or(("", credential));
        let form =
            [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("scope", "catalog")];
        let url = format!("{}/v1/oauth/tokens", self.uri);
        let answer = json_answer(http.post(&url).form(&form), &format!("POST {url}")).await?;
        answer["access_token"].as_str().map(|t| Some(t.to_string())).ok_or(format!("POST {url}: no access_token"))
    }
}

/// Sends `request` and reads its JSON answer; errors start with `what`.
async fn json_answer(request: reqwest::RequestBuilder, what: &str) -> Result<serde_json::Value, String> {
    let response = request.send().await.and_then(reqwest::Response::error_for_status);
    let response = response.map_err(|e| format!("{what}: {e}"))?;
    response.json().await.map_err(|e| format!("{what}: {e}"))
}
