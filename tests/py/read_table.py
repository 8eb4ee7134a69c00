"""Read an Iceberg table back with a real engine and print it as JSON lines.

    read_table.py --engine pyiceberg|duckdb --catalog-uri sqlite:////ABS/catalog.db
                  --catalog-name floe --warehouse file:///ABS/warehouse --table prod.orders
                  [--columns raw|all] [--snapshots] [--s3-endpoint http://HOST:PORT]

PyIceberg also reads SQL catalogs on PostgreSQL (--catalog-uri postgresql://...)
and REST catalogs (--catalog-uri http://...); with an s3:// warehouse, give
--s3-endpoint and the AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION
variables. DuckDB reads SQLite catalogs with local warehouses.

Run it with the python that scripts/python-env.sh prints.

Rows are printed one JSON object per line (keys sorted), ordered by
(topic, partition, offset):
  --columns raw (default): the record shape of the corpus expected.jsonl files
      (headers, key, offset, partition, timestamp_ms, topic, value), after
      checking that record_id == "topic:partition:offset" on every row.
  --columns all: every column of the table.
Binary values are base64, dates are days since the epoch, timestamps are
microseconds since the epoch (UTC), decimals their text, everything else is
its JSON native.

--data-files prints {"path": ...} per data file of the current snapshot.

--schema prints {"name", "type", "required"} per top-level field of the
current schema, in order (PyIceberg's type names: long, decimal(10, 2)...).

--snapshots prints one object per snapshot instead, oldest first. PyIceberg
gives snapshot_id, parent_id, sequence_number, timestamp_ms, operation and
summary; DuckDB's iceberg_snapshots() exposes neither the parent nor the
summary, so it gives only snapshot_id, sequence_number, timestamp_ms and
operation.

Exit codes: 0 ok; 1 the table was read but does not fit --columns raw (a
column is missing or a record_id does not match); 2 the table could not be
read, or bad arguments.
"""

import argparse
import base64
import datetime
import decimal
import glob
import json
import sqlite3
import sys
import traceback
from pathlib import Path

RAW_COLUMNS = ("headers", "key", "offset", "partition", "timestamp_ms", "topic", "value")
ORDER = ("topic", "partition", "offset")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_MICRO = datetime.timedelta(microseconds=1)


class ReadError(Exception):
    """The table could not be read; the message says why (exit 2)."""


class InvariantError(Exception):
    """The table was read but its rows are wrong (exit 1)."""


def sqlite_path(catalog_uri):
    """The catalog database file of a sqlite:/// URI, which must exist.

    Checked up front because SQLAlchemy would silently create an empty
    database and the error would then be a misleading "table not found".
    """
    prefix = "sqlite:///"
    if not catalog_uri.startswith(prefix):
        raise ReadError(f"--catalog-uri must be {prefix}PATH, got {catalog_uri}")
    path = Path(catalog_uri[len(prefix):])
    if not path.is_file():
        raise ReadError(f"catalog database {path} does not exist")
    return path


