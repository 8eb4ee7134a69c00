//! Typed columns from a topic's JSON Schema (`schema.source: registry`).
//!
//! - `integer` is long, `number` double, `boolean` boolean, `string`
//!   string; a string with `format: date-time` is timestamptz, with
//!   `format: date` date, with `contentEncoding: base64` binary.
//! - An object's properties become columns named by their keys joined with
//!   `_` and read through the dotted path: `customer.id` is column
//!   `customer_id`.
//! - Arrays, objects without properties and properties without a type are
//!   string columns holding the value's JSON text.
//! - `type: [T, "null"]` and a `oneOf`/`anyOf` of T and `null` are T. A
//!   column is required when its property, and every object above it, is
//!   listed in `required` and cannot be null.
//! - `$ref`s inside the document (`#/$defs/...`) are followed.
//!
//! Columns come in the order of the property names (sorted), nested ones
//! where their object is. Anything else (a `$ref` to another document, a
//! `oneOf` of different types, `allOf`) is refused with the property it
//! is on: floe would have to guess a column type.

use std::collections::{BTreeSet, HashMap};

use floe_config::{Column, ColumnType};
use serde_json::{Map, Value};

use crate::columns::SourceColumn;

/// Nesting (objects and `$ref`s) followed before a schema is deemed cyclic.
const MAX_DEPTH: usize = 32;

/// What in a JSON Schema cannot become columns, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("property `{property}`: {message}")]
pub struct SchemaColumnsError {
    /// The property's dotted path; `(root)` for the schema itself.
    pub property: String,
    pub message: String,
}

/// The typed columns a JSON Schema describes.
pub fn columns_from_json_schema(document: &Value) -> Result<Vec<Column>, SchemaColumnsError> {
    let walker = Walker { document };
    let root = walker.resolve(document, &[], 0)?;
    let Some(properties) = root.get("properties").and_then(Value::as_object) else {
        return Err(error(
            &[],
            "the schema has no `properties`: floe makes one column per property of an object schema",
        ));
    };
    let mut columns = Vec::new();
    walker.object(&mut Vec::new(), properties, required_of(root), true, 0, &mut columns)?;
    check_names(&columns)?;
    Ok(columns.into_iter().map(|(column, _)| column).collect())
}

/// What a property holds.
#[derive(Debug, Clone, PartialEq)]
enum Shape<'a> {
    Leaf(ColumnType),
    /// An object with properties: one column per property.
    Object {
        properties: &'a Map<String, Value>,
        schema: &'a Value,
    },
    /// Any JSON value, kept as its text.
    Json,
}

struct Walker<'a> {
    document: &'a Value,
}

impl<'a> Walker<'a> {
    /// Adds the columns of an object's properties.
    fn object(
        &self,
        keys: &mut Vec<String>,
        properties: &'a Map<String, Value>,
        required: BTreeSet<&'a str>,
        parent_required: bool,
        depth: usize,
        columns: &mut Vec<(Column, String)>,
    ) -> Result<(), SchemaColumnsError> {
        if depth > MAX_DEPTH {
            return Err(error(keys, format!("nests more than {MAX_DEPTH} levels deep (a cycle of `$ref`s?)")));
        }
        for (key, schema) in properties {
            keys.push(key.clone());
            if key.is_empty() || (keys.len() > 1 && key.contains('.')) {
                return Err(error(
                    keys,
                    "a nested property with an empty name or a `.` in its name cannot be read through a column path",
                ));
            }
            let (shape, nullable) = self.shape(schema, keys, depth + 1)?;
            let required = parent_required && required.contains(key.as_str()) && !nullable;
            match shape {
                Shape::Object { properties, schema } => {
                    self.object(keys, properties, required_of(schema), required, depth + 1, columns)?;
                }
                Shape::Leaf(column_type) => columns.push(column(keys, column_type, required)),
                Shape::Json => columns.push(column(keys, ColumnType::String, required)),
            }
            keys.pop();
        }
        Ok(())
    }

