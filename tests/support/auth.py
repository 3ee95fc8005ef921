"""Shared pieces of the auth tests: a served app with local SigV4 on, keys, and a signer.

The app under test (``build_test_app``) is a tiny app shaped like fabu's API, so the auth tests
check the auth modules alone; the real ``app.py`` goes through the same middleware in the rest of
the suite (the signed clients of ``tests/conftest.py``).
"""

import datetime
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from chalice import Chalice, IAMAuthorizer, Response
from chalice.config import Config
from chalice.local import LocalDevServer

from chalicelib.auth.authz import (
    admin_patterns,
    caller_from_context,
    host_user_arn,
    require_admin,
    require_host,
)
from chalicelib.auth.localauth import make_sigv4_middleware
from chalicelib.auth.principals import add_principal
from chalicelib.auth.sigv4 import AuthError, Principal

REGION = "us-east-1"
SERVICE = "execute-api"
ADMIN_ARN = "arn:aws:iam::000000000000:user/fabu-admin"
ADMIN_GLOB = "arn:aws:iam::000000000000:user/ops/*"
GLOB_ADMIN_ARN = "arn:aws:iam::000000000000:user/ops/alice"
UNLISTED_ADMIN_ARN = "arn:aws:iam::000000000000:user/fabu-admin-2"
SESSION_HOST_ARN = "arn:aws:sts::000000000000:assumed-role/fabu-host/web-3"


def build_test_app() -> Chalice:
    """A tiny app shaped like fabu's API: host routes, project routes, one public route."""
    app = Chalice(app_name="fabu-auth-test")
    iam = IAMAuthorizer()
    app.register_middleware(make_sigv4_middleware(app), "http")

    def _guarded(check):
        try:
            caller = caller_from_context(app.current_request.context, admin_patterns())
            check(caller)
        except AuthError as exc:
            return Response(status_code=403, body={"error": str(exc)})
        return {"arn": caller.arn, "kind": caller.kind, "host": caller.host}

    @app.route("/api/v1/{host}", authorizer=iam)
    def poll(host):
        return _guarded(lambda caller: require_host(caller, host))

    @app.route("/api/v1/{host}/report", methods=["POST"], authorizer=iam)
    def report(host):
        result = _guarded(lambda caller: require_host(caller, host))
        if isinstance(result, dict):
            result["body_sha256"] = hashlib.sha256(app.current_request.raw_body).hexdigest()
        return result

    @app.route("/api/v1/project", methods=["GET", "POST"], authorizer=iam)
    def projects():
        return _guarded(require_admin)

    @app.route("/health")
    def health():
        return {"ok": True}

    return app


@dataclass
class AuthServer:
    """A running local server plus the keys it accepts."""

    base_url: str
    keys: Mapping[str, Principal]  # "web-1", "web-2", "web-3" (session), "admin", ...


def _mint_keys(path: str) -> dict[str, Principal]:
    return {
        "web-1": add_principal(host_user_arn("web-1"), path=path),
        "web-2": add_principal(host_user_arn("web-2"), path=path),
        "web-3": add_principal(SESSION_HOST_ARN, path=path, session_token="FQoGZXIvYXdzE" * 8),
        "admin": add_principal(ADMIN_ARN, path=path),
        "glob-admin": add_principal(GLOB_ADMIN_ARN, path=path),
        "unlisted": add_principal(UNLISTED_ADMIN_ARN, path=path),
    }


@contextmanager
def serve_local(tmp_dir: str) -> Iterator[AuthServer]:
    """Serve ``build_test_app()`` on a free 127.0.0.1 port with local SigV4 on, for the block."""
    principals_path = os.path.join(tmp_dir, "principals.json")
    env = {
        "FABU_LOCAL_SIGV4": "1",
        "FABU_PRINCIPALS": principals_path,
        "FABU_ADMIN_ARNS": f"{ADMIN_ARN}, {ADMIN_GLOB}",
        "AWS_DEFAULT_REGION": REGION,
    }
    with mock.patch.dict(os.environ, env):
        keys = _mint_keys(principals_path)
        config = Config.create(chalice_stage="local", app_name="fabu-auth-test")
        server = LocalDevServer(build_test_app(), config, "127.0.0.1", 0)
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server.server_address[1]
            yield AuthServer(base_url=f"http://127.0.0.1:{port}", keys=keys)
        finally:
            server.shutdown()
            server.server.server_close()
            thread.join(timeout=5)


def sign(
    method: str,
    url: str,
    principal: Principal,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    region: str = REGION,
    service: str = SERVICE,
    when: datetime.datetime | None = None,
    secret: str | None = None,
    session_token: str | None = None,
    only: list[str] | None = None,
) -> dict[str, str]:
    """Headers botocore's own SigV4Auth produces for this request (optionally at ``when``).

    ``only`` limits the signed headers to those names, as curl does (botocore signs them all).
    """
    token = session_token if session_token is not None else principal.session_token
    credentials = Credentials(principal.access_key_id, secret or principal.secret_access_key, token)
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = (SigV4Auth if only is None else _signer_of_only(only))(credentials, service, region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    signed = dict(request.headers.items())
    signed.setdefault("Host", urlsplit(url).netloc)  # what botocore signed as host
    return signed


def _signer_of_only(names: list[str]) -> type[SigV4Auth]:
    class _SignsOnly(SigV4Auth):
        def headers_to_sign(self, request):
            header_map = super().headers_to_sign(request)
            for name in set(header_map.keys()) - set(names):
                del header_map[name]
            return header_map

    return _SignsOnly
