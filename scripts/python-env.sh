#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv used by the end-to-end tests to
# read floe's Iceberg tables back with PyIceberg and DuckDB.
# Idempotent: packages are (re)installed only when the venv is new or
# tests/py/requirements.txt changed since the last successful install.
# Prints the venv's python path on its last line.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
REQS="$REPO/tests/py/requirements.txt"
STAMP="$VENV/.requirements.sha256"

make_venv() {
    rm -rf "$VENV"
    python3 -m venv "$VENV"
}

if [ ! -x "$VENV/bin/python" ]; then
    # Debian ships the venv module (ensurepip) separately: install it only
    # when creating a venv actually fails for that reason.
    if ! make_venv 2>/dev/null; then
        if ! command -v apt-get >/dev/null; then
            echo "python3 -m venv failed and apt-get is not available to install python3-venv" >&2
            exit 1
        fi
        echo "python3 -m venv failed; installing python3-venv" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
        make_venv
    fi
fi

want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" >&2
    echo "$want" > "$STAMP"
fi

echo "$VENV/bin/python"
