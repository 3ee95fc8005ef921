"""Read one kind of resource out of the emulator into snapshot files, and write it back.

``infra.snapshot`` decides what a snapshot holds and when; this module moves the bytes: tables
(Scan out, ``BatchWriteItem`` of 25 back, unprocessed items retried), objects (streamed to
content-addressed blobs; unchanged ones hard-linked from the previous snapshot), queue messages,
SSM parameters and secrets. Each has a limit and fails with a message naming it when it is hit,
so a snapshot is never silently partial (queue messages excepted: they are cut at the limit and
the note says so).
"""
import base64
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import botocore.exceptions

#: Limits of one snapshot (a local stack far past them wants a real AWS stage).
MAX_ITEMS_PER_TABLE = 1_000_000
MAX_OBJECTS_PER_BUCKET = 100_000
MAX_MESSAGES_PER_QUEUE = 10_000
MAX_PARAMETERS = 10_000
DEFAULT_MAX_BYTES = 10 * 1024 ** 3
BATCH = 25
RETRIES = 8
CHUNK = 1024 * 1024


class LimitError(Exception):
    """A limit of the snapshot was hit; the message names it and how to raise it."""


@dataclass
class Clients:
    """The emulator's clients a snapshot uses (boto3 clients are safe to share between threads)."""

    ddb: Any
    s3: Any
    sqs: Any
    ssm: Any
    secrets: Any

    @classmethod
    def from_session(cls, session) -> "Clients":
        from botocore.config import Config
        config = Config(max_pool_connections=32, retries={"max_attempts": 5, "mode": "standard"})
        make = lambda name: session.client(name, config=config)  # noqa: E731
        return cls(make("dynamodb"), make("s3"), make("sqs"), make("ssm"), make("secretsmanager"))


def max_snapshot_bytes() -> int:
    try:
        return int(os.environ.get("FABU_SNAPSHOT_MAX_BYTES") or DEFAULT_MAX_BYTES)
    except ValueError:
        return DEFAULT_MAX_BYTES


class ByteBudget:
    """The bytes of objects one snapshot may hold (``FABU_SNAPSHOT_MAX_BYTES``, 10 GiB)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def take(self, size: int, where: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise LimitError(f"the objects are over {self.limit} bytes at {where} "
                             "(FABU_SNAPSHOT_MAX_BYTES); nothing was saved")


@contextlib.contextmanager
def suppress_missing() -> Iterator[None]:
    with contextlib.suppress(FileNotFoundError):
        yield


def _lines(path: Path) -> Iterator[dict]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path} line {number} is not JSON ({exc})") from None


def _write_lines(path: Path, rows) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")
            count += 1
    return count


# --- DynamoDB ----------------------------------------------------------------------------------

def encode(value: dict) -> dict:
    """An AttributeValue as JSON: binary (``B``, ``BS``) as base64, at any depth."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: encode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [encode(v) for v in inner]}
    return value


def decode(value: dict) -> dict:
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {k: decode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [decode(v) for v in inner]}
    return value


def export_table(ddb, s3, table: str, arn: str, bucket: str, path: Path) -> int | None:
    """Every item of ``table`` into ``path`` through ``ExportTableToPointInTime`` (to ``bucket``,
    read back and deleted); None when the emulator cannot export (then ``save_table`` scans).

    moto answers a Scan item by item through a slow serializer (tens of seconds for a few
    thousand items on a busy machine); its export writes the table in one go, consistently.
    """
    try:
        ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
        prefix = f"{table}/{uuid.uuid4().hex}"
        export = ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=bucket, S3Prefix=prefix, ExportFormat="DYNAMODB_JSON")
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _CANNOT_EXPORT:
            return None
        raise
    described = _wait_export(ddb, export["ExportDescription"]["ExportArn"], table)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    count = 0
    try:
        with open(path, "w", encoding="utf-8") as fh:
            for key in keys:
                if not key.endswith(".gz"):
                    continue
                text = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
                for line in text.splitlines():
                    if line.strip():
                        count += 1
                        if count > MAX_ITEMS_PER_TABLE:
                            raise LimitError(f"table {table} has more than {MAX_ITEMS_PER_TABLE} "
                                             "items, the most a local snapshot holds; nothing was saved")
                        fh.write(json.dumps(json.loads(line)["Item"], separators=(",", ":")) + "\n")
    finally:
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})
    if count != described.get("ItemCount", count):
        raise RuntimeError(f"the export of table {table} says {described['ItemCount']} items, "
                           f"its file holds {count}")
    return count


