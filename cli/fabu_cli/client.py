"""Signed HTTP to the fabu API: botocore's credential chain, SigV4 for execute-api, plain data back.

Credentials come from botocore's standard chain, exactly as the AWS CLI finds them: ``--profile``
(or ``AWS_PROFILE``), environment keys, the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``,
e.g. ``.fabu/credentials`` written by ``make run``), the config file with SSO or assumed roles,
and instance/container roles. Each request is signed with SigV4 for service ``execute-api`` in the
region of ``--region``, else the profile's, else ``AWS_DEFAULT_REGION``/``AWS_REGION``, else
``us-east-1``. Failures become three exceptions the commands turn into messages and exit codes:
``ApiError`` (the API answered with an error status), ``ConnectionFailed`` (no answer) and
``ConfigError`` (no credentials, unknown profile, expired SSO session).
"""
import json
import os
from urllib.parse import quote, urlencode

import botocore.exceptions
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
DEFAULT_REGION = "us-east-1"
SERVICE = "execute-api"


class ClientError(Exception):
    """Base class of what a command can report instead of a traceback."""


class ConfigError(ClientError):
    """The client cannot sign: no credentials, unknown profile, expired SSO token."""


class ConnectionFailed(ClientError):
    """The API did not answer (refused, DNS, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url, self.reason = url, reason


class ApiError(ClientError):
    """The API answered with an error status; ``body`` is its JSON (or ``{"error": text}``)."""

    def __init__(self, status: int, body: dict, method: str, path: str,
                 headers: dict | None = None) -> None:
        super().__init__(f"HTTP {status} from {method} {path}")
        self.status, self.body, self.method, self.path = status, body, method, path
        self.headers = headers or {}

    @property
    def message(self) -> str:
        return self.body.get("error") or self.body.get("message") or "(no message)"

    @property
    def fields(self) -> dict:
        fields = self.body.get("fields")
        return fields if isinstance(fields, dict) else {}


class Response:
    """What a successful call returns: status, JSON body (or None), headers."""

    def __init__(self, status: int, body: dict | None, headers) -> None:
        self.status, self.body, self.headers = status, body, headers

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


def default_endpoint() -> str:
    return os.environ.get("FABU_API_URL") or DEFAULT_ENDPOINT


class Client:
    """One endpoint, one identity. Credentials are resolved on the first request, not before."""

    def __init__(self, endpoint: str | None = None, profile: str | None = None,
                 region: str | None = None, timeout: float = 30) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.profile = profile
        self._region = region
        self.timeout = timeout
        self._session = None
        self._credentials = None

    # --- identity ---------------------------------------------------------------------------

    def _botocore(self):
        if self._session is None:
            import botocore.session  # slow to import (~0.4 s): only when signing
            self._session = botocore.session.Session(profile=self.profile)
        return self._session

    @property
    def region(self) -> str:
        if self._region is None:
            try:
                self._region = self._botocore().get_config_variable("region")
            except botocore.exceptions.ProfileNotFound as exc:
                raise ConfigError(str(exc)) from None
            self._region = self._region or DEFAULT_REGION
        return self._region

    def credentials(self):  # -> botocore ReadOnlyCredentials
        """The frozen credentials of the chain, or ``ConfigError`` naming what to set."""
        if self._credentials is None:
            try:
                found = self._botocore().get_credentials()
                frozen = found.get_frozen_credentials() if found else None
            except botocore.exceptions.ProfileNotFound as exc:
                raise ConfigError(f"{exc} (profiles are read from ~/.aws/config and the shared "
                                  "credentials file, AWS_SHARED_CREDENTIALS_FILE)") from None
            except botocore.exceptions.BotoCoreError as exc:  # SSO expired, bad role config...
                raise ConfigError(f"cannot load AWS credentials: {exc}") from None
            if frozen is None or not frozen.access_key:
                raise ConfigError(
                    "no AWS credentials found (profile, environment, shared credentials file, "
                    "SSO). For the local stack of `make run`: export "
                    "AWS_SHARED_CREDENTIALS_FILE=.fabu/credentials AWS_PROFILE=fabu-admin")
            self._credentials = (frozen, getattr(found, "method", None))
        return self._credentials[0]

    def identity(self) -> str:
        """A one-line description of who signs: key id, where it came from, region."""
        frozen = self.credentials()
        method = self._credentials[1] or "unknown source"
        profile = self.profile or os.environ.get("AWS_PROFILE")
        where = f"{method}, profile {profile}" if profile else method
        return f"access key {frozen.access_key} (from {where}), region {self.region}"

    # --- requests ---------------------------------------------------------------------------

    def request(self, method: str, path: str, body: object = None, params: dict | None = None,
                headers: dict | None = None) -> Response:
        """Signed request; returns ``Response`` for 2xx, raises ``ApiError``/``ConnectionFailed``."""
        url = self.endpoint + path
        if params:
            # %20, not "+", for spaces: SigV4's canonical query string encodes them so
            url += "?" + urlencode(sorted((k, v) for k, v in params.items() if v is not None),
                                   quote_via=quote)
        data = json.dumps(body).encode() if body is not None else b""
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        hdrs.update(headers or {})
        signed = AWSRequest(method=method, url=url, data=data, headers=hdrs)
        SigV4Auth(self.credentials(), SERVICE, self.region).add_auth(signed)
        try:
            raw = requests.request(method, url, data=data, headers=dict(signed.headers.items()),
                                   timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise ConnectionFailed(self.endpoint, _connection_reason(exc)) from None
        except requests.Timeout:
            raise ConnectionFailed(self.endpoint, f"no answer within {self.timeout}s") from None
        except requests.RequestException as exc:
            raise ConnectionFailed(self.endpoint, str(exc)) from None
        parsed = _json_or_text(raw)
        if raw.status_code >= 400:
            raise ApiError(raw.status_code, parsed, method, path, dict(raw.headers))
        return Response(raw.status_code, parsed if raw.content else None, raw.headers)

    def get(self, path: str, params: dict | None = None) -> Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: object = None, params: dict | None = None) -> Response:
        return self.request("POST", path, body, params=params)

    def put(self, path: str, body: object, headers: dict | None = None,
            params: dict | None = None) -> Response:
        return self.request("PUT", path, body, params=params, headers=headers)

    def delete(self, path: str, params: dict | None = None) -> Response:
        return self.request("DELETE", path, params=params)


def _json_or_text(raw):
    if not raw.content:
        return {}
    try:
        parsed = raw.json()
    except ValueError:
        return {"error": raw.text.strip()[:2000] or raw.reason}
    return parsed if isinstance(parsed, dict) else {"items": parsed}


def _connection_reason(exc):
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "unknown host name"
    if "timed out" in text.lower():
        return "timed out"
    return text
