"""AWS faults on demand: an HTTP proxy in front of the suite's moto server, and a stack behind it.

``FaultProxy`` listens on 127.0.0.1 and forwards every request (DynamoDB, S3, SQS, ...) to moto
unchanged. While a rule is armed, the DynamoDB calls it matches are answered by the proxy
instead, exactly as DynamoDB answers them:

* ``throttle(match)``: HTTP 400 ``ProvisionedThroughputExceededException`` (the JSON body,
  ``x-amzn-RequestId`` and ``x-amz-crc32`` headers of the real service); nothing reaches moto.
  botocore retries it (PynamoDB's models: 5 attempts with backoff, a few seconds), then the
  caller sees the error.
* ``lose_responses(match)``: the call IS forwarded to moto (it takes effect), then the answer is
  replaced by HTTP 500 ``InternalServerError``, as when a response is lost after DynamoDB
  committed: botocore retries the call itself.

``match`` is a predicate on a ``Call`` (``operation`` from ``X-Amz-Target``, ``tables`` from the
body, every table of a ``TransactWriteItems``/``BatchWriteItem`` included, and the parsed
``body``); ``writes_to("reports")`` matches every write touching a table named ``*-reports``.
``limit=n`` disarms a rule after n hits; ``first_per_key(n, key)`` matches the first n calls of
each ``key(call)``. ``proxy.refused`` lists the calls answered with a fault, ``proxy.calls``
every DynamoDB call seen (with ``forwarded`` and ``status``).

Fixtures (import them into a test module: ``from tests.support.faults import faulty``):
``fault_proxy`` (session) is the proxy; ``faulty_stack`` (session) is a second
``chalice local --stage local`` whose ``AWS_ENDPOINT_URL`` is the proxy (a ``LiveStack`` with
``.faults``); ``faulty`` is that stack with clean data and no rule armed, for one test. The
in-process code of the test itself (``live.tick()``, models) still talks to moto directly.
In-process faults (a ``before-call`` botocore hook) are the other way to inject AWS errors.
"""
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ADMIN_ARN, ADMIN_KEY, ADMIN_SECRET, ROOT, LiveStack, free_port

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection", "content-length"}
_THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
              "message": "The level of configured provisioned throughput for the table was "
                         "exceeded. Consider increasing your provisioning level with the "
                         "UpdateTable API."}
_INTERNAL = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
             "message": "Internal server error"}


@dataclass
class Call:
    """One DynamoDB call through the proxy."""
    operation: str
    tables: frozenset
    body: dict
    forwarded: bool = True
    status: int | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def is_write(self) -> bool:
        return self.operation in WRITES

    def touches(self, *suffixes: str) -> bool:
        """True when one of the call's tables is named ``<prefix>-<stage>-<suffix>``."""
        return any(table.endswith(f"-{suffix}") for table in self.tables for suffix in suffixes)


def writes_to(*suffixes: str) -> Callable[[Call], bool]:
    """Match every write (put, update, delete, batch, transaction) touching one of the tables."""
    return lambda call: call.is_write and call.touches(*suffixes)


def first_per_key(count: int, key: Callable[[Call], object],
                  match: Callable[[Call], bool] = lambda call: True) -> Callable[[Call], bool]:
    """Match the first ``count`` calls (among those ``match`` accepts) of each ``key(call)``."""
    seen: dict = {}
    lock = threading.Lock()

    def predicate(call):
        if not match(call):
            return False
        name = key(call)
        with lock:
            seen[name] = seen.get(name, 0) + 1
            return seen[name] <= count
    return predicate


class Rule:
    """One armed fault: ``action`` on the calls ``match`` accepts, at most ``limit`` times."""

    def __init__(self, action: str, match: Callable[[Call], bool], limit: int | None):
        self.action, self.match, self.limit = action, match, limit
        self.hits: list[Call] = []

    @property
    def armed(self) -> bool:
        return self.limit is None or len(self.hits) < self.limit


