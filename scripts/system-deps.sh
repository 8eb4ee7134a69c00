#!/usr/bin/env bash
# Debian packages the build and tests need: protoc, for etcd-client's
# generated code; tmux, to drive `floe console` in tests/tests/console.rs.
# Installs only what is missing, so repeated runs stay fast.
set -euo pipefail

missing=()
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v tmux >/dev/null || missing+=(tmux)
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null; then
        echo "missing ${missing[*]} and apt-get is not available: install them by hand" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
