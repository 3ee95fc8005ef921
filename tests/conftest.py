"""Shared fixtures: one moto server per test session, the stack from infra/, signed clients.

The whole suite talks to a real moto *server* over HTTP through ``AWS_ENDPOINT_URL`` (the same
switch the app uses for LocalStack), on a free port so it never collides with ``make run``.
Resources come from ``infra/resources.json`` via ``infra.stack``. Between tests the data is
wiped (items, objects, messages), not the resources, which keeps each test fast.
"""
import copy
import datetime
import functools
import json
import logging
import os
import socket
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(1, os.path.join(ROOT, "cli"))  # this tree's CLI, in-process, whatever is installed


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The emulator must be known before any model is imported (table names/regions are read then).
_AWS_PORT = free_port()
ENDPOINT = "http://127.0.0.1:%d" % _AWS_PORT
ADMIN_KEY = "AKIAFABUTESTADMIN000"
ADMIN_SECRET = "test-admin-secret-key-0000000000000000000"
ADMIN_ARN = "arn:aws:iam::000000000000:user/fabu-admin"
STAGE_ENV = json.load(open(os.path.join(ROOT, ".chalice", "config.json")))["stages"]["local"][
    "environment_variables"]
os.environ.update(STAGE_ENV)
os.environ.update({"AWS_ENDPOINT_URL": ENDPOINT, "FABU_PREFIX": "fabu"})
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)


logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """moto's server in its own process (in-process ``mock_aws`` elsewhere cannot reset it):
    ``tests.support.emulator``."""
    import subprocess
    import time
    import urllib.request
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    # moto's server, with transactions that save only the items they touch (see the module)
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.emulator",
                             "-H", "127.0.0.1", "-p", str(_AWS_PORT)], stdout=log, stderr=log,
                            cwd=ROOT)
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(ENDPOINT + "/moto-api/", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("moto server did not start on %s" % ENDPOINT)
            time.sleep(0.1)
    from infra import stack
    created = stack.create_stack("fabu", "local")
    yield {"endpoint": ENDPOINT, "resources": created}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a client still holds a connection open: the data is moot
        proc.kill()
        proc.wait(timeout=10)


@functools.lru_cache(maxsize=None)
def boto_client(service):
    """A boto3 client for test setup and checks (cached: creating one costs ~0.1 s)."""
    import boto3
    return boto3.session.Session().client(service)


def _wipe(resources):
    """Empty the stack's tables, buckets and queues, and every SSM parameter and secret: one
    request to the suite's emulator (``tests.support.emulator.wipe``)."""
    import urllib.request
    names = {"tables": [v for k, v in resources.items() if k.endswith("Table")],
             "buckets": [resources["ReleaseBucket"], resources["UIBucket"]],
             "queues": [v.rsplit("/", 1)[-1] for k, v in resources.items() if k.endswith("Queue")]}
    request = urllib.request.Request(ENDPOINT + "/_fabu/wipe", data=json.dumps(names).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200, answer.read()


def put_items(table: str, items: list[dict]) -> int:
    """Put DynamoDB-JSON ``items`` straight into ``table`` (seeding at the storage boundary): one
    request to the suite's emulator per 10,000 items (``tests.support.emulator.put``)."""
    import urllib.request
    done = 0
    for start in range(0, len(items), 10_000):
        body = json.dumps({"table": table, "items": items[start:start + 10_000]}).encode()
        request = urllib.request.Request(ENDPOINT + "/_fabu/put", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            assert answer.status == 200, answer.read()
            done += json.loads(answer.read())["items"]
    return done


def drain(sqs, url):
    """Receive and delete every visible message (PurgeQueue is rate-limited to once a minute)."""
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  VisibilityTimeout=0).get("Messages", [])
        if not got:
            return messages
        messages.extend(got)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


@pytest.fixture
def aws(moto_server, tmp_path, monkeypatch):
    """A clean emulator (same resources, no data) and a principals file with one admin."""
    principals = tmp_path / "principals.json"
    principals.write_text(json.dumps({ADMIN_KEY: {"secret_access_key": ADMIN_SECRET, "arn": ADMIN_ARN}}))
    monkeypatch.setenv("FABU_PRINCIPALS", str(principals))
    _wipe(moto_server["resources"])
    yield dict(moto_server, principals=principals)


def add_principal(principals_path, key, secret, arn):
    data = json.loads(principals_path.read_text())
    data[key] = {"secret_access_key": secret, "arn": arn}
    principals_path.write_text(json.dumps(data))


class SignedClient:
    """``chalice.test.Client`` whose requests are SigV4-signed like curl or an SDK would sign."""

    def __init__(self, client, key, secret, region="us-east-1"):
        self.client, self.key, self.secret, self.region = client, key, secret, region

    def request(self, method, path, body=None, headers=None):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        hdrs = {"Content-Type": "application/json", "Host": "127.0.0.1"}
        hdrs.update(headers or {})
        request = AWSRequest(method=method, url="http://127.0.0.1" + path, data=data or b"", headers=hdrs)
        SigV4Auth(Credentials(self.key, self.secret), "execute-api", self.region).add_auth(request)
        response = self.client.http.request(method, path, headers=dict(request.headers.items()),
                                            body=data or b"")
        return Response(response)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class Response:
    def __init__(self, raw):
        self.status = raw.status_code
        from requests.structures import CaseInsensitiveDict
        self.headers = CaseInsensitiveDict(raw.headers)
        self.body = raw.body
        try:
            self.json = json.loads(raw.body) if raw.body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<Response %s %s>" % (self.status, self.body[:300])


@pytest.fixture
def chalice_client(aws):
    from chalice.test import Client
    from app import app
    with Client(app, stage_name="local", project_dir=ROOT) as client:
        yield client


@pytest.fixture
def api(chalice_client):
    """A client signed with the admin key."""
    return SignedClient(chalice_client, ADMIN_KEY, ADMIN_SECRET)


@pytest.fixture
def signed_client(chalice_client, aws):
    """``signed_client(arn)`` → a client signed with a fresh key mapped to ``arn``."""
    counter = [0]

    def make(arn):
        counter[0] += 1
        key = "AKIAFABUTEST%08d" % counter[0]
        add_principal(aws["principals"], key, "secret-%d" % counter[0], arn)
        return SignedClient(chalice_client, key, "secret-%d" % counter[0])
    return make


def base_project(**overrides):
    body = {"name": "web", "version": "1.0.0", "hosts": ["web-1.example.com", "web-2.example.com"],
            "scripts": {"start": "echo start", "stop": "echo stop"}}
    body.update(overrides)
    return copy.deepcopy(body)


@pytest.fixture
def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class LiveStack:
    """The real local stack: ``chalice local --stage local`` over HTTP on the suite's emulator."""

    def __init__(self, url, principals_path, endpoint):
        self.url, self.principals_path, self.endpoint = url, principals_path, endpoint

    def add_host(self, host):
        """Mint host credentials (as ``fabu local host-key`` does): ``(key, secret)``."""
        from chalicelib.auth import principals
        p = principals.add_principal("arn:aws:iam::000000000000:user/fabu-hosts/" + host,
                                     path=str(self.principals_path))
        return p.access_key_id, p.secret_access_key

    def request(self, method, path, body=None, key=ADMIN_KEY, secret=ADMIN_SECRET, headers=None):
        """A SigV4-signed request with ``requests`` (admin by default)."""
        import requests
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        data = json.dumps(body).encode() if body is not None else b""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        req = AWSRequest(method=method, url=self.url + path, data=data, headers=hdrs)
        SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(req)
        return requests.request(method, self.url + path, data=data,
                                headers=dict(req.headers.items()), timeout=30)

    def tick(self):
        """One round of the scheduled and queue handlers (what ``make run`` does every tick)."""
        return _ticker().run_once()


@functools.lru_cache(maxsize=None)
def _ticker():
    from app import app
    from infra.ticker import Ticker
    return Ticker(app, ROOT, sqs=boto_client("sqs"))


@pytest.fixture(scope="session")
def live_stack(moto_server, tmp_path_factory):
    import subprocess
    import time
    import urllib.request
    workdir = tmp_path_factory.mktemp("live")
    principals = workdir / "principals.json"
    principals.write_text(json.dumps({ADMIN_KEY: {"secret_access_key": ADMIN_SECRET, "arn": ADMIN_ARN}}))
    port = free_port()
    env = dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT, FABU_PRINCIPALS=str(principals))
    log = open(workdir / "api.log", "wb")
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "chalice"), "local",
                             "--stage", "local", "--host", "127.0.0.1", "--port", str(port),
                             "--no-autoreload"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/api/v1/project", timeout=1)
        except urllib.error.HTTPError:
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("chalice local did not start: %s" % (workdir / "api.log").read_text()[-2000:])
            time.sleep(0.2)
    yield LiveStack(url, principals, ENDPOINT)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def live(live_stack, aws):
    """The live stack with clean data."""
    return live_stack


