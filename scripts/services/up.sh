#!/usr/bin/env bash
# Starts the services the end-to-end tests run against, on free ports of
# 127.0.0.1, with their data under STATE_DIR, and waits until each answers:
#   etcd         Debian's etcd-server
#   s3           moto's S3 server, from the project venv
#   pg           a private PostgreSQL cluster (Debian's postgresql)
#   rest         the rustberg Iceberg REST catalog, its warehouse on s3
# Installs whatever is missing first (rustberg: a ~25 minute cargo install).
# Then writes STATE_DIR/env, a file of `export NAME=value` lines for tests to
# source (FLOE_TEST_ETCD, FLOE_TEST_S3, AWS_*, FLOE_TEST_PG, FLOE_TEST_REST,
# ...), and prints its path on the last line.
#
# Usage: scripts/services/up.sh STATE_DIR
# Stop with scripts/services/down.sh STATE_DIR; a test script would do
#   dir="$(mktemp -d)"; trap 'scripts/services/down.sh "$dir"' EXIT
#   scripts/services/up.sh "$dir"; . "$dir/env"
# When up.sh fails it stops what it started itself, so a down.sh afterwards
# finds nothing left to do. Calling it again on a running STATE_DIR starts
# only what is not running, on the same ports.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
mkdir -p "$1"
STATE="$(cd "$1" && pwd)"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started=()
cleanup_on_failure() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ ${#started[@]} -gt 0 ]; then
        log "start-up failed; stopping what this run started: ${started[*]}"
        for s in "${started[@]}"; do stop_service "$s" 10 || true; done
    fi
}
trap cleanup_on_failure EXIT
# An interrupted start-up is a failed one.
trap 'exit 130' INT TERM HUP

ensure_etcd
ensure_pg
ensure_python
ensure_rustberg

# Ports and secrets are chosen once per STATE_DIR, so ctl.sh restarts a
# service where the tests expect it.
if [ ! -f "$STATE/settings" ]; then
    read -r p1 p2 p3 p4 p5 < <(free_ports 5)
    secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
    (
        umask 077
        cat >"$STATE/settings" <<EOF
ETCD_PORT=$p1
ETCD_PEER_PORT=$p2
S3_PORT=$p3
PG_PORT=$p4
REST_PORT=$p5
AWS_KEY=floe-test
AWS_SECRET=$(secret)
PG_PASSWORD=$(secret)
REST_TOKEN=rb_$(secret)
REST_BUCKET=warehouse
REST_WAREHOUSE=s3://warehouse/rest
EOF
    )
fi
. "$STATE/settings"

for s in "${ALL_SERVICES[@]}"; do
    if running_pid "$s" >/dev/null; then
        log "$s already running (pid $(pid_of "$s"))"
        continue
    fi
    started+=("$s")
    log "starting $s"
    "start_$s"
    if [ "$s" = s3 ]; then
        # rustberg writes table metadata into this bucket, so it must exist
        # before the catalog serves a request.
        AWS_ACCESS_KEY_ID="$AWS_KEY" AWS_SECRET_ACCESS_KEY="$AWS_SECRET" "$PY" - \
            "http://127.0.0.1:$S3_PORT" "$REST_BUCKET" <<'EOF'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
try:
    s3.create_bucket(Bucket=sys.argv[2])
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
EOF
    fi
done

cat >"$STATE/env.tmp" <<EOF
# Written by scripts/services/up.sh; stop with scripts/services/down.sh $STATE
export FLOE_TEST_SERVICES=$(printf %q "$STATE")
export FLOE_TEST_ETCD=http://127.0.0.1:$ETCD_PORT
export ETCDCTL_API=3
export FLOE_TEST_S3=http://127.0.0.1:$S3_PORT
export FLOE_TEST_S3_BUCKET=$REST_BUCKET
export AWS_ACCESS_KEY_ID=$AWS_KEY
export AWS_SECRET_ACCESS_KEY=$AWS_SECRET
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export FLOE_TEST_PG=postgresql://floe:$PG_PASSWORD@127.0.0.1:$PG_PORT/floe
export FLOE_TEST_PG_ADMIN=postgresql://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres
export FLOE_TEST_REST=http://127.0.0.1:$REST_PORT
export FLOE_TEST_REST_TOKEN=$REST_TOKEN
export FLOE_TEST_REST_WAREHOUSE=$REST_WAREHOUSE
EOF
mv "$STATE/env.tmp" "$STATE/env"
log "all services answer; environment in $STATE/env"
echo "$STATE/env"
