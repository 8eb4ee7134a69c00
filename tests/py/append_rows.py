"""Append rows to a floe table with PyIceberg: another writer committing to
the same table, as the end-to-end tests need it.

    append_rows.py --catalog-uri URI --catalog-name NAME --warehouse W
                   --table ns.table --topic external --rows 5 [--s3-endpoint URL]

The rows have floe's columns, topic TOPIC, partition 0, offsets 0..ROWS-1.
"""

import argparse
import sys

import pyarrow as pa

from read_table import ReadError, pyiceberg_table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--catalog-uri", required=True)
    parser.add_argument("--catalog-name", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--token")
    parser.add_argument("--table", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()
    try:
        table = pyiceberg_table(args)
    except ReadError as e:
        print(f"append_rows: {e}", file=sys.stderr)
        return 2
    rows = [
        {
            "record_id": f"{args.topic}:0:{offset}",
            "topic": args.topic,
            "partition": 0,
            "offset": offset,
            "timestamp_ms": 1_767_225_600_000 + offset,
            "key": None,
            "value": b"written by another engine",
            "headers": [],
        }
        for offset in range(args.rows)
    ]
    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