    /// The shape of one property's schema, and whether it may be null.
    fn shape(&self, schema: &'a Value, keys: &[String], depth: usize) -> Result<(Shape<'a>, bool), SchemaColumnsError> {
        let schema = self.resolve(schema, keys, depth)?;
        let Some(object) = schema.as_object() else {
            // `true` (anything) or `false` (nothing): no type to go by.
            return Ok((Shape::Json, true));
        };
        if object.contains_key("allOf") {
            return Err(error(keys, "uses `allOf`, which floe cannot turn into one column type: inline the schema"));
        }
        if let Some(branches) = object.get("oneOf").or_else(|| object.get("anyOf")) {
            return self.alternatives(branches, keys, depth);
        }
        let (types, nullable) = match object.get("type") {
            None if object.contains_key("properties") => (vec!["object"], false),
            None => return Ok((Shape::Json, true)),
            Some(Value::String(name)) => (vec![name.as_str()], name == "null"),
            Some(Value::Array(names)) => {
                let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                let nullable = names.contains(&"null");
                (names.into_iter().filter(|n| *n != "null").collect(), nullable)
            }
            Some(other) => return Err(error(keys, format!("has `type: {other}`, which is not a type name"))),
        };
        let shape = match types.as_slice() {
            [] | ["null"] => Shape::Json,
            ["integer"] => Shape::Leaf(ColumnType::Long),
            ["number"] | ["integer", "number"] | ["number", "integer"] => Shape::Leaf(ColumnType::Double),
            ["boolean"] => Shape::Leaf(ColumnType::Boolean),
            ["string"] => Shape::Leaf(string_type(object)),
            ["array"] => Shape::Json,
            ["object"] => match object.get("properties").and_then(Value::as_object) {
                Some(properties) if !properties.is_empty() => Shape::Object { properties, schema },
                _ => Shape::Json,
            },
            [one] => return Err(error(keys, format!("has type `{one}`, which is not a JSON Schema type"))),
            several => {
                return Err(error(
                    keys,
                    format!(
                        "may be any of {}: floe needs one column type per property; narrow the type",
                        several.join(", ")
                    ),
                ));
            }
        };
        Ok((shape, nullable))
    }

    /// `oneOf`/`anyOf`: the branches must agree on a type, `null` aside.
    fn alternatives(
        &self,
        branches: &'a Value,
        keys: &[String],
        depth: usize,
    ) -> Result<(Shape<'a>, bool), SchemaColumnsError> {
        let branches = branches.as_array().ok_or_else(|| error(keys, "has a `oneOf`/`anyOf` that is not a list"))?;
        let mut nullable = false;
        let mut shapes = Vec::new();
        for branch in branches {
            let resolved = self.resolve(branch, keys, depth + 1)?;
            if resolved.get("type").and_then(Value::as_str) == Some("null") {
                nullable = true;
                continue;
            }
            let (shape, branch_nullable) = self.shape(branch, keys, depth + 1)?;
            nullable |= branch_nullable;
            shapes.push(shape);
        }
        match shapes.as_slice() {
            [] => Ok((Shape::Json, true)),
            [one] => Ok((one.clone(), nullable)),
            [Shape::Leaf(first), rest @ ..] if rest.iter().all(|s| *s == Shape::Leaf(*first)) => {
                Ok((Shape::Leaf(*first), nullable))
            }
            _ => Err(error(
                keys,
                "has `oneOf`/`anyOf` branches of different types: floe needs one column type per property; \
                 give the branches one type, or list the columns in the mapping (schema.source: mapping)",
            )),
        }
    }

    /// Follows `$ref`s within the document.
    fn resolve(&self, schema: &'a Value, keys: &[String], depth: usize) -> Result<&'a Value, SchemaColumnsError> {
        let mut schema = schema;
        let mut hops = depth;
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            hops += 1;
            if hops > MAX_DEPTH {
                return Err(error(keys, format!("`$ref` `{reference}` leads to a cycle")));
            }
            let Some(pointer) = reference.strip_prefix('#') else {
                return Err(error(
                    keys,
                    format!(
                        "`$ref` `{reference}` points to another document, which floe does not fetch: \
                         inline the definition (under `$defs`)"
                    ),
                ));
            };
            schema = self
                .document
                .pointer(pointer)
                .ok_or_else(|| error(keys, format!("`$ref` `{reference}` points to nothing in the schema")))?;
        }
        Ok(schema)
    }
}

fn string_type(schema: &Map<String, Value>) -> ColumnType {
    if schema.get("contentEncoding").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case("base64")) {
        return ColumnType::Binary;
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => ColumnType::TimestampTz,
        Some("date") => ColumnType::Date,
        _ => ColumnType::String,
    }
}

fn required_of(schema: &Value) -> BTreeSet<&str> {
    let listed = schema.get("required").and_then(Value::as_array);
    listed.into_iter().flatten().filter_map(Value::as_str).collect()
}

/// A column for the property at `keys`, with the property's dotted path.
fn column(keys: &[String], column_type: ColumnType, required: bool) -> (Column, String) {
    let column = Column { name: keys.join("_"), column_type, required, path: (keys.len() > 1).then(|| keys.join(".")) };
    (column, keys.join("."))
}

