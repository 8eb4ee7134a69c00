"""Checks that the S3 server in FLOE_TEST_S3 supports the calls floe makes.

Run with the project venv's python after sourcing STATE_DIR/env (up.sh).
Exits non-zero, naming the failed check, when the server misbehaves.
"""

import binascii
import base64
import http.client
import os
import sys
import uuid
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["FLOE_TEST_S3"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def expect(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def check_listing(s3, bucket):
    keys = ["seg/a/00.log", "seg/a/01.log", "seg/a/02.log", "seg/b/00.log", "seg/c.txt", "top.txt"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())

    # StartAfter without a delimiter: strictly after, in key order.
    r = s3.list_objects_v2(Bucket=bucket, Prefix="seg/a/", StartAfter="seg/a/00.log")
    expect("StartAfter keys", [o["Key"] for o in r.get("Contents", [])], ["seg/a/01.log", "seg/a/02.log"])

    # Delimiter groups the sub-"directories" into CommonPrefixes.
    r = s3.list_objects_v2(Bucket=bucket, Prefix="seg/", Delimiter="/")
    expect("Delimiter keys", [o["Key"] for o in r.get("Contents", [])], ["seg/c.txt"])
    expect("Delimiter prefixes", [p["Prefix"] for p in r.get("CommonPrefixes", [])], ["seg/a/", "seg/b/"])

    # Both together: StartAfter inside a common prefix skips that prefix's
    # earlier keys but still reports later prefixes.
    r = s3.list_objects_v2(Bucket=bucket, Prefix="seg/", Delimiter="/", StartAfter="seg/a/zz")
    expect("StartAfter+Delimiter keys", [o["Key"] for o in r.get("Contents", [])], ["seg/c.txt"])
    expect("StartAfter+Delimiter prefixes", [p["Prefix"] for p in r.get("CommonPrefixes", [])], ["seg/b/"])

    # Pagination with continuation tokens.
    seen, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": "seg/", "MaxKeys": 2}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        seen += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            break
        token = r["NextContinuationToken"]
    expect("paginated keys", seen, sorted(k for k in keys if k.startswith("seg/")))


def check_ranges_and_head(s3, bucket):
    body = bytes(range(256)) * 64  # 16 KiB
    s3.put_object(Bucket=bucket, Key="ranged.bin", Body=body)

    r = s3.get_object(Bucket=bucket, Key="ranged.bin", Range="bytes=100-299")
    expect("ranged GET status", r["ResponseMetadata"]["HTTPStatusCode"], 206)
    expect("ranged GET body", r["Body"].read(), body[100:300])
    expect("ranged GET Content-Range", r["ContentRange"], f"bytes 100-299/{len(body)}")

    # A range past the end is cut at the end of the object.
    r = s3.get_object(Bucket=bucket, Key="ranged.bin", Range=f"bytes={len(body) - 10}-{len(body) + 100}")
    expect("ranged GET past the end", r["Body"].read(), body[-10:])

    h = s3.head_object(Bucket=bucket, Key="ranged.bin")
    expect("HeadObject ContentLength", h["ContentLength"], len(body))
    try:
        s3.head_object(Bucket=bucket, Key="missing.bin")
        raise AssertionError("HeadObject on a missing key did not fail")
    except ClientError as e:
        expect("HeadObject missing status", e.response["ResponseMetadata"]["HTTPStatusCode"], 404)


def check_multipart(s3, bucket):
    part1 = os.urandom(5 * MIB)  # every part but the last must be >= 5 MiB
    part2 = os.urandom(MIB // 3)
    up = s3.create_multipart_upload(Bucket=bucket, Key="multi.bin")
    parts = []
    for n, data in ((1, part1), (2, part2)):
        r = s3.upload_part(Bucket=bucket, Key="multi.bin", UploadId=up["UploadId"], PartNumber=n, Body=data)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    listed = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    expect("in-progress uploads", [u["UploadId"] for u in listed], [up["UploadId"]])
    s3.complete_multipart_upload(
        Bucket=bucket, Key="multi.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    h = s3.head_object(Bucket=bucket, Key="multi.bin")
    expect("multipart size", h["ContentLength"], len(part1) + len(part2))
    if not h["ETag"].strip('"').endswith("-2"):
        raise AssertionError(f"multipart ETag {h['ETag']} is not of the form md5-2")
    r = s3.get_object(Bucket=bucket, Key="multi.bin", Range=f"bytes={len(part1) - 4}-{len(part1) + 3}")
    expect("multipart ranged read across the part boundary", r["Body"].read(), part1[-4:] + part2[:4])

    # An aborted upload leaves nothing behind.
    up = s3.create_multipart_upload(Bucket=bucket, Key="aborted.bin")
    s3.upload_part(Bucket=bucket, Key="aborted.bin", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted.bin", UploadId=up["UploadId"])
    expect("uploads after abort", s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []), [])


def check_checksums(s3, bucket):
    # What recent AWS SDKs (Rust aws-sdk-s3 included) send by default: a CRC32
    # checksum, in a header for a known body...
    s3.put_object(Bucket=bucket, Key="crc-header.bin", Body=b"hello crc", ChecksumAlgorithm="CRC32")
    r = s3.get_object(Bucket=bucket, Key="crc-header.bin")
    expect("CRC32 header PUT body", r["Body"].read(), b"hello crc")

    # ...or, for a streamed body, in an aws-chunked trailer, unsigned or with
    # chunk signatures. Sent raw, so the check does not depend on what this
    # boto3 version chooses to do over plain HTTP.
    for signed in (False, True):
        data = os.urandom(70000)
        key = f"chunked-{'signed' if signed else 'unsigned'}.bin"
        put_aws_chunked(f"/{bucket}/{key}", data, signed)
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if got != data:
            raise AssertionError(
                f"aws-chunked PUT (signed={signed}) stored {len(got)} bytes that differ from the "
                f"{len(data)} sent (the chunk framing was not decoded)"
            )
        # The trailer's checksum is kept and returned on request.
        r = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        expect(f"stored CRC32 (signed={signed})", r.get("ChecksumCRC32"), crc32_b64(data))

    # UploadPart takes the same encoding.
    up = s3.create_multipart_upload(Bucket=bucket, Key="chunked-multi.bin")
    data = os.urandom(100000)
    etag = put_aws_chunked(f"/{bucket}/chunked-multi.bin?partNumber=1&uploadId={up['UploadId']}", data, False)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="chunked-multi.bin",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    expect("aws-chunked UploadPart body", s3.get_object(Bucket=bucket, Key="chunked-multi.bin")["Body"].read(), data)


def crc32_b64(data):
    return base64.b64encode(binascii.crc32(data).to_bytes(4, "big")).decode()


def put_aws_chunked(path, data, signed):
    """PUTs data the way an AWS SDK streams it: aws-chunked framing with a
    CRC32 trailer. Returns the ETag."""
    ext = ";chunk-signature=" + "0" * 64 if signed else ""
    body = b""
    for i in range(0, len(data), 65536):
        piece = data[i : i + 65536]
        body += f"{len(piece):x}{ext}\r\n".encode() + piece + b"\r\n"
    body += f"0{ext}\r\nx-amz-checksum-crc32:{crc32_b64(data)}\r\n\r\n".encode()
    sha = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if signed else "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    url = urlparse(os.environ["FLOE_TEST_S3"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request(
        "PUT",
        path,
        body=body,
        headers={
            "Content-Encoding": "aws-chunked",
            "Content-Length": str(len(body)),
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-content-sha256": sha,
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-sdk-checksum-algorithm": "CRC32",
            # moto does not verify signatures; any well-formed header will do.
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64,
        },
    )
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    if resp.status != 200:
        raise AssertionError(f"aws-chunked PUT {path}: HTTP {resp.status}: {text[:300]!r}")
    return resp.getheader("ETag")


def check_conditional_put(s3, bucket):
    # If-None-Match: * creates a key only when it is absent.
    s3.put_object(Bucket=bucket, Key="once.txt", Body=b"1", IfNoneMatch="*")
    try:
        s3.put_object(Bucket=bucket, Key="once.txt", Body=b"2", IfNoneMatch="*")
        raise AssertionError("PutObject with If-None-Match: * overwrote an existing key")
    except ClientError as e:
        expect("If-None-Match conflict status", e.response["ResponseMetadata"]["HTTPStatusCode"], 412)


def note_quirks(s3, bucket):
    """Prints known differences from AWS S3 that the checks above tolerate."""
    r = s3.list_objects_v2(Bucket=bucket, Prefix="seg/", Delimiter="/", StartAfter="seg/a/00.log")
    prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    if "seg/a/" not in prefixes:
        # AWS lists seg/a/ here (seg/a/01.log comes after StartAfter); moto
        # groups first and then drops every prefix that sorts before StartAfter.
        print(
            "note: with a Delimiter, this server drops a CommonPrefix that sorts before StartAfter "
            "even when it holds later keys (AWS S3 lists it): "
            f"StartAfter=seg/a/00.log gave CommonPrefixes {prefixes}"
        )


def main():
    s3 = client()
    bucket = f"check-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    checks = [check_listing, check_ranges_and_head, check_multipart, check_checksums, check_conditional_put]
    failed = 0
    for check in checks:
        try:
            check(s3, bucket)
            print(f"ok   {check.__name__}")
        except Exception as e:  # report every failing check, not just the first
            failed += 1
            print(f"FAIL {check.__name__}: {type(e).__name__}: {e}")
    note_quirks(s3, bucket)
    if failed:
        print(f"S3 check: {failed} of {len(checks)} checks failed against {os.environ['FLOE_TEST_S3']}")
        sys.exit(1)
    print(f"S3 check: all {len(checks)} checks passed against {os.environ['FLOE_TEST_S3']}")


if __name__ == "__main__":
    main()
