"""The daily export: one UTC day of the audit log as JSON lines in the release bucket.

``export_day(day)`` writes ``audit/<YYYY-MM-DD>.jsonl`` beside the daily reports
(``reports/<date>.json``, same bucket): one line per entry, oldest first (the day's shards
merged in ``sk`` order), each line the entry as ``GET /api/v1/audit`` shows it, keys sorted,
no spaces. The same day exported again is the same bytes (idempotent; the versioned bucket
keeps each write as a version). A day without entries is an empty object, so a missing key
always means the export did not run.

Memory is bounded: the shards are read a page at a time (``PAGE``) and the file is streamed to
S3 as a multipart upload in ``PART_BYTES`` parts (one PutObject when the day is smaller); an
error aborts the upload, so a key is never half written. The scheduled daily report runs it
for the day before (``chalicelib.notify.reports.run_scheduled``).
"""
import datetime
import heapq
import json
import logging
from collections.abc import Iterator

from chalicelib import aws, config
from chalicelib.audit.model import AuditEntry, day_keys, to_dict

log = logging.getLogger("fabu.audit")

PREFIX = "audit/"
#: Bytes of one multipart part (S3's minimum is 5 MiB, except the last part).
PART_BYTES = 8 * 1024 * 1024
#: Entries one Query page of a shard holds.
PAGE = 500
CONTENT_TYPE = "application/x-ndjson"


def key_of(day: datetime.date) -> str:
    """``audit/<YYYY-MM-DD>.jsonl``."""
    return f"{PREFIX}{day.isoformat()}.jsonl"


def lines(day: datetime.date) -> Iterator[bytes]:
    """The day's export lines (bytes), oldest entry first."""
    shards = [AuditEntry.query(pk, scan_index_forward=True, page_size=PAGE) for pk in day_keys(day)]
    for entry in heapq.merge(*shards, key=lambda e: e.sk):
        yield (json.dumps(to_dict(entry), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False) + "\n").encode()


def export_day(day: datetime.date) -> dict:
    """Write the day's export; ``{"key", "entries", "bytes"}``."""
    key, bucket = key_of(day), config.release_bucket()
    s3 = aws.client("s3")
    upload, parts, buffer, count, size = None, [], bytearray(), 0, 0
    try:
        for line in lines(day):
            buffer += line
            count += 1
            size += len(line)
            if len(buffer) >= PART_BYTES:
                if upload is None:
                    upload = s3.create_multipart_upload(Bucket=bucket, Key=key,
                                                        ContentType=CONTENT_TYPE)["UploadId"]
                parts.append(_part(s3, bucket, key, upload, len(parts) + 1, bytes(buffer)))
                buffer.clear()
        if upload is None:
            s3.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), ContentType=CONTENT_TYPE)
        else:
            if buffer:
                parts.append(_part(s3, bucket, key, upload, len(parts) + 1, bytes(buffer)))
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    except BaseException:
        if upload is not None:
            try:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            except Exception:  # noqa: BLE001 - the first error is the one raised
                log.exception("could not abort the upload of %s (the bucket's lifecycle rule "
                              "removes it after a day)", key)
        raise
    log.info("audit export of %s: %d entries, %d bytes in s3://%s/%s", day, count, size, bucket, key)
    return {"key": key, "entries": count, "bytes": size}


def _part(s3, bucket, key, upload, number, body):
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                          Body=body)["ETag"]
    return {"ETag": etag, "PartNumber": number}
