"""Fetch an s3 source: ``s3://bucket/key`` (one object) or ``s3://bucket/prefix/`` (all under it).

A key that names an object is one file (an archive is unpacked); otherwise the key is a prefix and
every object under it lands at its relative path. The builder's own role reads the bucket;
AccessDenied and NoSuchBucket/NoSuchKey are final, other AWS errors may pass on a retry.
"""
import hashlib
import posixpath
import urllib.parse
from pathlib import Path

import botocore.exceptions

from chalicelib import aws
from chalicelib.build import provenance
from chalicelib.build.sources.archives import download_slot, materialise, safe_join
from chalicelib.build.sources.base import Budget, Job, SourceError


def fetch(job: Job, dest: Path) -> dict:
    """Copy the object or every object under the prefix `job.url` names into `dest`.

    Returns the provenance record: one object's ETag and VersionId (as HeadObject saw them: the
    copy is not pinned, so a bucket that grants only s3:GetObject still works); for a prefix, the
    object count and a sha256 over every key and ETag.
    """
    url = job.url
    parts = urllib.parse.urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    s3 = aws.client("s3")
    try:
        head = _head(s3, bucket, key) if key and not key.endswith("/") else None
        if head is not None:
            version = head.get("VersionId")
            with download_slot(dest) as tmp:
                _copy(s3, bucket, key, tmp, job.budget)
                materialise(tmp, posixpath.basename(key), dest, job.budget)
            etag = (head.get("ETag") or "").strip('"') or None
            return provenance.record("s3", url, etag=etag, version_id=version,
                                     revision=version if version not in (None, "null") else etag)
        listing = hashlib.sha256()
        count = _copy_prefix(s3, bucket, key if not key or key.endswith("/") else f"{key}/", dest,
                             job.budget, listing)
        if not count:
            raise SourceError(f"nothing found at {url}")
        return provenance.record("s3", url, objects=count, revision=f"sha256:{listing.hexdigest()}")
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "403"):
            raise SourceError(f"the builder may not read {url}") from None
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            raise SourceError(f"nothing found at {url} ({code})") from None
        raise SourceError(f"could not read {url}: {code}", retryable=True) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise SourceError(f"could not read {url}: {exc}", retryable=True) from None


def _copy_prefix(s3, bucket, prefix, dest, budget, listing):
    """Copy every object under `prefix`, hashing each key and ETag into `listing`; the count."""
    found = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            target = safe_join(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy(s3, bucket, obj["Key"], target, budget)
            listing.update(f"{rel}\t{obj.get('ETag', '')}\n".encode())
            found += 1
    return found


def _head(s3, bucket, key):
    """The object's HeadObject answer; None when there is no such object."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _copy(s3, bucket: str, key: str, target: Path, budget: Budget):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with open(target, "wb") as out:
        budget.copy(body, out)
