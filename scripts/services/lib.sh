# Shared by up.sh, down.sh and ctl.sh: how each test service is installed,
# started, probed and stopped. Sourced, not run. Expects STATE (absolute
# state directory) to be set; start/stop also need STATE/settings sourced.
#
# Layout of STATE:
#   settings        ports and secrets chosen by up.sh (sourceable, mode 600)
#   env             what tests source: FLOE_TEST_* and AWS_* exports
#   NAME.pid        pid of a running service (its own session and group)
#   NAME.log        its output
#   etcd/ s3/ pg/ rest/   each service's data

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SERVICES_DIR/../.." && pwd)"
ALL_SERVICES=(etcd s3 pg rest)
# Pinned: the catalog these scripts were written and checked against.
RUSTBERG_VERSION=0.3.0

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- installs --

apt_install() {
    # apt-cache lookups and installs need a package list; refresh it once.
    if [ -z "${_apt_updated:-}" ]; then
        apt-get update -qq >&2
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_etcd() {
    command -v etcd >/dev/null && command -v etcdctl >/dev/null && return 0
    log "installing etcd-server and etcd-client from Debian"
    apt_install etcd-server etcd-client
    # Where an init system runs, the package starts and enables a system etcd
    # on 2379. Ours runs on its own ports and data dir, but a stray system
    # instance would still confuse anyone probing the default port: stop it.
    if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
        log "stopping and disabling the system etcd the install started"
        systemctl stop etcd || true
        systemctl disable etcd >/dev/null 2>&1 || true
    fi
}

pg_bin() {
    local v
    v="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$v" ] && [ -x "/usr/lib/postgresql/$v/bin/postgres" ] || return 1
    echo "/usr/lib/postgresql/$v/bin"
}

ensure_pg() {
    if pg_bin >/dev/null && command -v psql >/dev/null; then
        return 0
    fi
    log "installing postgresql from Debian"
    apt_install postgresql
    # The package creates and may start a system cluster on 5432. Ours is a
    # separate cluster on a free port, but stop that one so it holds no
    # memory or port the tests might expect to be free.
    if command -v pg_lsclusters >/dev/null; then
        { pg_lsclusters --no-header 2>/dev/null || true; } | while read -r ver name _port status _rest; do
            if [ "$status" = online ]; then
                log "stopping the system PostgreSQL cluster $ver/$name the install started"
                pg_ctlcluster "$ver" "$name" stop || true
            fi
        done
    fi
    if command -v systemctl >/dev/null && systemctl is-enabled --quiet postgresql 2>/dev/null; then
        systemctl disable postgresql >/dev/null 2>&1 || true
    fi
    pg_bin >/dev/null || die "postgresql installed but no /usr/lib/postgresql/*/bin/postgres found"
}

# The project venv (scripts/python-env.sh) plus this directory's
# requirements (moto); sets PY. Re-installs only when requirements change.
ensure_python() {
    PY="$("$REPO/scripts/python-env.sh" | tail -n 1)"
    local reqs="$SERVICES_DIR/requirements.txt" stamp want
    stamp="$(dirname "$(dirname "$PY")")/.services-requirements.sha256"
    want="$(sha256sum "$reqs" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing $reqs into the project venv"
        "$PY" -m pip install --quiet --disable-pip-version-check -r "$reqs" >&2
        echo "$want" >"$stamp"
    fi
}

rustberg_bin() {
    if command -v rustberg >/dev/null; then
        command -v rustberg
    elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/rustberg" ]; then
        echo "${CARGO_HOME:-$HOME/.cargo}/bin/rustberg"
    else
        return 1
    fi
}

ensure_rustberg() {
    rustberg_bin >/dev/null && return 0
    log "installing rustberg $RUSTBERG_VERSION with cargo (a test server: optimized lightly, several minutes on 2 cores)"
    # From the repository, so its pinned toolchain (rust-toolchain.toml)
    # builds it: rustberg needs Rust 1.94.1 or newer. Its release profile
    # (full LTO, one codegen unit) takes 25 minutes here; a test catalog
    # needs none of that, so the profile is overridden.
    (cd "$REPO" && CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        cargo install rustberg --version "$RUSTBERG_VERSION" --locked >&2)
    rustberg_bin >/dev/null || die "cargo install rustberg finished but no rustberg binary was found"
}

# ----------------------------------------------------------------- helpers --

# Prints N distinct free TCP ports on 127.0.0.1. All are held open until all
# are picked, so one call never returns the same port twice.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# 0 when URL answers with a 2xx status within 2 seconds.
http_ok() {
    python3 - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
EOF
}

pid_of() { cat "$STATE/$1.pid" 2>/dev/null || true; }

