"""The local stage's principals file: which access keys exist and which ARN each stands for.

``${FABU_PRINCIPALS:-.fabu/principals.json}`` maps access key ids to credentials::

    {"AKIA...": {"secret_access_key": "...", "arn": "arn:aws:iam::000000000000:user/...",
                 "session_token": "<optional: requests must then carry it>"}}

Reads are cached and re-parsed only when the file's inode, size or mtime changes (one ``stat``
per request). Writes go to a temporary file renamed over the original, under a lock, so a
reader never sees half a file and two writers never lose each other's key.
"""

import contextlib
import fcntl
import json
import os
import secrets
import string
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping

from chalicelib.auth.sigv4 import AuthError, Principal

DEFAULT_PATH = ".fabu/principals.json"
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class PrincipalsError(AuthError):
    """The principals file exists but cannot be read or parsed."""


class PrincipalStore:
    """Looks principals up in one file, re-reading it only when it changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._principals: Mapping[str, Principal] = {}

    def lookup(self, access_key_id: str) -> Principal | None:
        """The principal for this access key id, or None when the key is not listed."""
        return self._current().get(access_key_id)

    def _current(self) -> Mapping[str, Principal]:
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return self._principals
        with self._lock:
            if stamp != self._stamp:
                self._principals = _load(self.path) if stamp is not None else {}
                self._stamp = stamp
            return self._principals


_stores: dict[str, PrincipalStore] = {}
_stores_lock = threading.Lock()


def principals_path() -> str:
    """Where the principals file is, from ``FABU_PRINCIPALS``."""
    return os.environ.get("FABU_PRINCIPALS") or DEFAULT_PATH


def default_store() -> PrincipalStore:
    """The shared store for the file ``FABU_PRINCIPALS`` names now (one per path, cached)."""
    path = os.path.abspath(principals_path())
    store = _stores.get(path)
    if store is None:
        with _stores_lock:
            store = _stores.setdefault(path, PrincipalStore(path))
    return store


def lookup(access_key_id: str) -> Principal | None:
    """Look an access key id up in the current principals file."""
    return default_store().lookup(access_key_id)


def add_principal(
    arn: str,
    *,
    path: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
) -> Principal:
    """Add (or replace) one principal in the file atomically; mint the keys when not given."""
    principal = Principal(
        access_key_id=access_key_id or _new_access_key_id(),
        secret_access_key=secret_access_key or _new_secret_access_key(),
        arn=arn,
        session_token=session_token,
    )
    target = path or principals_path()
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    with _exclusive_lock(target):
        data = _read_json(target) if os.path.exists(target) else {}
        data[principal.access_key_id] = _to_json(principal)
        _atomic_write(target, data)
    return principal


def remove_principals(path: str, chosen: Callable[[str, dict], bool]) -> list[tuple[str, str]]:
    """Remove, atomically, the entries ``chosen(access_key_id, entry)`` picks; ``[(key, arn)]``."""
    if not os.path.exists(path):
        return []
    with _exclusive_lock(path):
        data = _read_json(path)
        removed = [(key, entry.get("arn", "")) for key, entry in data.items()
                   if isinstance(entry, dict) and chosen(key, entry)]
        if removed:
            gone = {key for key, _ in removed}
            _atomic_write(path, {k: v for k, v in data.items() if k not in gone})
    return removed


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _load(path: str) -> dict[str, Principal]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise PrincipalsError(f"principals file {path} must hold a JSON object")
    return {key_id: _from_json(path, key_id, entry) for key_id, entry in data.items()}


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        # Name the error class only: a JSON parser's message can quote the file, i.e. a secret.
        reason = exc.__class__.__name__
        raise PrincipalsError(f"cannot read principals file {path}: {reason}") from None


def _from_json(path: str, key_id: str, entry: object) -> Principal:
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("secret_access_key"), str)
        and isinstance(entry.get("arn"), str)
        and isinstance(entry.get("session_token", ""), str)
    ):
        raise PrincipalsError(
            f"principals file {path}: entry {key_id} needs string secret_access_key and arn"
        )
    return Principal(
        access_key_id=key_id,
        secret_access_key=entry["secret_access_key"],
        arn=entry["arn"],
        session_token=entry.get("session_token") or None,
    )


def _to_json(principal: Principal) -> dict[str, str]:
    entry = {"secret_access_key": principal.secret_access_key, "arn": principal.arn}
    if principal.session_token:
        entry["session_token"] = principal.session_token
    return entry


def _atomic_write(path: str, data: Mapping) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".principals-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


@contextlib.contextmanager
def _exclusive_lock(path: str) -> Iterator[None]:
    """flock on ``<path>.lock`` so concurrent writers serialise their read-modify-write."""
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _new_access_key_id() -> str:
    # Shaped like a real long-term key id (AKIA + 16), so tools that check the shape accept it.
    return "AKIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))


def _new_secret_access_key() -> str:
    # AWS's own shape (40 base64 characters): never starts with "-", which CLIs read as an option.
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