#: Error codes of an emulator without exports (LocalStack community, older moto).
_CANNOT_EXPORT = {"UnknownOperationException", "NotImplementedError", "InternalFailure",
                  "UnrecognizedClientException", "InvalidAction", "501"}
EXPORT_TIMEOUT_SECONDS = 300


def _wait_export(ddb, arn: str, table: str) -> dict:
    deadline, pause = time.monotonic() + EXPORT_TIMEOUT_SECONDS, 0.02
    while True:
        described = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        status = described["ExportStatus"]
        if status == "COMPLETED":
            return described
        if status != "IN_PROGRESS":
            raise RuntimeError(f"the export of table {table} ended {status}: "
                               f"{described.get('FailureMessage') or 'no reason given'}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the export of table {table} took over {EXPORT_TIMEOUT_SECONDS}s")
        time.sleep(pause)
        pause = min(0.5, pause * 2)


def ensure_bucket(s3, bucket: str) -> None:
    """The emulator's scratch bucket for table exports (never part of a snapshot)."""
    try:
        s3.create_bucket(Bucket=bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


def save_table(ddb, table: str, path: Path) -> int:
    """Every item of ``table`` (consistent Scan) into ``path``; the count."""
    def items():
        seen = 0
        for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                seen += 1
                if seen > MAX_ITEMS_PER_TABLE:
                    raise LimitError(f"table {table} has more than {MAX_ITEMS_PER_TABLE} items, the "
                                     "most a local snapshot holds; nothing was saved")
                yield {k: encode(v) for k, v in item.items()}
    return _write_lines(path, items())


def translate(value: dict, versions: dict[str, str]) -> dict:
    """An AttributeValue whose strings naming an old S3 version id name the new one instead."""
    (kind, inner), = value.items()
    if kind == "S":
        return {"S": versions.get(inner, inner)}
    if kind == "SS":
        return {"SS": [versions.get(s, s) for s in inner]}
    if kind == "M":
        return {"M": {k: translate(v, versions) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [translate(v, versions) for v in inner]}
    return value


def restore_table(ddb, table: str, path: Path, versions: dict[str, str] | None = None) -> int:
    """Write the items of ``path`` into ``table`` in batches of 25; the count. ``versions``
    maps old S3 version ids to the restored objects' new ones."""
    batch, count = [], 0
    for row in _lines(path):
        item = {k: decode(v) for k, v in row.items()}
        if versions:
            item = {k: translate(v, versions) for k, v in item.items()}
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == BATCH:
            _batch_write(ddb, table, batch)
            count += len(batch)
            batch = []
    if batch:
        _batch_write(ddb, table, batch)
        count += len(batch)
    return count


def _batch_write(ddb, table: str, requests: list) -> None:
    pending = {table: requests}
    for attempt in range(RETRIES):
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(min(2.0, 0.05 * 2 ** attempt))
    raise RuntimeError(f"{len(pending[table])} items stayed unprocessed after {RETRIES} tries")


def key_of(described: dict) -> list[str]:
    """The key attributes of a table (``DescribeTable``'s ``Table``), hash first."""
    schema = described["KeySchema"]
    return [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH")]


def count_items(ddb, table: str) -> int:
    return sum(page["Count"] for page in ddb.get_paginator("scan").paginate(
        TableName=table, Select="COUNT", ConsistentRead=True))


# --- S3 ----------------------------------------------------------------------------------------

#: The headers of an object a snapshot keeps (GetObject's name -> PutObject's argument).
HEADERS = ("ContentType", "CacheControl", "ContentEncoding", "ContentDisposition", "ContentLanguage")


def object_index(snapshot: Path) -> dict[str, dict[tuple[str, str], dict]]:
    """``{bucket: {(key, version id): row}}`` of a snapshot, to reuse the blobs it holds."""
    index = {}
    for path in sorted((snapshot / "buckets").glob("*.jsonl")):
        index[path.name[:-len(".jsonl")]] = {(row["key"], row["version"]): row for row in _lines(path)
                                             if "blob" in row}
    return index


def _versions(s3, bucket: str, budget: ByteBudget) -> list[dict]:
    """Every version and delete marker of ``bucket``, each key's oldest first."""
    by_key: dict[str, list[dict]] = {}
    count = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [dict(v, marker=False) for v in page.get("Versions", [])]
        entries += [dict(m, marker=True) for m in page.get("DeleteMarkers", [])]
        for entry in entries:
            count += 1
            if count > MAX_OBJECTS_PER_BUCKET:
                raise LimitError(f"bucket {bucket} holds more than {MAX_OBJECTS_PER_BUCKET} object "
                                 "versions, the most a local snapshot holds; nothing was saved")
            budget.take(entry.get("Size", 0), f"bucket {bucket}")
            by_key.setdefault(entry["Key"], []).append(entry)
    ordered = []
    for entries in by_key.values():  # S3 lists a key's versions newest first
        entries.sort(key=lambda e: e["LastModified"])
        ordered.extend(entries)
    return ordered


def save_bucket(s3, bucket: str, tmp: Path, previous: Path | None, old: dict, pool,
                budget: ByteBudget) -> dict[str, int]:
    """Every version of every object of ``bucket`` (a plain bucket has one, version "null");
    ``{"objects": current objects, "versions": all, "bytes": of all}``."""
    def one(entry):
        base = {"key": entry["Key"], "version": entry["VersionId"], "latest": entry["IsLatest"]}
        if entry["marker"]:
            return dict(base, marker=True)
        row = old.get((entry["Key"], entry["VersionId"]))
        # a version id names fixed bytes; an unversioned object ("null") is compared by ETag
        unchanged = row is not None and previous is not None and (
            entry["VersionId"] != "null" or (row["etag"], row["size"]) == (entry["ETag"], entry["Size"]))
        if unchanged and _link(previous / "blobs" / row["blob"], tmp / "blobs" / row["blob"]):
            return dict(row, latest=entry["IsLatest"])
        return dict(_download(s3, bucket, entry["Key"], entry["VersionId"], tmp / "blobs"), **base)

    rows = list(pool.map(one, _versions(s3, bucket, budget)))
    _write_lines(tmp / "buckets" / f"{bucket}.jsonl", rows)
    return {"objects": sum(1 for r in rows if r["latest"] and not r.get("marker")),
            "versions": len(rows), "bytes": sum(r.get("size", 0) for r in rows)}


def _link(source: Path, target: Path) -> bool:
    """Hard-link (else copy) an unchanged blob; False when the old one is gone."""
    if target.exists():
        return True
    try:
        os.link(source, target)
    except FileExistsError:
        return True
    except FileNotFoundError:
        return False
    except OSError:
        shutil.copyfile(source, target)
    return True


def _download(s3, bucket: str, key: str, version: str, blobs: Path) -> dict:
    extra = {} if version == "null" else {"VersionId": version}
    got = s3.get_object(Bucket=bucket, Key=key, **extra)
    digest, size = hashlib.sha256(), 0
    part = blobs / f".part-{uuid.uuid4().hex}"
    with open(part, "wb") as fh:
        for chunk in got["Body"].iter_chunks(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            fh.write(chunk)
    blob = digest.hexdigest()
    os.replace(part, blobs / blob)
    row = {"etag": got["ETag"], "size": size, "blob": blob, "metadata": got.get("Metadata") or {}}
    row.update({name: got[name] for name in HEADERS if got.get(name)})
    return row


def restore_bucket(s3, bucket: str, snapshot: Path, pool) -> dict[str, str]:
    """Put every version back, each key's oldest first; ``{old version id: new version id}``.

    S3 gives every write a new version id: what the tables say about the old ones is translated
    with this map (``restore_table``'s ``versions``).
    """
    by_key: dict[str, list[dict]] = {}
    for row in _lines(snapshot / "buckets" / f"{bucket}.jsonl"):
        by_key.setdefault(row["key"], []).append(row)

    def one(rows):
        mapping = {}
        for row in rows:
            if row.get("marker"):
                new = s3.delete_object(Bucket=bucket, Key=row["key"]).get("VersionId")
            else:
                with open(snapshot / "blobs" / row["blob"], "rb") as fh:
                    new = s3.put_object(Bucket=bucket, Key=row["key"], Body=fh,
                                        Metadata=row.get("metadata") or {},
                                        **{name: row[name] for name in HEADERS if row.get(name)}
                                        ).get("VersionId")
            if row["version"] != "null" and new:
                mapping[row["version"]] = new
        return mapping

    mapping = {}
    for part in pool.map(one, by_key.values()):
        mapping.update(part)
    return mapping


def count_objects(s3, bucket: str) -> int:
    return sum(page.get("KeyCount", 0) for page in
               s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))


# --- SQS ---------------------------------------------------------------------------------------

def save_queue(sqs, url: str, path: Path) -> tuple[int, str]:
    """Move the visible messages of a queue into ``path`` (received, then deleted); ``(n, note)``.

    Only for the last save before the emulator stops: a FIFO queue hands out a group's next
    message only once the previous one is deleted.
    """
    rows, note = [], ""
    while len(rows) < MAX_MESSAGES_PER_QUEUE:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  VisibilityTimeout=300, AttributeNames=["All"],
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        for message in got:
            attrs = message.get("Attributes", {})
            rows.append({"body": message["Body"], "group": attrs.get("MessageGroupId"),
                         "dedup": attrs.get("MessageDeduplicationId"),
                         "attributes": message.get("MessageAttributes") or {}})
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    else:
        note = f"more than {MAX_MESSAGES_PER_QUEUE} messages: only the first were saved"
    _write_lines(path, rows)
    return len(rows), note


def restore_queue(sqs, url: str, path: Path) -> int:
    rows = list(_lines(path))
    for start in range(0, len(rows), 10):
        entries = []
        for i, row in enumerate(rows[start:start + 10]):
            entry = {"Id": str(i), "MessageBody": row["body"]}
            if row.get("attributes"):
                entry["MessageAttributes"] = row["attributes"]
            if row.get("group"):
                entry["MessageGroupId"] = row["group"]
            if row.get("dedup"):
                entry["MessageDeduplicationId"] = row["dedup"]
            entries.append(entry)
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        if failed:
            raise RuntimeError(f"{len(failed)} messages refused: {failed[0].get('Message')}")
    return len(rows)


# --- SSM parameters and Secrets Manager --------------------------------------------------------

def save_parameters(ssm, path: Path) -> int:
    names = []
    for page in ssm.get_paginator("describe_parameters").paginate():
        names.extend(p["Name"] for p in page["Parameters"])
        if len(names) > MAX_PARAMETERS:
            raise LimitError(f"more than {MAX_PARAMETERS} SSM parameters; nothing was saved")
    rows = []
    for start in range(0, len(names), 10):
        for p in ssm.get_parameters(Names=names[start:start + 10], WithDecryption=True)["Parameters"]:
            rows.append({"name": p["Name"], "type": p["Type"], "value": p["Value"]})
    return _write_lines(path, rows)


def restore_parameters(ssm, path: Path) -> int:
    count = 0
    for row in _lines(path):
        ssm.put_parameter(Name=row["name"], Type=row["type"], Value=row["value"], Overwrite=True)
        count += 1
    return count


def save_secrets(secrets, path: Path) -> int:
    rows = []
    for page in secrets.get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            if len(rows) >= MAX_PARAMETERS:
                raise LimitError(f"more than {MAX_PARAMETERS} secrets; nothing was saved")
            row = {"name": entry["Name"]}
            try:
                value = secrets.get_secret_value(SecretId=entry["ARN"])
            except secrets.exceptions.ResourceNotFoundException:
                value = {}  # a secret created without a value yet
            if "SecretString" in value:
                row["string"] = value["SecretString"]
            elif "SecretBinary" in value:
                row["binary"] = base64.b64encode(value["SecretBinary"]).decode()
            rows.append(row)
    return _write_lines(path, rows)


def restore_secrets(secrets, path: Path) -> int:
    count = 0
    for row in _lines(path):
        value = ({"SecretString": row["string"]} if "string" in row
                 else {"SecretBinary": base64.b64decode(row["binary"])} if "binary" in row else {})
        secrets.create_secret(Name=row["name"], **value)
        count += 1
    return count
