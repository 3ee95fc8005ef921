"""Copy the sample app (``examples/hello/``) to where ``examples/project.yaml``'s source points.

``examples/project.yaml`` builds from ``s3://<release bucket>/examples/hello/`` (an ``s3`` source
needs no path on this machine and no port in the file, so the file works as it is). ``make run``
calls ``publish()`` at every start; after editing the files,

    .venv/bin/python -m infra.examples        # uses $AWS_ENDPOINT_URL (default: make run's)

copies them again, and the next version you create or update is built from them.
"""
import os
import sys
from pathlib import Path

from infra.publish_ui import content_type

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "hello"
PREFIX = "examples/hello/"
MAX_FILES = 200
MAX_BYTES = 10 * 1024 * 1024


def publish(s3=None, bucket: str | None = None, sample: Path = SAMPLE) -> str:
    """Upload every file of ``sample`` under ``examples/hello/``; return the source URL."""
    from chalicelib import config
    bucket = bucket or config.release_bucket()
    if s3 is None:
        from infra.stack import emulator_session
        s3 = emulator_session().client("s3")
    files = sorted(p for p in sample.rglob("*") if p.is_file())
    if len(files) > MAX_FILES or sum(p.stat().st_size for p in files) > MAX_BYTES:
        raise ValueError(f"{sample} holds more than {MAX_FILES} files or {MAX_BYTES} bytes: "
                         "too big for the sample (use a git source for a real project)")
    wanted = {PREFIX + p.relative_to(sample).as_posix(): p for p in files}
    stale = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=PREFIX) for obj in page.get("Contents", []) if obj["Key"] not in wanted]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start:start + 1000]]})
    for key, path in wanted.items():
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(key))
    return f"s3://{bucket}/{PREFIX}"


def main() -> int:
    os.environ.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{os.environ.get('FABU_AWS_PORT', '4566')}")
    for name, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "test"),
                        ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(name, value)
    try:
        url = publish()
    except Exception as exc:  # the emulator is not there: say which one and what to start
        print(f"fabu: could not copy {SAMPLE} to the emulator at {os.environ['AWS_ENDPOINT_URL']}: "
              f"{exc} (is `make run` running?)", file=sys.stderr)
        return 1
    print(f"fabu: copied {SAMPLE} to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
