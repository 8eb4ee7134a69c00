#!/usr/bin/env bash
# The whole test suite, from a fresh machine: it installs what it needs
# (Debian packages, Rust components, the Python readers, the test services,
# cargo-fuzz), then runs formatting and lint checks, every unit and
# end-to-end test (the cluster tests against etcd, an S3 server, PostgreSQL
# and an Iceberg REST catalog started on 127.0.0.1), and a short fuzz run.
#   FLOE_FUZZ_SECONDS  fuzzing time (default 60; 0 skips it)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

if [ ! -d "$root/../shared/corpus" ]; then
    echo "the conformance corpus is missing: expected $root/../shared/corpus beside the repository" >&2
    exit 1
fi

step "System packages"
"$root/scripts/system-deps.sh"

step "Rust toolchain"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
cargo --version

step "Python readers (PyIceberg, DuckDB)"
export FLOE_PYTHON
FLOE_PYTHON="$("$root/scripts/python-env.sh" | tail -n 1)"

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Helm chart"
"$root/scripts/chart-check.sh"

step "Build"
cargo build -p floe --locked
export FLOE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/floe"

step "Services (etcd, S3, PostgreSQL, Iceberg REST catalog) on 127.0.0.1"
services="$(mktemp -d /tmp/floe-services.XXXXXX)"
trap '"$root/scripts/services/down.sh" "$services"' EXIT
"$root/scripts/services/up.sh" "$services"
# shellcheck disable=SC1091
source "$services/env"
# A cluster test that finds no service fails instead of skipping.
export FLOE_REQUIRE_SERVICES=1

step "Tests"
cargo test --workspace --locked

step "Python reader self-test"
"$root/tests/py/selftest.sh"

seconds="${FLOE_FUZZ_SECONDS:-60}"
if [ "$seconds" != "0" ]; then
    step "Fuzzing the segment reader for ${seconds}s"
    "$root/scripts/fuzz.sh" "$seconds"
fi

step "All checks passed"
