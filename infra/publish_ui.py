"""Publish the web console (``web/dist/``) to the stage's UI bucket, pointed at a given API.

Every file of ``web/dist/`` is uploaded with its Content-Type (ES modules must be served as
JavaScript) and ``Cache-Control: no-cache``, ``config.js`` is written for ``api_url`` and the
CSP's ``connect-src`` of ``index.html`` names the API's origin only. Returns the console's URL.

* On the emulator (``endpoint`` set; ``make run`` calls ``publish(endpoint, api_url)`` after the
  API is up) the bucket has website settings and a public-read policy (``infra.stack`` applies
  the UI bucket's ``FabuLocal`` metadata) and the URL is path-style over http:
  ``<endpoint>/<bucket>/index.html``.
* On AWS (``endpoint`` empty) the bucket is private and served by the CloudFront distribution of
  ``infra/resources.json`` over HTTPS: the stack's outputs (``ConsoleURL``,
  ``ConsoleDistributionId``, ``UIBucketName``) are read first, the files uploaded, then ``/*``
  invalidated so that viewers get the new console at once; the answer is ``ConsoleURL``.

    python -m infra.publish_ui --api-url http://127.0.0.1:8000   # uses $AWS_ENDPOINT_URL
    python -m infra.publish_ui --endpoint "" --api-url https://<api>/api --stack fabu-dev  # AWS
"""
import argparse
import json
import mimetypes
import os
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(ROOT, "web")
DIST = os.path.join(WEB, "dist")

#: Types Python's table lacks or gets wrong on some systems; modules need a JavaScript type.
_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
          ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml"}


def content_type(path):
    """The Content-Type a browser needs for ``path``."""
    ext = os.path.splitext(path)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def config_script(api_url, region, refresh_seconds=3):
    """``config.js``: the console's runtime settings (same shape as ``web/build.mjs`` writes)."""
    settings = {"apiUrl": api_url.rstrip("/"), "region": region, "refreshSeconds": refresh_seconds}
    return "window.FABU_CONFIG = %s;\n" % json.dumps(settings)


def index_html(text, api_url):
    """``index.html`` with its Content-Security-Policy's ``connect-src`` limited to the API's
    origin (the console may call nothing else)."""
    parts = urlsplit(api_url)
    return re.sub(r"connect-src [^;\"]*", f"connect-src {parts.scheme}://{parts.netloc}", text, count=1)


def build(dist=DIST):
    """Build ``web/dist`` when it is missing and npm is there (``make install`` normally did)."""
    if os.path.exists(os.path.join(dist, "index.html")):
        return True
    if not os.path.exists(os.path.join(WEB, "node_modules")):
        return False
    subprocess.run(["npm", "run", "--silent", "build"], cwd=WEB, check=True)
    return os.path.exists(os.path.join(dist, "index.html"))


def _files(dist):
    for folder, _dirs, names in os.walk(dist):
        for name in sorted(names):
            path = os.path.join(folder, name)
            yield path, os.path.relpath(path, dist).replace(os.sep, "/")


class PublishError(Exception):
    """The console cannot be published; the message names the stack, output or setting."""


#: Outputs of the stage's stack (``infra/resources.json``) that publishing on AWS needs.
STACK_OUTPUTS = ("ConsoleURL", "ConsoleDistributionId", "UIBucketName")


def _session(endpoint: str):
    """The emulator's session (localstack-client, on ``endpoint``) or, on AWS, boto3's own: the
    standard credential chain (profiles, SSO, environment) and region."""
    if endpoint:
        from localstack_client.session import Session  # honours $AWS_ENDPOINT_URL
        return Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    import boto3
    return boto3.session.Session()


def api_region(api_url: str) -> str | None:
    """The region of an API Gateway URL (``https://<id>.execute-api.<region>.amazonaws.com/..``),
    which the console must sign for; None for any other URL (a custom domain, the local API)."""
    found = re.fullmatch(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?",
                         urlsplit(api_url).hostname or "")
    return found.group(1) if found else None


def stack_console(cloudformation, stack: str) -> dict[str, str]:
    """``{"ConsoleURL": ..., "ConsoleDistributionId": ..., "UIBucketName": ...}``: the outputs
    of ``stack``."""
    from botocore.exceptions import ClientError
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        raise PublishError(f"stack {stack!r} does not exist in this account and region: deploy "
                           "the packaged template (docs/operations.md) or pass --stack") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in STACK_OUTPUTS if not outputs.get(name)]
    if missing:
        raise PublishError(f"stack {stack!r} has no output {', '.join(missing)}: it predates the "
                           "console's CloudFront distribution; deploy the current `make package`")
    return {name: outputs[name] for name in STACK_OUTPUTS}


def invalidate(cloudfront, distribution_id: str) -> str:
    """Invalidate ``/*`` of the distribution (one path of the monthly free 1,000); its id."""
    batch = {"Paths": {"Quantity": 1, "Items": ["/*"]},
             "CallerReference": f"fabu-publish-{time.time_ns()}"}
    answer = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch=batch)
    return answer["Invalidation"]["Id"]


def publish(endpoint: str, api_url: str, *, dist: str = DIST, bucket: str | None = None,
            region: str | None = None, refresh_seconds: int | None = None,
            stack: str | None = None) -> str | None:
    """Upload the console and its ``config.js`` for ``api_url``; return its URL (None: not built).

    ``endpoint`` empty means AWS: ``stack`` (default ``<prefix>-<stage>``) must hold the outputs
    of ``STACK_OUTPUTS``, else ``PublishError`` before anything is uploaded."""
    from chalicelib import config
    if not build(dist):
        return None
    session = _session(endpoint)
    console = None if endpoint else stack_console(session.client("cloudformation"),
                                                  stack or config.prefix())
    bucket = bucket or (console["UIBucketName"] if console else config.ui_bucket())
    region = region or api_region(api_url) or (None if endpoint else session.region_name) \
        or config.region()
    refresh = refresh_seconds or config.int_setting("FABU_UI_REFRESH_SECONDS", 3)
    s3 = session.client("s3")
    for path, key in _files(dist):
        if key == "config.js":
            continue
        with open(path, "rb") as fh:
            body = fh.read()
        if key == "index.html":
            body = index_html(body.decode(), api_url).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type(key),
                      CacheControl="no-cache")
    s3.put_object(Bucket=bucket, Key="config.js", ContentType=content_type("config.js"),
                  Body=config_script(api_url, region, refresh).encode(), CacheControl="no-cache")
    if console:  # AWS: the private bucket behind CloudFront (resources.json ConsoleDistribution)
        invalidate(session.client("cloudfront"), console["ConsoleDistributionId"])
        return console["ConsoleURL"]
    return f"{endpoint.rstrip('/')}/{bucket}/index.html"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", ""),
                        help="the emulator; empty for AWS (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--dist", default=DIST, help="the built console (default: web/dist)")
    parser.add_argument("--stack", default=None,
                        help="on AWS: the stage's CloudFormation stack (default: <prefix>-<stage>)")
    args = parser.parse_args(argv)
    try:
        url = publish(args.endpoint, args.api_url, dist=args.dist, stack=args.stack)
    except PublishError as exc:
        sys.exit(f"publish_ui: {exc}")
    print(url or "web/dist is not built: run `make web` first")


if __name__ == "__main__":
    main()
