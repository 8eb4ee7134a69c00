"""Round trip through the Iceberg REST catalog in FLOE_TEST_REST with PyIceberg:
create a namespace and a table, append rows, read them back, and check that
the metadata and data files landed in the S3 server (FLOE_TEST_S3) under the
catalog's warehouse.

Run with the project venv's python after sourcing STATE_DIR/env (up.sh).
"""

import os
import sys
import uuid
from urllib.parse import urlparse

import boto3
import pyarrow as pa
from pyiceberg.catalog import load_catalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType


def main():
    env = os.environ
    warehouse = env["FLOE_TEST_REST_WAREHOUSE"]
    catalog = load_catalog(
        "floe-test",
        **{
            "type": "rest",
            "uri": env["FLOE_TEST_REST"],
            "token": env["FLOE_TEST_REST_TOKEN"],
            "warehouse": warehouse,
            "s3.endpoint": env["FLOE_TEST_S3"],
            "s3.access-key-id": env["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": env["AWS_SECRET_ACCESS_KEY"],
            "s3.region": env["AWS_REGION"],
            "s3.path-style-access": "true",
        },
    )

    ns = f"check_{uuid.uuid4().hex[:8]}"
    catalog.create_namespace(ns)
    if (ns,) not in catalog.list_namespaces():
        raise AssertionError(f"namespace {ns} was created but is not listed")

    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "name", StringType(), required=False),
    )
    table = catalog.create_table(f"{ns}.events", schema=schema)
    if not table.location().startswith(warehouse.rstrip("/") + "/"):
        raise AssertionError(f"table location {table.location()} is not under the warehouse {warehouse}")

    rows = pa.table(
        {"id": pa.array([1, 2, 3], pa.int64()), "name": pa.array(["a", "b", "c"], pa.string())}
    )
    table.append(rows)
    table.append(rows.slice(0, 1))

    # Read back through a fresh load, so the rows come from the committed
    # metadata the catalog points at, not from the client's cached object.
    reloaded = catalog.load_table(f"{ns}.events")
    got = reloaded.scan().to_arrow().sort_by("id")
    want = pa.concat_tables([rows, rows.slice(0, 1)]).sort_by("id")
    if got.to_pylist() != want.to_pylist():
        raise AssertionError(f"read back {got.to_pylist()}, want {want.to_pylist()}")
    if len(reloaded.snapshots()) != 2:
        raise AssertionError(f"expected 2 snapshots, found {len(reloaded.snapshots())}")

    # The files are in the S3 server, below the table's location.
    loc = urlparse(reloaded.location())
    s3 = boto3.client(
        "s3",
        endpoint_url=env["FLOE_TEST_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=loc.netloc, Prefix=loc.path.lstrip("/"))
        for o in page.get("Contents", [])
    ]
    data = [k for k in keys if k.endswith(".parquet")]
    metadata = [k for k in keys if k.endswith(".metadata.json")]
    if len(data) != 2 or len(metadata) < 3:
        raise AssertionError(f"expected 2 data files and >= 3 metadata files under {reloaded.location()}, found {keys}")
    if urlparse(reloaded.metadata_location).path.lstrip("/") not in metadata:
        raise AssertionError(f"the current metadata {reloaded.metadata_location} is not in S3")

    catalog.drop_table(f"{ns}.events")
    catalog.drop_namespace(ns)
    print(
        f"REST check: namespace {ns}, table with {got.num_rows} rows in {len(data)} data files "
        f"at {reloaded.location()} via {env['FLOE_TEST_REST']}"
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(f"REST check FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
