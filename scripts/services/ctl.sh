#!/usr/bin/env bash
# Stops or starts one service of a running scripts/services/up.sh STATE_DIR,
# for outage tests. A restarted service comes back on the same port with the
# same data (etcd's and postgres's data dirs, rustberg's catalog file, and
# the S3 buckets, which moto saves on stop).
#   stop     graceful stop: connections are refused until start
#   start    start again and wait until it answers
#   restart  stop, then start
#   pause    SIGSTOP: the port stays open but nothing answers (timeouts)
#   resume   SIGCONT after pause
#   status   exit 0 when running (prints the pid), 1 when not
# Usage: scripts/services/ctl.sh STATE_DIR stop|start|restart|pause|resume|status etcd|s3|pg|rest
set -euo pipefail

usage() {
    echo "usage: $0 STATE_DIR stop|start|restart|pause|resume|status etcd|s3|pg|rest" >&2
    exit 2
}
[ $# -eq 3 ] || usage
[ -f "$1/settings" ] || { echo "$1 has no settings: run scripts/services/up.sh $1 first" >&2; exit 1; }
STATE="$(cd "$1" && pwd)"
action="$2"
name="$3"
case "$name" in etcd | s3 | pg | rest) ;; *) usage ;; esac
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$STATE/settings"

# Only s3 needs the venv's python to start.
start() {
    if [ "$name" = s3 ]; then ensure_python; fi
    start_service "$name"
}

case "$action" in
    stop) stop_service "$name" 60 ;;
    start) start ;;
    restart)
        stop_service "$name" 60
        start
        ;;
    pause | resume)
        pid="$(running_pid "$name")" || die "$name is not running"
        sig=STOP
        [ "$action" = resume ] && sig=CONT
        # The whole group: postgres serves each connection from a child.
        kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid"
        ;;
    status) running_pid "$name" ;;
    *) usage ;;
esac
