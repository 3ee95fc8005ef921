"""Fetch an s3 source: ``s3://bucket/key`` (one object) or ``s3://bucket/prefix/`` (all under it).

A key that names an object is one file (an archive is unpacked); otherwise the key is a prefix and
every object under it lands at its relative path. The builder's own role reads the bucket;
AccessDenied and NoSuchBucket/NoSuchKey are final, other AWS errors may pass on a retry.
"""
import posixpath
import urllib.parse
from pathlib import Path

import botocore.exceptions

from chalicelib import aws
from chalicelib.build.sources.archives import download_slot, materialise, safe_join
from chalicelib.build.sources.base import Budget, Job, SourceError


def fetch(job: Job, dest: Path) -> None:
    """Copy the object or every object under the prefix `job.url` names into `dest`."""
    url = job.url
    parts = urllib.parse.urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    s3 = aws.client("s3")
    try:
        if key and not key.endswith("/") and _exists(s3, bucket, key):
            with download_slot(dest) as tmp:
                _copy(s3, bucket, key, tmp, job.budget)
                materialise(tmp, posixpath.basename(key), dest, job.budget)
            return
        if not _copy_prefix(s3, bucket, key if not key or key.endswith("/") else f"{key}/", dest,
                            job.budget):
            raise SourceError(f"nothing found at {url}")
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "403"):
            raise SourceError(f"the builder may not read {url}") from None
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            raise SourceError(f"nothing found at {url} ({code})") from None
        raise SourceError(f"could not read {url}: {code}", retryable=True) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise SourceError(f"could not read {url}: {exc}", retryable=True) from None


def _copy_prefix(s3, bucket, prefix, dest, budget):
    """Copy every object under `prefix`; False when there was none."""
    found = False
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            target = safe_join(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy(s3, bucket, obj["Key"], target, budget)
            found = True
    return found


def _exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _copy(s3, bucket: str, key: str, target: Path, budget: Budget):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with open(target, "wb") as out:
        budget.copy(body, out)
