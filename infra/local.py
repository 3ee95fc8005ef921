"""Where the local stack keeps its files, and the locks that keep two runs off the same files.

Everything ``make run``, ``make hosts`` and ``make wipe`` write lives under one directory,
``$FABU_HOME`` (default ``.fabu/`` in the repository):

==========================  =====================================================================
``principals.json``         the local SigV4 keys, admin and hosts (``FABU_PRINCIPALS`` overrides)
``credentials``             the admin key as AWS profile ``fabu-admin``
``state/``                  the saved data of the emulator (``FABU_STATE_DIR`` overrides)
``hosts/<name>/``           one sandbox host of ``make hosts``: ``agent.env``, ``root/``, ``agent.log``
``moto.log``, ``api.log``   what the emulator and ``chalice local`` print
``front.log``               what the host protocol's local Function URL front prints
``run.lock``, ``hosts.lock`` held while ``make run`` / ``make hosts`` run
==========================  =====================================================================
"""
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Busy(Exception):
    """Another process holds the lock; the message says which command and how to go on."""


def home() -> Path:
    """``$FABU_HOME``, default ``<repository>/.fabu`` (absolute)."""
    return Path(os.environ.get("FABU_HOME") or ROOT / ".fabu").resolve()


def state_dir() -> Path:
    """Where the emulator's data is saved: ``$FABU_STATE_DIR``, default ``$FABU_HOME/state``."""
    return Path(os.environ.get("FABU_STATE_DIR") or home() / "state").resolve()


def hosts_dir() -> Path:
    """Where ``make hosts`` keeps its sandbox hosts: ``$FABU_HOME/hosts``."""
    return home() / "hosts"


def principals_path() -> Path:
    """The local keys: ``$FABU_PRINCIPALS``, default ``$FABU_HOME/principals.json`` (absolute)."""
    return Path(os.environ.get("FABU_PRINCIPALS") or home() / "principals.json").resolve()


def credentials_path() -> Path:
    return home() / "credentials"


def api_port() -> int:
    """``FABU_API_PORT``, default 8000 (checked by ``make run``)."""
    return int(os.environ.get("FABU_API_PORT") or 8000)


def front_port() -> int:
    """The local Function URL front's port: ``FABU_HOST_FRONT_PORT``, default API port + 1."""
    return int(os.environ.get("FABU_HOST_FRONT_PORT") or api_port() + 1)


def front_url(region: str = "us-east-1") -> str:
    """``http://fabu.lambda-url.<region>.localhost:<port>``: a Function URL's host shape (the
    agent signs for service ``lambda``), which curl resolves to this machine."""
    return f"http://fabu.lambda-url.{region}.localhost:{front_port()}"


def hosts_api_url(region: str = "us-east-1") -> str:
    """Where ``make hosts`` points its agents: the local Function URL front with
    ``FABU_HOSTS_FRONT=url`` (``make hosts FRONT=url``), else the REST API."""
    if os.environ.get("FABU_HOSTS_FRONT") == "url":
        return front_url(region)
    return f"http://127.0.0.1:{api_port()}"


@contextlib.contextmanager
def exclusive(name: str, what: str) -> Iterator[None]:
    """Hold ``$FABU_HOME/<name>`` (flock) for the block; ``Busy`` naming ``what`` when taken.

    The kernel drops the lock when its process dies, so a crashed run never leaves it behind.
    """
    directory = home()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise Busy(f"{what} is already running with {directory} ({holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def is_locked(name: str) -> bool:
    """True while some process holds ``$FABU_HOME/<name>``."""
    path = home() / name
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False
