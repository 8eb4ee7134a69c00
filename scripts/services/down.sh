#!/usr/bin/env bash
# Stops every service scripts/services/up.sh started in STATE_DIR: each gets
# its graceful signal, then SIGKILL if it is still there after a while.
# Idempotent, and quiet about services that are not running; the data and
# logs stay in STATE_DIR (the caller removes the directory).
# Usage: scripts/services/down.sh STATE_DIR
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
STATE="$(cd "$1" && pwd)"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The catalog first, so it does not log errors for the store going away;
# s3 gets longer, since it writes its buckets to disk on the way out.
stop_service rest 20
stop_service s3 60
stop_service pg 20
stop_service etcd 20
