"""Publish the web console (``web/dist/``) to the stage's UI bucket, pointed at a given API.

``make run`` calls ``publish(endpoint, api_url)`` after the API is up: every file of
``web/dist/`` is uploaded with its Content-Type (ES modules must be served as JavaScript), and
``config.js`` is written for ``api_url``. The bucket, its public-read policy and its website
settings come from ``infra/resources.json`` (created by ``infra.stack``). Returns the console's
URL, path-style on the emulator: ``<endpoint>/<bucket>/index.html``.

    python -m infra.publish_ui --api-url http://127.0.0.1:8000   # uses $AWS_ENDPOINT_URL
"""
import argparse
import json
import mimetypes
import os
import subprocess

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


def _s3():
    """Local tooling's S3 client: localstack-client honours AWS_ENDPOINT_URL (moto or LocalStack)."""
    from localstack_client.session import Session
    return Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).client("s3")


def publish(endpoint, api_url, *, dist=DIST, bucket=None, region=None, refresh_seconds=None):
    """Upload the console and its ``config.js`` for ``api_url``; return its URL (None: not built)."""
    from chalicelib import config
    if not build(dist):
        return None
    bucket = bucket or config.ui_bucket()
    region = region or config.region()
    refresh = refresh_seconds or config.int_setting("FABU_UI_REFRESH_SECONDS", 3)
    s3 = _s3()
    for path, key in _files(dist):
        if key == "config.js":
            continue
        with open(path, "rb") as fh:
            s3.put_object(Bucket=bucket, Key=key, Body=fh.read(), ContentType=content_type(key),
                          CacheControl="no-cache")
    s3.put_object(Bucket=bucket, Key="config.js", ContentType=content_type("config.js"),
                  Body=config_script(api_url, region, refresh).encode(), CacheControl="no-cache")
    if not endpoint:  # real AWS: the bucket's website endpoint (resources.json WebsiteConfiguration)
        return "http://%s.s3-website-%s.amazonaws.com/" % (bucket, region)
    return "%s/%s/index.html" % (endpoint.rstrip("/"), bucket)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", ""))
    args = parser.parse_args()
    url = publish(args.endpoint, args.api_url)
    print(url or "web/dist is not built: run `make web` first")


if __name__ == "__main__":
    main()
