//! A mapping's `partition_by` as an Iceberg partition spec.

use floe_config::{PartitionField, PartitionTransform};
use iceberg::spec::{PartitionSpec, Schema, Transform};

/// The partition spec of `fields` over `schema`. The error names the field
/// and what is wrong with it.
pub fn partition_spec(schema: &Schema, fields: &[PartitionField]) -> Result<PartitionSpec, String> {
    let mut builder = PartitionSpec::builder(schema.clone()).with_spec_id(0);
    for field in fields {
        if schema.field_by_name(&field.column).is_none() {
            return Err(format!(
                "partition field `{field}`: the table has no column `{}`; partition by a column floe fills \
                 (e.g. record_time), a typed column, or event_time with event_time_field",
                field.column
            ));
        }
        let transform = match field.transform {
            PartitionTransform::Identity => Transform::Identity,
            PartitionTransform::Year => Transform::Year,
            PartitionTransform::Month => Transform::Month,
            PartitionTransform::Day => Transform::Day,
            PartitionTransform::Hour => Transform::Hour,
            PartitionTransform::Bucket(n) => Transform::Bucket(n),
            PartitionTransform::Truncate(w) => Transform::Truncate(w),
        };
        builder = builder
            .add_partition_field(&field.column, field.name(), transform)
            .map_err(|e| format!("partition field `{field}`: {}", e.message()))?;
    }
    builder.build().map_err(|e| format!("partition_by: {}", e.message()))
}

/// A spec as people write it, e.g. `[day(record_time), status]`.
pub fn describe(spec: &PartitionSpec, schema: &Schema) -> String {
    let fields: Vec<String> = spec
        .fields()
        .iter()
        .map(|f| {
            let column = schema.name_by_field_id(f.source_id).unwrap_or("?");
            match f.transform {
                Transform::Identity => column.to_string(),
                Transform::Bucket(n) => format!("bucket({n}, {column})"),
                Transform::Truncate(w) => format!("truncate({w}, {column})"),
                other => format!("{}({column})", other.to_string().to_lowercase()),
            }
        })
        .collect();
    format!("[{}]", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::table_schema;

    #[test]
    fn builds_the_spec_and_names_a_wrong_field() {
        let columns: Vec<floe_config::Column> =
            serde_json::from_str(r#"[{"name": "customer_id", "type": "long"}, {"name": "status", "type": "string"}]"#)
                .unwrap();
        let schema = table_schema(&columns, &[crate::SourceColumn::RecordTime]);
        let fields: Vec<PartitionField> =
            ["day(record_time)", "bucket(16, customer_id)", "status"].iter().map(|f| f.parse().unwrap()).collect();
        let spec = partition_spec(&schema, &fields).unwrap();
        let names: Vec<_> = spec.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["record_time_day", "customer_id_bucket", "status"]);
        assert_eq!(describe(&spec, &schema), "[day(record_time), bucket(16, customer_id), status]");

        let missing = partition_spec(&schema, &["day(event_time)".parse().unwrap()]).unwrap_err();
        assert!(missing.starts_with("partition field `day(event_time)`: the table has no column `event_time`"));
        let wrong_type = partition_spec(&schema, &["day(status)".parse().unwrap()]).unwrap_err();
        assert!(wrong_type.starts_with("partition field `day(status)`"), "{wrong_type}");
    }
}