@pytest.fixture(scope="session")
def host_front_url(live_stack, tmp_path_factory):
    """The local Function URL front (``infra.function_url``) on the live stack's emulator and
    principals file: its URL, ``http://fabu.lambda-url.us-east-1.localhost:<port>``."""
    import subprocess
    import time
    import urllib.request
    from infra.function_url import front_url
    port = free_port()
    env = dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT, FABU_PRINCIPALS=str(live_stack.principals_path))
    log = open(tmp_path_factory.mktemp("front") / "front.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "infra.function_url", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=1)
        except urllib.error.HTTPError:
            break  # it answers (403: unsigned)
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the local host front did not start on port %d" % port)
            time.sleep(0.1)
    yield front_url(port, "us-east-1")
    proc.terminate()
    proc.wait(timeout=10)


#: Files that take minutes (real processes: ``make run``, agents, Chromium, the 100-host fleet),
#: run first: pytest-xdist hands out whole files in collection order, and one of these started
#: last would keep the suite waiting on it alone.
SLOW_FIRST = ("tests/infra/test_quickstart.py", "tests/infra/test_restart.py", "tests/web/",
              "tests/infra/test_demo.py", "tests/rollout/test_fleet.py",
              "tests/hosts/test_host_e2e.py", "tests/infra/test_package.py",
              "tests/hosts/test_function_url_e2e.py",
              "tests/api/test_project_hosts.py", "tests/fleet/test_fleet_e2e.py",
              "tests/rollout/test_drain_e2e.py", "tests/hosts/test_config_e2e.py",
              "tests/rollout/test_promotion_e2e.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        path = os.path.relpath(str(item.fspath), ROOT)
        return next((i for i, prefix in enumerate(SLOW_FIRST) if path.startswith(prefix)),
                    len(SLOW_FIRST))
    items.sort(key=rank)  # stable: every other file, and the tests in each file, keep their order
