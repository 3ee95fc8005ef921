"""``make run`` / ``python -m infra.run`` as a terminal runs it, for the tests of the local stack.

``StackProcess`` starts the command in a process group of its own (the terminal's foreground
group), with the suite's own AWS/FABU settings removed from its environment, a temporary
``FABU_HOME`` and free ports; reads its output as it comes; signs API calls with the admin key
the stack wrote to ``$FABU_HOME/credentials``; and stops it as Ctrl-C does: SIGINT to the group.
"""
import configparser
import json
import os
import signal
import subprocess
import sys
import threading
import time

import requests

from tests.conftest import ROOT, free_port

HOST_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/%s"


def clean_env(**extra):
    """The environment of a new terminal: no AWS_* or FABU_* of the test session."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "FABU_", "PYTEST_", "MAKE")) and k not in ("MFLAGS",)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def free_ports(count):
    """``count`` distinct free ports."""
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def port_open(port):
    import socket
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class StackProcess:
    """One run of a command of the local stack, its output collected line by line."""

    def __init__(self, argv, env, cwd=ROOT):
        self.argv, self.env, self.cwd = argv, env, cwd
        self.lines = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                     errors="replace", start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self):
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, text, timeout=120):
        """The first output line containing ``text``; fails (with the output) on exit or timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"{self.argv} exited ({self.proc.returncode}) before "
                                         f"printing {text!r}:\n{self.output_unlocked()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} within {timeout}s:\n{self.output_unlocked()}")
                self._changed.wait(min(left, 0.5))

    def output_unlocked(self):
        return "\n".join(self.lines[-80:])

    def interrupt(self, timeout=90):
        """Ctrl-C: SIGINT to the whole foreground group; returns the exit status."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.finish(timeout)

    def finish(self, timeout=90):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv} did not exit within {timeout}s:\n{self.output}")
        self._reader.join(timeout=10)
        return code

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


class LocalStack(StackProcess):
    """``python -m infra.run`` (or ``make run``) with its own FABU_HOME and ports."""

    def __init__(self, home, ports=None, argv=None, cwd=ROOT, **settings):
        self.home = home
        self.api_port, self.aws_port = ports or free_ports(2)
        env = clean_env(FABU_HOME=home, FABU_API_PORT=self.api_port, FABU_AWS_PORT=self.aws_port,
                        FABU_TICK_SECONDS=1, **settings)
        super().__init__(argv or [sys.executable, "-m", "infra.run"], env, cwd)
        self.url = f"http://127.0.0.1:{self.api_port}"

    def ready(self, timeout=180):
        self.wait_for("fabu: ticking the scheduled and queue handlers", timeout)
        return self

    def admin_key(self):
        parser = configparser.ConfigParser()
        parser.read(os.path.join(self.home, "credentials"))
        return parser["fabu-admin"]["aws_access_key_id"], parser["fabu-admin"]["aws_secret_access_key"]

    def request(self, method, path, body=None, key=None, secret=None, headers=None):
        """A SigV4-signed request (the admin's unless a key is given), as the CLI sends it."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        if key is None:
            key, secret = self.admin_key()
        data = json.dumps(body).encode() if body is not None else b""
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        req = AWSRequest(method=method, url=self.url + path, data=data, headers=hdrs)
        SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(req)
        return requests.request(method, self.url + path, data=data,
                                headers=dict(req.headers.items()), timeout=60)

    def add_host(self, host):
        """Mint a host key into this stack's principals file (as ``fabu local host-key``)."""
        from chalicelib.auth import principals
        minted = principals.add_principal(HOST_ARN % host,
                                          path=os.path.join(self.home, "principals.json"))
        return minted.access_key_id, minted.secret_access_key

    def emulator(self, service):
        """A boto3 client on this stack's emulator (storage-boundary setup and checks)."""
        import boto3
        return boto3.session.Session().client(
            service, endpoint_url=f"http://127.0.0.1:{self.aws_port}", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test")