class FaultProxy:
    """The proxy (a thread on a free 127.0.0.1 port) in front of ``upstream`` (moto's URL)."""

    def __init__(self, upstream: str):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.calls: list[Call] = []
        self.refused: list[Call] = []
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def throttle(self, match: Callable[[Call], bool] = writes_to("reports"), *,
                 limit: int | None = None) -> Rule:
        """Answer matching DynamoDB calls with ``ProvisionedThroughputExceededException``."""
        return self._arm(Rule("throttle", match, limit))

    def lose_responses(self, match: Callable[[Call], bool], *, limit: int | None = None) -> Rule:
        """Forward matching calls to moto, then answer ``InternalServerError`` (500)."""
        return self._arm(Rule("lose", match, limit))

    def disarm(self) -> None:
        """Remove every rule (what was counted stays until ``reset``)."""
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """No rule and nothing counted."""
        with self._lock:
            self._rules.clear()
            self.calls.clear()
            self.refused.clear()

    def writes(self, *suffixes: str, forwarded_only: bool = True) -> list[Call]:
        """The write calls seen touching the tables ``suffixes`` (those moto got, by default)."""
        with self._lock:
            return [c for c in self.calls if c.is_write and c.touches(*suffixes)
                    and (c.forwarded or not forwarded_only)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _arm(self, rule):
        with self._lock:
            self._rules.append(rule)
        return rule

    def _decide(self, call):
        """The rule that takes ``call`` (its hit counted), or None."""
        with self._lock:
            self.calls.append(call)
            for rule in self._rules:
                if rule.armed and rule.match(call):
                    rule.hits.append(call)
                    if rule.action == "throttle":
                        call.forwarded = False
                        self.refused.append(call)
                    return rule
        return None


def _dynamodb_call(headers, body):
    """The ``Call`` of a DynamoDB request, or None for any other service."""
    target = headers.get("X-Amz-Target") or ""
    if not target.startswith("DynamoDB_"):
        return None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {}
    tables = set()
    if isinstance(data.get("TableName"), str):
        tables.add(data["TableName"])
    tables.update(data.get("RequestItems") or {})
    for entry in data.get("TransactItems") or []:
        for operation in entry.values():
            if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                tables.add(operation["TableName"])
    return Call(target.split(".", 1)[-1], frozenset(tables), data)


def _handler_for(proxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            body = self._read_body()
            call = _dynamodb_call(self.headers, body)
            rule = proxy._decide(call) if call is not None else None
            if rule is not None and rule.action == "throttle":
                call.status = 400
                return self._send_json(400, _THROTTLED)
            status, headers, answer = self._upstream(body)
            if call is not None:
                call.status = status
            if rule is not None and rule.action == "lose":
                call.status = 500
                return self._send_json(500, _INTERNAL)
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward

        def _read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _upstream(self, body):
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP and k.lower() != "expect"}
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            finally:
                connection.close()

        def _send_json(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", secrets.token_hex(26).upper())
            self.send_header("x-amz-crc32", str(zlib.crc32(data)))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class FaultyStack(LiveStack):
    """The live stack behind the proxy: ``faults`` is the ``FaultProxy``, ``log`` its API log."""

    def __init__(self, url, principals_path, faults, log):
        super().__init__(url, principals_path, faults.url)
        self.faults = faults
        self.log = log
        self._log_start = 0

    def mark(self) -> None:
        """Make ``answers`` count only what the API answers from now on."""
        self._log_start = self.log.stat().st_size

    def answers(self, path_part: str) -> list[int]:
        """The HTTP statuses the API answered (since ``mark``) to paths holding ``path_part``."""
        with open(self.log, "rb") as log:
            log.seek(self._log_start)
            text = log.read().decode(errors="replace")
        statuses = []
        for line in text.splitlines():
            if path_part in line and '" ' in line:
                code = line.rsplit('" ', 1)[1].split(" ", 1)[0]
                if code.isdigit():
                    statuses.append(int(code))
        return statuses


@pytest.fixture(scope="session")
def fault_proxy(moto_server):
    proxy = FaultProxy(moto_server["endpoint"])
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def faulty_stack(fault_proxy, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faulty")
    principals = workdir / "principals.json"
    principals.write_text(json.dumps({ADMIN_KEY: {"secret_access_key": ADMIN_SECRET,
                                                  "arn": ADMIN_ARN}}))
    port = free_port()
    env = dict(os.environ, AWS_ENDPOINT_URL=fault_proxy.url, FABU_PRINCIPALS=str(principals))
    log = workdir / "api.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "chalice"),
                                 "local", "--stage", "local", "--host", "127.0.0.1",
                                 "--port", str(port), "--no-autoreload"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v1/project", timeout=1)
        except urllib.error.HTTPError:
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"chalice local behind the fault proxy did not start: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
    yield FaultyStack(url, principals, fault_proxy, log)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def faulty(faulty_stack, aws):
    """The stack behind the proxy, with clean data and no fault armed (also after the test)."""
    faulty_stack.faults.reset()
    faulty_stack.mark()
    yield faulty_stack
    faulty_stack.faults.reset()
