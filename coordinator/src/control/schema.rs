//! A table's schema source, as the control loop follows it: a new schema
//! adds columns through the same path as a mapping's new columns and
//! reaches workers as a new definition; a source that cannot answer, or
//! answers with a schema floe cannot use, holds that table alone.

use floe_table::{MappedColumn, RowBuilder};
use tracing::{error, info, warn};

use super::Control;
use crate::catalog::add_missing_columns;
use crate::loader::with_optional_columns;
use crate::models::{FetchError, FetchedSchema};

impl Control {
    pub(super) fn on_schema_fetched(&mut self, name: &str, result: Result<FetchedSchema, FetchError>) {
        let Some(state) = self.tables.get_mut(name) else { return };
        let Some(sourced) = state.sourced.as_mut() else { return };
        match result {
            Err(e) => self.hold(name, e),
            Ok(fetched) => {
                let mut columns = fetched.columns.clone();
                columns.extend(sourced.mapping.columns.iter().cloned());
                let validation = state.validation.as_ref().map(|v| &v.schema_json);
                if state.columns == columns && validation == fetched.validation.as_ref() {
                    sourced.pending = None;
                    self.release(name);
                } else {
                    // Applied on a tick when no commit of the table runs.
                    sourced.pending = Some(fetched);
                }
            }
        }
    }

    /// Adds the new schema's columns to the table, then gives workers the
    /// new definition: the table's leases are taken back (their rows are
    /// reported and commit as usual) and granted again with it.
    pub(super) async fn apply_schema(&mut self, name: &str) {
        let Some(state) = self.tables.get_mut(name) else { return };
        let Some(fetched) = state.sourced.as_mut().and_then(|s| s.pending.take()) else { return };
        let Some(mapping) = state.sourced.as_ref().map(|s| s.mapping.clone()) else { return };
        let topic = mapping.topic.clone();
        let validation = mapping.validation_of(fetched.validation);
        let mut columns = fetched.columns;
        columns.extend(mapping.columns.iter().cloned());
        let wanted = with_optional_columns(&mapping, &columns);
        let widening = mapping.allow_type_widening;
        let ident = state.ident.clone();
        let fitted = async {
            let table = self.catalog.load_table(&ident).await.map_err(|e| format!("loading the table: {e}"))?;
            let table = add_missing_columns(self.catalog.as_ref(), table, &wanted, widening, "the registry schema")
                .await
                .map_err(|e| format!("the schema of topic `{topic}` changed: {e}"))?;
            let arrow =
                iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema()).map_err(|e| e.to_string())?;
            let mapped: Vec<MappedColumn> = columns.iter().map(MappedColumn::from).collect();
            RowBuilder::new(std::sync::Arc::new(arrow), &mapped).map_err(|e| e.to_string())?;
            Ok::<_, String>(table)
        }
        .await;
        let table = match fitted {
            Ok(table) => table,
            Err(message) => {
                self.hold(name, FetchError::Unusable(message));
                return;
            }
        };
        let props = self.settings.catalog.file_io_props.clone();
        let Some(state) = self.tables.get_mut(name) else { return };
        let added: Vec<&str> = columns
            .iter()
            .filter(|c| !state.columns.iter().any(|old| old.name == c.name))
            .map(|c| c.name.as_str())
            .collect();
        info!(table = %name, added = %added.join(", "), "new schema from the registry: workers get the new definition");
        state.table = table;
        state.columns = columns;
        state.validation = validation;
        state.redefine(props);
        self.workers.forget_definition(name);
        self.revoke_table(name);
        self.release(name);
    }

    /// Stops granting the table's partitions, and takes back those granted.
    fn hold(&mut self, name: &str, reason: FetchError) {
        let Some(state) = self.tables.get_mut(name) else { return };
        if state.held.as_ref() != Some(&reason) {
            match reason.is_outage() {
                true => warn!(table = %name, "{reason}"),
                false => error!(table = %name, "table held: {reason}"),
            }
        }
        let newly = state.held.is_none();
        state.held = Some(reason);
        if newly {
            self.revoke_table(name);
        }
    }

    fn release(&mut self, name: &str) {
        let Some(state) = self.tables.get_mut(name) else { return };
        if state.held.take().is_some() {
            info!(table = %name, "schema registry answered: reading the table again");
            self.rebalance_needed = true;
        }
    }

    /// Why the table waits on its schema source for good (not an outage,
    /// which ends by itself): `--once` counts it as stuck.
    pub(super) fn stuck_on_schema(&self, table: &str) -> Option<&FetchError> {
        self.tables.get(table)?.held.as_ref().filter(|held| !held.is_outage())
    }
}