def to_json(value):
    """A value as Arrow's to_pylist() gives it, made JSON-native."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    # datetime is a subclass of date: test it first.
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # Iceberg `timestamp` (no zone) stores UTC wall time
            value = value.replace(tzinfo=datetime.timezone.utc)
        return (value - EPOCH) // ONE_MICRO
    if isinstance(value, datetime.date):
        return (value - EPOCH.date()).days
    if isinstance(value, decimal.Decimal):  # exactly, as its text
        return str(value)
    return value


# --- PyIceberg ---------------------------------------------------------------

def s3_properties(args):
    """PyIceberg FileIO settings for an S3 warehouse: the endpoint from
    --s3-endpoint, credentials and region from the usual AWS variables."""
    if not args.s3_endpoint:
        return {}
    import os

    return {
        "s3.endpoint": args.s3_endpoint,
        "s3.access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "s3.secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "s3.region": os.environ.get("AWS_REGION", "us-east-1"),
        "s3.force-virtual-addressing": "false",
    }


def pyiceberg_table(args):
    from pyiceberg.catalog import load_catalog
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import NoSuchTableError

    props = s3_properties(args)
    uri = args.catalog_uri
    if uri.startswith(("http://", "https://")):
        if args.token:
            props["token"] = args.token
        catalog = load_catalog(args.catalog_name, type="rest", uri=uri, warehouse=args.warehouse, **props)
    elif uri.startswith(("postgres://", "postgresql://")):
        # SQLAlchemy names the driver in the scheme.
        uri = "postgresql+psycopg2://" + uri.split("://", 1)[1]
        catalog = SqlCatalog(args.catalog_name, uri=uri, warehouse=args.warehouse, **props)
    else:
        sqlite_path(uri)
        catalog = SqlCatalog(args.catalog_name, uri=uri, warehouse=args.warehouse, **props)
    try:
        return catalog.load_table(args.table)
    except NoSuchTableError:
        raise ReadError(not_found(args)) from None


def pyiceberg_rows(args):
    return pyiceberg_table(args).scan().to_arrow().to_pylist()


def pyiceberg_snapshots(args):
    snapshots = sorted(pyiceberg_table(args).snapshots(), key=lambda s: (s.sequence_number, s.timestamp_ms))
    return [
        {
            "snapshot_id": s.snapshot_id,
            "parent_id": s.parent_snapshot_id,
            "sequence_number": s.sequence_number,
            "timestamp_ms": s.timestamp_ms,
            "operation": s.summary.operation.value if s.summary else None,
            "summary": s.summary.model_dump() if s.summary else None,
        }
        for s in snapshots
    ]


def pyiceberg_schema(args):
    fields = pyiceberg_table(args).schema().fields
    return [{"name": f.name, "type": str(f.field_type), "required": f.required} for f in fields]


def pyiceberg_data_files(args):
    """Paths of the data files the current snapshot references."""
    table = pyiceberg_table(args)
    return [{"path": task.file.file_path} for task in table.scan().plan_files()]


# --- DuckDB ------------------------------------------------------------------

def metadata_location(args):
    """The table's current metadata file, looked up like iceberg-rust's SqlCatalog does."""
    db = sqlite_path(args.catalog_uri)
    namespace, _, name = args.table.rpartition(".")
    con = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT metadata_location FROM iceberg_tables"
            " WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
            " AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
            (args.catalog_name, namespace, name),
        ).fetchone()
    except sqlite3.Error as e:
        raise ReadError(f"{db} is not a readable Iceberg SQL catalog: {e}") from None
    finally:
        con.close()
    if row is None or not row[0]:
        raise ReadError(not_found(args))
    return row[0]


def duckdb_connection():
    """An in-memory DuckDB with the iceberg extension loaded from its pip package.

    Autoloading is off so that nothing is ever downloaded. avro must be loaded
    before iceberg: iceberg's init otherwise tries to autoinstall it.
    """
    import duckdb
    import duckdb_extension_avro
    import duckdb_extension_iceberg

    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    for package in (duckdb_extension_avro, duckdb_extension_iceberg):
        files = glob.glob(str(Path(package.__file__).parent / "**" / "*.duckdb_extension"), recursive=True)
        if len(files) != 1:
            raise ReadError(f"expected one .duckdb_extension file in {package.__name__}, found {files}")
        con.execute("LOAD '{}'".format(files[0].replace("'", "''")))
    return con


def duckdb_rows(args):
    location = metadata_location(args)
    # Through Arrow so that both engines hand the same Python types to to_json().
    return duckdb_connection().execute("SELECT * FROM iceberg_scan(?)", [location]).to_arrow_table().to_pylist()


def duckdb_snapshots(args):
    location = metadata_location(args)
    cursor = duckdb_connection().execute(
        # timestamp_ms is a TIMESTAMP (UTC wall time) there: back to epoch millis.
        "SELECT snapshot_id, sequence_number, epoch_ms(timestamp_ms) AS timestamp_ms, operation"
        " FROM iceberg_snapshots(?) ORDER BY sequence_number, timestamp_ms",
        [location],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# --- output ------------------------------------------------------------------

def not_found(args):
    return f"table {args.table} not found in catalog {args.catalog_name} ({args.catalog_uri})"


def shape(rows, columns):
    if columns == "raw" and rows:
        missing = sorted({"record_id", *RAW_COLUMNS} - rows[0].keys())
        if missing:
            raise InvariantError(f"not a raw record table, it has no column {', '.join(missing)} (try --columns all)")
    out = []
    for row in rows:
        if columns == "raw":
            expected_id = f"{row['topic']}:{row['partition']}:{row['offset']}"
            if row["record_id"] != expected_id:
                raise InvariantError(f"record_id {row['record_id']!r} does not match topic:partition:offset {expected_id!r}")
            row = {k: row[k] for k in RAW_COLUMNS}
        out.append(to_json(row))
    # Nulls sort first without comparing None to a value; the full line breaks ties.
    out.sort(key=lambda r: tuple((r[c] is not None, r[c]) for c in ORDER if c in r) + (json.dumps(r, sort_keys=True),))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engine", required=True, choices=("pyiceberg", "duckdb"))
    parser.add_argument(
        "--catalog-uri",
        required=True,
        help="sqlite:////ABS/catalog.db, postgresql://USER:PASS@HOST/DB, or a REST catalog's http(s) URL",
    )
    parser.add_argument("--s3-endpoint", help="the S3 service of an s3:// warehouse (pyiceberg)")
    parser.add_argument("--token", help="a REST catalog's bearer token")
    parser.add_argument("--catalog-name", required=True)
    parser.add_argument("--warehouse", required=True, help="file:///ABS/warehouse (DuckDB only needs the metadata location)")
    parser.add_argument("--table", required=True, help="namespace.table")
    parser.add_argument("--columns", choices=("raw", "all"), default="raw")
    parser.add_argument("--snapshots", action="store_true")
    parser.add_argument("--data-files", action="store_true", help="print the current data file paths (pyiceberg)")
    parser.add_argument("--schema", action="store_true", help="print the current schema's fields (pyiceberg)")
    args = parser.parse_args()
    if "." not in args.table:
        parser.error(f"--table must be namespace.table, got {args.table}")

    try:
        if args.schema:
            out = pyiceberg_schema(args)
        elif args.data_files:
            out = sorted(pyiceberg_data_files(args), key=lambda f: f["path"])
        elif args.snapshots:
            out = {"pyiceberg": pyiceberg_snapshots, "duckdb": duckdb_snapshots}[args.engine](args)
        else:
            rows = {"pyiceberg": pyiceberg_rows, "duckdb": duckdb_rows}[args.engine](args)
            out = shape(rows, args.columns)
    except InvariantError as e:
        print(f"read_table: {args.table}: {e}", file=sys.stderr)
        return 1
    except ReadError as e:
        print(f"read_table: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        traceback.print_exc()
        print(f"read_table: {args.engine} failed to read {args.table} from catalog {args.catalog_name}: {e}", file=sys.stderr)
        return 2
    sys.stdout.writelines(json.dumps(o, sort_keys=True) + "\n" for o in out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