# A zombie counts as dead: a killed child of this shell stays one until reaped.
alive() {
    local pid="$1" state
    [ -n "$pid" ] || return 1
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# What a service's command line must contain: a recorded pid that was reused
# by an unrelated process after a reboot or a long pause is never signalled.
cmd_pattern() {
    case "$1" in
        etcd) echo "etcd" ;;
        s3) echo "s3_server.py" ;;
        pg) echo "postgres" ;;
        rest) echo "rustberg" ;;
    esac
}

# The recorded pid of SERVICE when that process is alive and is the service
# (every service's command line names a path in STATE).
running_pid() {
    local pid cmd
    pid="$(pid_of "$1")"
    alive "$pid" || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    case "$cmd" in
        *"$(cmd_pattern "$1")"*"$STATE/"*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

# launch NAME CMD...: runs CMD detached, in its own session (so a Ctrl-C or
# a SIGHUP sent to the test's terminal does not reach it, and its whole
# process group can be killed), with no tie to our stdin/stdout (so
# `$(up.sh ...)` returns), appending to NAME.log.
launch() {
    local name="$1"
    shift
    printf '\n==== %s: %s\n' "$(date -Is)" "$*" >>"$STATE/$name.log"
    # Without job control a background child never leads a process group,
    # so setsid execs in place and $! is the service's own pid.
    setsid "$@" </dev/null >>"$STATE/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
}

# wait_until NAME SECONDS PROBE...: polls PROBE until it succeeds; fails,
# showing the log's tail, when the service exits or the time runs out.
wait_until() {
    local name="$1" secs="$2" deadline
    shift 2
    deadline=$(($(date +%s) + secs))
    until "$@" >/dev/null 2>&1; do
        if ! running_pid "$name" >/dev/null; then
            log "$name exited during start-up; last lines of $STATE/$name.log:"
            tail -n 30 "$STATE/$name.log" >&2
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "$name did not answer within ${secs}s; last lines of $STATE/$name.log:"
            tail -n 30 "$STATE/$name.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# -------------------------------------------------------------- start/stop --

probe() {
    case "$1" in
        etcd) http_ok "http://127.0.0.1:$ETCD_PORT/health" ;;
        # moto answers ListBuckets without checking the signature.
        s3) http_ok "http://127.0.0.1:$S3_PORT/" ;;
        pg) "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" ;;
        # /ready checks the catalog store, not just that the process is up.
        rest) http_ok "http://127.0.0.1:$REST_PORT/ready" ;;
    esac
}

start_etcd() {
    mkdir -p "$STATE/etcd"
    # With an existing data dir etcd ignores the --initial-* flags and
    # rejoins its one-member cluster, so the same line restarts it.
    launch etcd etcd \
        --name floe-test \
        --data-dir "$STATE/etcd/data" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "floe-test=http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster-state new \
        --initial-cluster-token "floe-test-$ETCD_PORT"
    wait_until etcd 30 probe etcd
}

start_s3() {
    mkdir -p "$STATE/s3"
    # moto.server's own command line, wrapped so that the buckets survive a
    # ctl.sh stop/start (see s3_server.py). Unbuffered: tests read its
    # request log to see which bucket served what.
    launch s3 "$PY" -u "$SERVICES_DIR/s3_server.py" --state "$STATE/s3/state.pickle" \
        -H 127.0.0.1 -p "$S3_PORT"
    wait_until s3 60 probe s3
}

# initdb, on first start only.
init_pg() {
    local bin="$1" data="$STATE/pg/data"
    [ -f "$data/PG_VERSION" ] && return 0
    mkdir -p "$STATE/pg"
    chown postgres:postgres "$STATE/pg"
    chmod 700 "$STATE/pg"
    # initdb and postgres refuse to run as root and need to reach the data
    # dir as postgres: a mktemp -d STATE is 0700 root, so let others traverse
    # it (not list or read it).
    if ! setpriv --reuid=postgres --regid=postgres --init-groups test -x "$STATE/pg"; then
        chmod o+x "$STATE"
        setpriv --reuid=postgres --regid=postgres --init-groups test -x "$STATE/pg" ||
            die "the postgres user cannot reach $STATE/pg: a parent directory is not searchable by others"
    fi
    (umask 077 && printf '%s\n' "$PG_PASSWORD" >"$STATE/pg/pwfile")
    chown postgres:postgres "$STATE/pg/pwfile"
    setpriv --reuid=postgres --regid=postgres --init-groups \
        "$bin/initdb" -D "$data" -U postgres --pwfile="$STATE/pg/pwfile" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
        >>"$STATE/pg.log" 2>&1 || {
        tail -n 20 "$STATE/pg.log" >&2
        die "initdb failed"
    }
    rm -f "$STATE/pg/pwfile"
    # TCP on 127.0.0.1 only, with passwords; scram everywhere, no trust.
    printf 'host all all 127.0.0.1/32 scram-sha-256\n' >"$data/pg_hba.conf"
    chown postgres:postgres "$data/pg_hba.conf"
}