/// Column names must be unique and leave the record's own columns alone.
fn check_names(columns: &[(Column, String)]) -> Result<(), SchemaColumnsError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (column, property) in columns {
        if SourceColumn::from_name(&column.name).is_some() {
            return Err(SchemaColumnsError {
                property: property.clone(),
                message: format!(
                    "becomes column `{}`, a column floe fills from the record itself: rename the property, or \
                     list the columns in the mapping (schema.source: mapping) with `path: {property}`",
                    column.name
                ),
            });
        }
        if let Some(other) = seen.insert(&column.name, property) {
            return Err(SchemaColumnsError {
                property: property.clone(),
                message: format!("becomes column `{}`, as property `{other}` does: rename one of the two", column.name),
            });
        }
    }
    Ok(())
}

fn error(keys: &[String], message: impl Into<String>) -> SchemaColumnsError {
    let property = if keys.is_empty() { "(root)".to_string() } else { keys.join(".") };
    SchemaColumnsError { property, message: message.into() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn columns(schema: Value) -> Vec<(String, String, bool, Option<String>)> {
        columns_from_json_schema(&schema)
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.column_type.to_string(), c.required, c.path))
            .collect()
    }

    fn refused(schema: Value) -> String {
        columns_from_json_schema(&schema).unwrap_err().to_string()
    }

    fn leaf(name: &str, column_type: &str, required: bool) -> (String, String, bool, Option<String>) {
        (name.to_string(), column_type.to_string(), required, None)
    }

    #[test]
    fn types_formats_and_required() {
        let schema = json!({
            "type": "object",
            "required": ["id", "note", "when"],
            "properties": {
                "id": {"type": "integer"},
                "amount": {"type": "number"},
                "paid": {"type": "boolean"},
                "note": {"type": ["string", "null"]},
                "when": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "blob": {"type": "string", "contentEncoding": "base64"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "extra": {"type": "object"},
                "anything": {},
                "ratio": {"type": ["integer", "number"]}
            }
        });
        assert_eq!(
            columns(schema),
            [
                leaf("amount", "double", false),
                leaf("anything", "string", false),
                leaf("blob", "binary", false),
                leaf("day", "date", false),
                leaf("extra", "string", false),
                leaf("id", "long", true),
                leaf("note", "string", false),
                leaf("paid", "boolean", false),
                leaf("ratio", "double", false),
                leaf("tags", "string", false),
                leaf("when", "timestamptz", true),
            ]
        );
    }

    #[test]
    fn nested_objects_refs_and_nullable_alternatives() {
        let schema = json!({
            "$defs": {"money": {"type": "number"}},
            "required": ["customer"],
            "properties": {
                "customer": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string"},
                        "address": {"properties": {"zip": {"type": "string"}}, "required": ["zip"]}
                    }
                },
                "price": {"$ref": "#/$defs/money"},
                "coupon": {"oneOf": [{"type": "null"}, {"type": "string"}]}
            }
        });
        assert_eq!(
            columns(schema),
            [
                leaf("coupon", "string", false),
                ("customer_address_zip".into(), "string".into(), false, Some("customer.address.zip".into())),
                ("customer_id".into(), "string".into(), true, Some("customer.id".into())),
                leaf("price", "double", false),
            ]
        );
    }

    #[test]
    fn what_cannot_become_a_column_is_named() {
        assert_eq!(
            refused(json!({"properties": {"a": {"$ref": "https://example.com/a.json"}}})),
            "property `a`: `$ref` `https://example.com/a.json` points to another document, which floe does not \
             fetch: inline the definition (under `$defs`)"
        );
        assert!(
            refused(json!({"properties": {"a": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}))
                .starts_with("property `a`: has `oneOf`/`anyOf` branches of different types")
        );
        assert_eq!(
            refused(json!({"properties": {"a": {"type": ["string", "integer"]}}})),
            "property `a`: may be any of string, integer: floe needs one column type per property; narrow the type"
        );
        assert!(refused(json!({"properties": {"a": {"allOf": []}}})).starts_with("property `a`: uses `allOf`"));
        assert!(refused(json!({"type": "object"})).starts_with("property `(root)`: the schema has no `properties`"));
        assert_eq!(
            refused(json!({"properties": {"a_b": {"type": "string"}, "a": {"properties": {"b": {"type": "string"}}}}})),
            "property `a_b`: becomes column `a_b`, as property `a.b` does: rename one of the two"
        );
        assert!(
            refused(json!({"properties": {"offset": {"type": "integer"}}}))
                .starts_with("property `offset`: becomes column `offset`, a column floe fills from the record itself")
        );
        assert!(refused(json!({"properties": {"a": {"$ref": "#/properties/a"}}})).contains("leads to a cycle"));
        assert!(refused(json!({"properties": {"a": {"$ref": "#/nope"}}})).contains("points to nothing"));
    }
}
