"""Build Iceberg tables with PyIceberg for selftest.sh to read back.

    make_fixture.py DIR CORPUS

Creates a SQL catalog "floe" at DIR/catalog.db (warehouse file://DIR/warehouse)
with, in namespace prod:
  orders   floe's raw record schema, filled from CORPUS/plain/expected.jsonl in
           two appends, each with a floe.offsets snapshot property;
  typed    the typed rows of CORPUS/json_columns/expected_rows.jsonl, with
           created_at both as timestamptz and as timestamp (created_at_ntz);
  bad_ids  one raw record whose record_id does not match its coordinates.
"""

import base64
import json
import sys
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
)

RAW_SCHEMA = Schema(
    NestedField(1, "record_id", StringType(), required=True),
    NestedField(2, "topic", StringType(), required=True),
    NestedField(3, "partition", IntegerType(), required=True),
    NestedField(4, "offset", LongType(), required=True),
    NestedField(5, "timestamp_ms", LongType(), required=True),
    NestedField(6, "key", BinaryType(), required=False),
    NestedField(7, "value", BinaryType(), required=False),
    NestedField(
        8,
        "headers",
        ListType(
            9,
            StructType(
                NestedField(10, "key", StringType(), required=False),
                NestedField(11, "value", BinaryType(), required=False),
            ),
            element_required=True,
        ),
        required=False,
    ),
)

TYPED_SCHEMA = Schema(
    NestedField(1, "offset", LongType(), required=True),
    NestedField(2, "order_id", LongType(), required=True),
    NestedField(3, "status", StringType(), required=False),
    NestedField(4, "amount", DoubleType(), required=False),
    NestedField(5, "qty", IntegerType(), required=False),
    NestedField(6, "created_at", TimestamptzType(), required=False),
    NestedField(7, "created_at_ntz", TimestampType(), required=False),
    NestedField(8, "day", DateType(), required=False),
    NestedField(9, "vip", BooleanType(), required=False),
)


def unb64(s):
    return None if s is None else base64.b64decode(s)


def raw_record(r):
    """A corpus expected.jsonl line as a row of the raw table."""
    return {
        "record_id": f"{r['topic']}:{r['partition']}:{r['offset']}",
        "topic": r["topic"],
        "partition": r["partition"],
        "offset": r["offset"],
        "timestamp_ms": r["timestamp_ms"],
        "key": unb64(r["key"]),
        "value": unb64(r["value"]),
        "headers": [{"key": h["key"], "value": unb64(h["value"])} for h in r["headers"]],
    }


def next_offsets(rows):
    """{"topic:partition": next offset}, as a floe commit would record it."""
    out = {}
    for r in rows:
        tp = f"{r['topic']}:{r['partition']}"
        out[tp] = max(out.get(tp, 0), r["offset"] + 1)
    return json.dumps(out, sort_keys=True)


def main(out_dir, corpus):
    (out_dir / "warehouse").mkdir(parents=True)
    catalog = SqlCatalog(
        "floe", uri=f"sqlite:///{out_dir}/catalog.db", warehouse=(out_dir / "warehouse").as_uri()
    )
    catalog.create_namespace("prod")

    orders = catalog.create_table("prod.orders", RAW_SCHEMA)
    arrow_schema = RAW_SCHEMA.as_arrow()
    records = [raw_record(json.loads(line)) for line in (corpus / "plain/expected.jsonl").open()]
    # Two commits, the second one not in offset order, so that readers must sort.
    half = len(records) // 2
    for batch in (records[half:], records[:half]):
        orders.append(
            pa.Table.from_pylist(batch, schema=arrow_schema),
            snapshot_properties={"floe.offsets": next_offsets(batch)},
        )

    typed_rows = []
    for line in (corpus / "json_columns/expected_rows.jsonl").open():
        row = json.loads(line)
        row["created_at"] = row["created_at_ntz"] = row.pop("created_at_us")
        typed_rows.append(row)
    # Timestamps go in as epoch micros and dates as epoch days: Arrow takes both as is.
    catalog.create_table("prod.typed", TYPED_SCHEMA).append(
        pa.Table.from_pylist(typed_rows, schema=TYPED_SCHEMA.as_arrow())
    )

    bad = raw_record(json.loads(next((corpus / "plain/expected.jsonl").open())))
    bad["record_id"] = "not-its-id"
    catalog.create_table("prod.bad_ids", RAW_SCHEMA).append(pa.Table.from_pylist([bad], schema=arrow_schema))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