start_pg() {
    local bin
    bin="$(pg_bin)"
    init_pg "$bin"
    # No Unix socket (its path would have to fit in 107 bytes); fsync off
    # because test data need not survive a machine crash.
    launch pg setpriv --reuid=postgres --regid=postgres --init-groups \
        "$bin/postgres" -D "$STATE/pg/data" \
        -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories= \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=200
    wait_until pg 60 probe pg
    # The tests' role and database. Idempotent, so a start after an
    # interrupted first start completes them.
    PGPASSWORD="$PG_PASSWORD" psql -q -X -v ON_ERROR_STOP=1 \
        "postgresql://postgres@127.0.0.1:$PG_PORT/postgres" >>"$STATE/pg.log" 2>&1 <<SQL || {
SELECT 'CREATE ROLE floe LOGIN CREATEDB PASSWORD ' || quote_literal('$PG_PASSWORD')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'floe') \gexec
SELECT 'CREATE DATABASE floe OWNER floe'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'floe') \gexec
SQL
        tail -n 20 "$STATE/pg.log" >&2
        die "could not create the floe role and database"
    }
}

write_rustberg_config() {
    mkdir -p "$STATE/rest/catalog"
    cat >"$STATE/rest/rustberg.toml" <<EOF
# Written by scripts/services/up.sh.
[server]
host = "127.0.0.1"
port = $REST_PORT

[server.auth]
api_key_enabled = true

# One admin key for the tests; its secret is read from this variable.
[[server.auth.api_keys]]
name = "floe-tests"
tenant = "default"
roles = ["admin"]
key_env = "FLOE_TEST_REST_TOKEN"

[storage]
# The catalog's own state: an embedded redb file that survives a restart.
catalog_url = "file://$STATE/rest/catalog"
warehouse_location = "$REST_WAREHOUSE"
# Tests may place tables anywhere in the warehouse, not only at
# <warehouse>/<namespace>/<table>.
location_scope = "warehouse"

# rustberg writes table metadata itself, so it needs the moto endpoint.
[storage.properties]
"s3.endpoint" = "http://127.0.0.1:$S3_PORT"
"s3.access-key-id" = "$AWS_KEY"
"s3.secret-access-key" = "$AWS_SECRET"
"s3.region" = "us-east-1"
"s3.path-style-access" = "true"

# Tests make bursts of requests from one address and may present bad tokens
# on purpose: neither must lock them out.
[rate_limit]
enabled = false
track_auth_failures = false

[audit]
sink = "file"
path = "$STATE/rest/audit.jsonl"

# One line per request, not three.
[logging]
level = "info"
with_span_events = false
EOF
}

start_rest() {
    local bin
    bin="$(rustberg_bin)"
    write_rustberg_config
    # Plain HTTP: without --insecure-http rustberg serves HTTPS with a
    # self-signed certificate.
    # NO_COLOR keeps ANSI escapes out of rest.log.
    FLOE_TEST_REST_TOKEN="$REST_TOKEN" NO_COLOR=1 launch rest "$bin" \
        --config "$STATE/rest/rustberg.toml" --insecure-http
    wait_until rest 60 probe rest
}

start_service() {
    local name="$1"
    if running_pid "$name" >/dev/null; then
        log "$name is already running (pid $(pid_of "$name"))"
        return 0
    fi
    "start_$name"
}

# stop_service NAME [SECONDS]: the service's graceful signal, then SIGKILL to
# its whole process group after SECONDS. Quiet and successful when it is not
# running.
stop_service() {
    local name="$1" secs="${2:-20}" pid sig=TERM deadline
    if ! pid="$(running_pid "$name")"; then
        rm -f "$STATE/$name.pid"
        return 0
    fi
    # postgres treats SIGTERM as "wait for every client to leave"; SIGINT is
    # its fast shutdown.
    [ "$name" = pg ] && sig=INT
    # A paused (ctl.sh pause) process cannot act on a signal until resumed.
    kill -CONT -- "-$pid" 2>/dev/null || kill -CONT "$pid" 2>/dev/null || true
    kill -"$sig" "$pid" 2>/dev/null || true
    deadline=$(($(date +%s) + secs))
    while alive "$pid"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "$name (pid $pid) ignored SIG$sig for ${secs}s; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    # Anything left in its group (postgres backends after a SIGKILL).
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$STATE/$name.pid"
}
