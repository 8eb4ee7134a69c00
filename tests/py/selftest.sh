#!/usr/bin/env bash
# Self-test of read_table.py: builds Iceberg tables with PyIceberg in a temp
# dir (make_fixture.py), reads them back with both engines and compares with
# the corpus expected files. The corpus is looked up beside the repo unless
# FLOE_CORPUS_DIR says where it is. Ends with "N passed, N failed".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CORPUS="$(cd "${FLOE_CORPUS_DIR:-$REPO/../shared/corpus}" && pwd)"
PY="$("$REPO/scripts/python-env.sh" | tail -n1)"
# A zone far from UTC: a reader that let the local zone leak into timestamps fails.
export TZ=Asia/Kolkata

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PY" "$HERE/make_fixture.py" "$WORK" "$CORPUS"

"$PY" - "$HERE/read_table.py" "$WORK" "$CORPUS" <<'EOF'
import json, subprocess, sys
from pathlib import Path

read_table, work, corpus = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
passed, failed = 0, 0


def run(engine, table, *flags):
    cmd = [sys.executable, read_table, "--engine", engine, "--catalog-uri", f"sqlite:///{work}/catalog.db",
           "--catalog-name", "floe", "--warehouse", (work / "warehouse").as_uri(), "--table", table, *flags]
    return subprocess.run(cmd, capture_output=True, text=True)


def check(name, ok, detail):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def check_rows(name, proc, want):
    if proc.returncode != 0:
        return check(name, False, f"exit {proc.returncode}: {proc.stderr}")
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    diff = next(((g, w) for g, w in zip(got, want) if g != w), None)
    check(name, got == want, f"{len(got)} rows read, {len(want)} expected; first difference: {diff}")


def check_error(name, proc, code, message):
    check(name, proc.returncode == code and message in proc.stderr, f"exit {proc.returncode}: {proc.stderr}")


load = lambda p: [json.loads(line) for line in p.open()]
orders = load(corpus / "plain/expected.jsonl")
typed = load(corpus / "json_columns/expected_rows.jsonl")
for row in typed:
    row["created_at"] = row["created_at_ntz"] = row.pop("created_at_us")

proc = run("pyiceberg", "prod.orders", "--snapshots")
snaps = [json.loads(line) for line in proc.stdout.splitlines()]
check("snapshots.pyiceberg", proc.returncode == 0 and len(snaps) == 2
      and snaps[0]["parent_id"] is None and snaps[1]["parent_id"] == snaps[0]["snapshot_id"]
      and all(s["operation"] == "append" and "floe.offsets" in s["summary"] for s in snaps),
      f"exit {proc.returncode}: {snaps} {proc.stderr}")
# DuckDB exposes a subset of the snapshot fields: they must agree with PyIceberg's.
common = ("operation", "sequence_number", "snapshot_id", "timestamp_ms")
check_rows("snapshots.duckdb", run("duckdb", "prod.orders", "--snapshots"), [{k: s[k] for k in common} for s in snaps])

for engine in ("pyiceberg", "duckdb"):
    check_rows(f"orders.{engine}", run(engine, "prod.orders"), orders)
    check_rows(f"typed.{engine}", run(engine, "prod.typed", "--columns", "all"), typed)
    check_error(f"bad_ids.{engine}", run(engine, "prod.bad_ids"), 1, "record_id 'not-its-id' does not match")
    check_error(f"missing.{engine}", run(engine, "prod.missing"), 2, "table prod.missing not found in catalog floe")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
