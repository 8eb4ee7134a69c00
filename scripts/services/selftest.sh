#!/usr/bin/env bash
# Proves the test services work: starts them with up.sh in a temporary
# directory, checks each one as a client would (S3 calls floe makes, an etcd
# put/get, a PostgreSQL query, a PyIceberg round trip through the REST
# catalog), stops and restarts each with ctl.sh and checks it answers again
# with its data, then stops everything with down.sh.
# Exits non-zero with a message naming the failed step; the state directory,
# with every service's log, is then kept for inspection.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="$(mktemp -d /tmp/floe-services.XXXXXX)"
ok=

finish() {
    "$here/down.sh" "$dir" || true
    if [ -n "$ok" ]; then
        rm -rf "$dir"
    else
        echo "selftest FAILED; logs kept in $dir" >&2
    fi
}
trap finish EXIT

step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "selftest: FAIL: $*" >&2
    exit 1
}

step "up.sh $dir"
start=$(date +%s)
"$here/up.sh" "$dir" >/dev/null || fail "up.sh did not start the services"
echo "started in $(($(date +%s) - start))s"
# shellcheck disable=SC1091
. "$dir/env"
grep '^export' "$dir/env" | sed -E 's/(PASSWORD|SECRET[A-Z_]*|TOKEN)=.*/\1=.../; s/:[^:@]*@/:...@/'

py="$("$root/scripts/python-env.sh" | tail -n 1)"
export ETCDCTL_API=3
etcdc() { etcdctl --endpoints="$FLOE_TEST_ETCD" --dial-timeout=2s --command-timeout=3s "$@"; }
pg() { psql -X -q -At -v ON_ERROR_STOP=1 "$FLOE_TEST_PG" -c "$1"; }
s3() {
    "$py" - "$@" <<'EOF'
import os, sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["FLOE_TEST_S3"],
                  config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
op, key = sys.argv[1], sys.argv[2]
bucket = os.environ["FLOE_TEST_S3_BUCKET"]
if op == "put":
    s3.put_object(Bucket=bucket, Key=key, Body=sys.argv[3].encode())
else:
    print(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
EOF
}
rest_namespaces() {
    "$py" - <<'EOF'
import os
from pyiceberg.catalog import load_catalog
c = load_catalog("t", type="rest", uri=os.environ["FLOE_TEST_REST"], token=os.environ["FLOE_TEST_REST_TOKEN"])
print(" ".join(".".join(n) for n in c.list_namespaces()))
EOF
}
rest_create_namespace() {
    "$py" - "$1" <<'EOF'
import os, sys
from pyiceberg.catalog import load_catalog
c = load_catalog("t", type="rest", uri=os.environ["FLOE_TEST_REST"], token=os.environ["FLOE_TEST_REST_TOKEN"])
c.create_namespace(sys.argv[1])
EOF
}

step "up.sh again on the running directory starts nothing new"
pids_before="$(cat "$dir"/*.pid)"
"$here/up.sh" "$dir" >/dev/null 2>&1 || fail "a second up.sh on a running directory failed"
[ "$(cat "$dir"/*.pid)" = "$pids_before" ] || fail "a second up.sh restarted services"

step "S3: listing, ranges, HEAD, multipart, checksums (check_s3.py)"
"$py" "$here/check_s3.py" || fail "the S3 server failed check_s3.py"

step "etcd: put/get with etcdctl"
etcdc put /floe-selftest/key hello >/dev/null || fail "etcdctl put to $FLOE_TEST_ETCD"
[ "$(etcdc get --print-value-only /floe-selftest/key)" = hello ] || fail "etcdctl get did not return the value put"
echo ok

step "PostgreSQL: select 1 through FLOE_TEST_PG"
[ "$(pg 'select 1')" = 1 ] || fail "select 1 through FLOE_TEST_PG"
pg "create table selftest (v text); insert into selftest values ('kept')" || fail "create a table in FLOE_TEST_PG"
echo ok

step "REST catalog: PyIceberg round trip with data on S3 (check_rest.py)"
"$py" "$here/check_rest.py" || fail "the REST catalog failed check_rest.py"

step "outages: stop, check it is down, start, check it answers with its data"
s3 put selftest/kept.txt kept || fail "S3 put before the restart"
rest_create_namespace selftest_kept || fail "REST create namespace before the restart"

"$here/ctl.sh" "$dir" stop etcd
etcdc get /floe-selftest/key >/dev/null 2>&1 && fail "etcd still answers after ctl.sh stop etcd"
"$here/ctl.sh" "$dir" start etcd || fail "ctl.sh start etcd"
[ "$(etcdc get --print-value-only /floe-selftest/key)" = hello ] || fail "etcd lost its data over a restart"
echo "etcd: ok"

"$here/ctl.sh" "$dir" stop s3
s3 get selftest/kept.txt >/dev/null 2>&1 && fail "S3 still answers after ctl.sh stop s3"
"$here/ctl.sh" "$dir" start s3 || fail "ctl.sh start s3"
[ "$(s3 get selftest/kept.txt)" = kept ] || fail "S3 lost an object over a restart"
echo "s3: ok"

"$here/ctl.sh" "$dir" stop pg
pg 'select 1' >/dev/null 2>&1 && fail "PostgreSQL still answers after ctl.sh stop pg"
"$here/ctl.sh" "$dir" start pg || fail "ctl.sh start pg"
[ "$(pg 'select v from selftest')" = kept ] || fail "PostgreSQL lost a row over a restart"
echo "pg: ok"

"$here/ctl.sh" "$dir" stop rest
rest_namespaces >/dev/null 2>&1 && fail "the REST catalog still answers after ctl.sh stop rest"
"$here/ctl.sh" "$dir" start rest || fail "ctl.sh start rest"
case " $(rest_namespaces) " in
    *" selftest_kept "*) ;;
    *) fail "the REST catalog lost a namespace over a restart" ;;
esac
echo "rest: ok"

# The catalog writes to S3 again after both were restarted.
"$py" "$here/check_rest.py" || fail "the REST round trip after the restarts"

step "pause/resume: a paused service times out, a resumed one answers"
"$here/ctl.sh" "$dir" pause etcd
etcdc get /floe-selftest/key >/dev/null 2>&1 && fail "etcd answered while paused"
"$here/ctl.sh" "$dir" resume etcd
[ "$(etcdc get --print-value-only /floe-selftest/key)" = hello ] || fail "etcd did not answer after resume"
echo ok

step "down.sh stops everything, and is idempotent"
pids="$(cat "$dir"/*.pid)"
"$here/down.sh" "$dir" || fail "down.sh"
for pid in $pids; do
    if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
        fail "process $pid is still running after down.sh"
    fi
done
for port in "${FLOE_TEST_ETCD##*:}" "${FLOE_TEST_S3##*:}" "${FLOE_TEST_REST##*:}"; do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$port" 2>/dev/null &&
        fail "port $port still accepts connections after down.sh"
done
"$here/down.sh" "$dir" || fail "a second down.sh"
echo ok

ok=1
echo
echo "selftest: all services passed"
