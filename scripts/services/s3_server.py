"""moto's S3 server (`python -m moto.server`) whose content outlives a restart.

moto keeps everything in memory, so a plain restart would bring back an empty
S3 and an outage test could not check that floe carries on where it was.
This runs moto.server.main unchanged, with the same flags, after loading the
S3 state saved by the previous run, and saves it again when it is stopped with
SIGTERM or SIGINT (a SIGKILL loses what changed since the last start).

Usage: python s3_server.py --state FILE -H 127.0.0.1 -p PORT
"""

import os
import pickle
import sys

import moto.server
from moto.s3.models import s3_backends


def load(path):
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        state = pickle.load(f)
    for account, partitions in state["backends"].items():
        for partition, backend in partitions.items():
            s3_backends[account][partition] = backend
    s3_backends.bucket_accounts.update(state["bucket_accounts"])
    print(f"s3_server: restored {len(state['bucket_accounts'])} bucket(s) from {path}", file=sys.stderr, flush=True)


def save(path):
    state = {
        "backends": {a: dict(s3_backends[a].items()) for a in list(s3_backends.keys())},
        "bucket_accounts": dict(s3_backends.bucket_accounts),
    }
    # Written aside and renamed, so a crash mid-write keeps the previous state.
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    print(f"s3_server: saved {len(state['bucket_accounts'])} bucket(s) to {path}", file=sys.stderr, flush=True)


def main():
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--state":
        sys.exit("usage: s3_server.py --state FILE [moto.server flags]")
    path, argv = argv[1], argv[2:]
    load(path)
    try:
        # moto.server turns SIGTERM and SIGINT into SystemExit, which lands here.
        moto.server.main(argv)
    finally:
        save(path)


if __name__ == "__main__":
    main()
