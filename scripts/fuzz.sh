#!/usr/bin/env bash
# Fuzzes the segment reader (kfs/fuzz, target segment_reader).
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
# Exits non-zero when the fuzzer finds a crash; the input is left in
# kfs/fuzz/artifacts/segment_reader/.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz needs nightly compiler flags: use a nightly toolchain when there
# is one, otherwise unlock them on the pinned stable toolchain.
toolchain=()
if rustup toolchain list | grep -q nightly; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

cd "$root/kfs"
corpus=fuzz/corpus/segment_reader
mkdir -p "$corpus"
# The conformance corpus seeds the run (libFuzzer writes only to the first
# directory, so it is read, never changed).
seeds=()
if [ -d "$root/../shared/corpus" ]; then
    seeds+=("$root/../shared/corpus")
fi

cargo "${toolchain[@]}" fuzz run segment_reader "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512
