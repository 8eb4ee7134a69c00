#!/usr/bin/env bash
# Builds floe and runs `floe demo`: sample segments become Iceberg tables in
# a local SQLite catalog and warehouse, with no external service.
# Arguments go to `floe demo` (e.g. --dir /tmp/floe-demo --records 20000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/system-deps.sh"
cargo build -p floe --locked
exec "$root/target/debug/floe" demo "$@"
