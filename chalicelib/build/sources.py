"""Materialise a project's ``source`` into a scratch directory: git, svn, ftp(s), http(s), s3.

``source = {"type": "git"|"svn"|"ftp"|"http"|"s3", "url": ..., "ref": ..., "credentials": ...}``.
``credentials`` is a reference resolved at fetch time (``chalicelib.secrets``), never a value.

* git  — dulwich (no git binary, so it runs in Lambda): a depth-1 fetch of the tag, branch, full
  ref or commit asked for (HEAD when none) into a throw-away bare repository, then the tree is
  written out directly, so no ``.git`` ever reaches the scratch directory. Submodules are skipped.
* svn  — ``svn export`` (``ref`` is a revision); fails clearly when the binary is missing.
* ftp/ftps — ftplib: one file, or a directory tree when the path is a directory.
* http/https — urllib: one file.
* s3   — ``s3://bucket/key`` (one object) or ``s3://bucket/prefix/`` (every object under it).

A single file named ``*.tar.gz``, ``*.tgz``, ``*.tar`` or ``*.zip`` is unpacked (no absolute
paths, no ``..``, no links leaving the tree); an archive holding one top-level directory is
unpacked from inside it, like the archives code forges publish. Every failure is a
``SourceError`` whose message a user can act on; ``retryable`` is True only when trying again
later could help (timeouts, refused connections, server errors). Secrets never appear in a
message: URLs are shown without their user-info.
"""
import ftplib
import gzip
import os
import posixpath
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

import botocore.exceptions

from chalicelib import aws, secrets
from chalicelib.errors import FabuError

DEFAULT_TIMEOUT = 60
DEFAULT_MAX_BYTES = 4 * 1024 ** 3
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_CHUNK = 1024 * 1024


class SourceError(FabuError):
    """The source could not be fetched; `retryable` says whether a later attempt may succeed."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


def fetch(source: dict, dest, *, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES) -> Path:
    """Fetch `source` into the (existing, empty) directory `dest`; return `dest`.

    `timeout` bounds every network operation (seconds); `max_bytes` bounds what is downloaded
    and what an archive unpacks to.
    """
    dest = Path(dest)
    kind = (source.get("type") or "").lower()
    url = source.get("url") or ""
    fetcher = _FETCHERS.get(kind)
    if fetcher is None:
        raise SourceError(f"unknown source type {kind!r}; use one of {', '.join(sorted(_FETCHERS))}")
    if not url:
        raise SourceError("the source has no url")
    if urllib.parse.urlsplit(url).password:
        raise SourceError("the source url contains a password: store it in SSM Parameter Store "
                          "or Secrets Manager and name it in source.credentials instead")
    creds = secrets.resolve_credentials(source.get("credentials"))
    fetcher(url, source.get("ref"), dest, creds, timeout, _Budget(max_bytes))
    return dest


def redact(url: str) -> str:
    """`url` without user-info, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class _Budget:
    """Counts bytes written to the scratch dir and stops at the limit."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.used = 0

    def take(self, n):
        self.used += n
        if self.max_bytes is not None and self.used > self.max_bytes:
            raise SourceError(f"the source is larger than the {self.max_bytes}-byte limit "
                              "(FABU_MAX_SOURCE_BYTES)")


# --- git -------------------------------------------------------------------------------------

def _fetch_git(url, ref, dest, creds, timeout, budget):
    from dulwich.client import HTTPUnauthorized, get_transport_and_path
    from dulwich.errors import GitProtocolError, NotGitRepository
    from dulwich.repo import Repo

    shown = redact(url)
    client, path = _git_client(url, creds, timeout, get_transport_and_path)
    chosen = {}

    def determine_wants(refs, depth=None):
        sha = _pick_git_ref(refs, ref)
        if sha is None:
            raise _RefNotFound()
        chosen["sha"] = sha
        return [sha.encode()]

    with tempfile.TemporaryDirectory(prefix="fabu-git-") as gitdir:
        repo = Repo.init_bare(gitdir)
        try:
            with _socket_timeout(timeout):
                client.fetch(path, repo, determine_wants=determine_wants, depth=1)
        except _RefNotFound:
            raise SourceError(f"git ref {ref or 'HEAD'!r} not found in {shown}") from None
        except HTTPUnauthorized:
            raise SourceError(f"authentication failed for {shown}") from None
        except NotGitRepository:
            raise SourceError(f"{shown} is not a git repository") from None
        except (socket.timeout, TimeoutError):
            raise SourceError(f"timed out after {timeout}s fetching {shown}", retryable=True) from None
        except (ConnectionError, socket.gaierror) as exc:
            raise SourceError(f"could not connect to {_host_port(url)}: {exc}", retryable=True) from None
        except GitProtocolError as exc:
            text = str(exc)
            if _is_network_error(exc) or "Max retries exceeded" in text:
                raise SourceError(f"could not connect to {_host_port(url)}: {_network_reason(text)}",
                                  retryable=True) from None
            if "401" in text or "403" in text or "uthenticat" in text:
                raise SourceError(f"authentication failed for {shown}") from None
            if "not found" in text.lower() or "404" in text:
                raise SourceError(f"{shown} is not a git repository (or not readable)") from None
            raise SourceError(f"git fetch from {shown} failed: {text}", retryable=True) from None
        except Exception as exc:  # urllib3/dulwich raise many kinds for a dead host
            if _is_network_error(exc):
                raise SourceError(f"could not connect to {_host_port(url)}: {_network_reason(str(exc))}",
                                  retryable=True) from None
            raise
        commit = _peel(repo, chosen["sha"])
        _write_git_tree(repo, repo[commit.tree], dest, budget)


class _RefNotFound(Exception):
    """Raised inside dulwich's determine_wants to stop before any object is fetched."""


def _git_client(url, creds, timeout, get_transport_and_path):
    kwargs = {}
    if creds:
        kwargs = {"username": creds.username or "x-access-token", "password": creds.password}
    if url.startswith(("http://", "https://")):
        from dulwich.client import default_urllib3_manager
        kwargs["pool_manager"] = default_urllib3_manager(None, timeout=timeout)
    return get_transport_and_path(url, **kwargs)


def _pick_git_ref(refs, ref):
    """The sha `ref` names among the advertised refs, git's own lookup order; None if absent."""
    refs = {_text(k): _text(v) for k, v in refs.items() if v is not None}
    if not ref:
        return refs.get("HEAD")
    for name in (ref, f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}"):
        if name in refs:
            return refs[name]
    if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref.lower()):
        return ref.lower()
    return None


def _peel(repo, sha):
    from dulwich.objects import Commit, Tag
    obj = repo[sha.encode() if isinstance(sha, str) else sha]
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise SourceError(f"git ref points at a {obj.type_name.decode()}, not a commit")
    return obj


def _write_git_tree(repo, tree, dest: Path, budget):
    for entry in tree.items():
        name = entry.path.decode("utf-8", "surrogateescape")
        if name in ("", ".", "..", ".git") or "/" in name:
            raise SourceError(f"git tree has an unsafe entry name {name!r}")
        target = dest / name
        if stat.S_ISDIR(entry.mode):
            target.mkdir()
            _write_git_tree(repo, repo[entry.sha], target, budget)
        elif stat.S_ISLNK(entry.mode):
            os.symlink(repo[entry.sha].data, target)
        elif stat.S_ISREG(entry.mode):
            data = repo[entry.sha].data
            budget.take(len(data))
            target.write_bytes(data)
            target.chmod(0o755 if entry.mode & 0o111 else 0o644)
        # else: a submodule (gitlink); its commit lives in another repository.


# --- svn -------------------------------------------------------------------------------------

def _fetch_svn(url, ref, dest, creds, timeout, budget):
    svn = shutil.which("svn")
    if svn is None:
        raise SourceError("svn not available on this builder")
    cmd = [svn, "export", "--force", "--quiet", "--non-interactive",
           "--config-option", f"servers:global:http-timeout={int(timeout)}"]
    if ref:
        cmd += ["--revision", str(ref)]
    secret = None
    if creds:
        cmd += ["--username", creds.username or "fabu", "--password-from-stdin", "--no-auth-cache"]
        secret = creds.password + "\n"
    cmd += [url, str(dest)]
    shown = redact(url)
    try:
        done = subprocess.run(cmd, input=secret, capture_output=True, text=True,
                              timeout=timeout * 10)
    except subprocess.TimeoutExpired:
        raise SourceError(f"timed out after {timeout * 10}s exporting {shown}", retryable=True) from None
    if done.returncode != 0:
        raise _svn_error(done.stderr.strip(), shown, ref)
    budget.take(sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink()))


def _svn_error(stderr, shown, ref):
    if any(code in stderr for code in ("E170001", "E215004", "Authentication failed")):
        return SourceError(f"authentication failed for {shown}")
    if any(code in stderr for code in ("E160013", "E170000", "E160006", "E195012", "E205000")):
        what = f"revision {ref!r} of {shown}" if ref else shown
        return SourceError(f"svn could not find {what}: {_last_line(stderr)}")
    if any(code in stderr for code in ("E170013", "E670002", "E120108", "E000111", "E175012")):
        return SourceError(f"could not connect to {shown}: {_last_line(stderr)}", retryable=True)
    return SourceError(f"svn export of {shown} failed: {_last_line(stderr)}")


def _last_line(text):
    return text.splitlines()[-1] if text else "no error output"


# --- ftp / ftps ------------------------------------------------------------------------------

def _fetch_ftp(url, ref, dest, creds, timeout, budget):
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or 21
    remote = urllib.parse.unquote(parts.path) or "/"
    ftp = ftplib.FTP_TLS(timeout=timeout) if parts.scheme == "ftps" else ftplib.FTP(timeout=timeout)
    try:
        try:
            ftp.connect(host, port)
        except (OSError, EOFError) as exc:
            raise SourceError(f"could not connect to {host}:{port}: {exc}", retryable=True) from None
        try:
            user = (creds.username if creds else None) or parts.username or "anonymous"
            ftp.login(user, creds.password if creds else "anonymous@")
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm:
            raise SourceError(f"authentication failed for {redact(url)}") from None
        _ftp_download(ftp, remote, dest, url, budget)
    except ftplib.error_perm as exc:
        raise SourceError(f"the FTP server refused {redact(url)}: {exc}") from None
    except (ftplib.error_temp, socket.timeout, TimeoutError, ConnectionError, EOFError) as exc:
        raise SourceError(f"FTP transfer from {host}:{port} failed: {exc}", retryable=True) from None
    finally:
        try:
            ftp.close()
        except OSError:
            pass


def _ftp_download(ftp, remote, dest, url, budget):
    try:
        ftp.cwd(remote)
    except ftplib.error_perm:
        name = posixpath.basename(remote.rstrip("/")) or "download"
        with _download_slot(dest, name) as tmp:
            with open(tmp, "wb") as out:
                ftp.retrbinary("RETR " + remote, _budgeted_writer(out, budget), blocksize=_CHUNK)
            _materialise(tmp, name, dest, budget)
        return
    _ftp_tree(ftp, remote.rstrip("/") or "/", dest, budget)


def _ftp_tree(ftp, remote, dest, budget):
    for name, is_dir in _ftp_list(ftp, remote):
        _check_name(name)
        child = posixpath.join(remote, name)
        if is_dir:
            (dest / name).mkdir()
            _ftp_tree(ftp, child, dest / name, budget)
        else:
            with open(dest / name, "wb") as out:
                ftp.retrbinary("RETR " + child, _budgeted_writer(out, budget), blocksize=_CHUNK)


def _ftp_list(ftp, remote):
    """(name, is_dir) of a directory: MLSD when the server has it, else NLST and a cwd probe."""
    try:
        return sorted((name, facts.get("type") == "dir") for name, facts in ftp.mlsd(remote)
                      if facts.get("type") in ("dir", "file"))
    except ftplib.error_perm:
        pass
    found = []
    for entry in ftp.nlst(remote):
        name = posixpath.basename(entry)
        if name in (".", ".."):
            continue
        try:
            ftp.cwd(posixpath.join(remote, name))
            found.append((name, True))
        except ftplib.error_perm:
            found.append((name, False))
    return sorted(found)


def _budgeted_writer(out, budget):
    def write(block):
        budget.take(len(block))
        out.write(block)
    return write


# --- http / https ----------------------------------------------------------------------------

def _fetch_http(url, ref, dest, creds, timeout, budget):
    shown = redact(url)
    request = urllib.request.Request(url, headers={"User-Agent": "fabu-builder"})
    if creds:
        request.add_header("Authorization", _http_auth(creds))
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path)) or "download"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, \
                _download_slot(dest, name) as tmp:
            with open(tmp, "wb") as out:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    budget.take(len(block))
                    out.write(block)
            _materialise(tmp, name, dest, budget)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise SourceError(f"authentication failed for {shown} (HTTP {exc.code})") from None
        if exc.code == 404:
            raise SourceError(f"{shown} not found (HTTP 404)") from None
        raise SourceError(f"{shown} answered HTTP {exc.code}", retryable=exc.code >= 500 or exc.code == 429) from None
    except urllib.error.URLError as exc:
        raise SourceError(f"could not connect to {_host_port(url)}: {exc.reason}", retryable=True) from None
    except (socket.timeout, TimeoutError):
        raise SourceError(f"timed out after {timeout}s reading {shown}", retryable=True) from None
    except (ConnectionError, ssl.SSLError) as exc:
        raise SourceError(f"download of {shown} failed: {exc}", retryable=True) from None


def _http_auth(creds):
    import base64
    if creds.username:
        pair = f"{creds.username}:{creds.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    return "Bearer " + creds.password


# --- s3 --------------------------------------------------------------------------------------

def _fetch_s3(url, ref, dest, creds, timeout, budget):
    parts = urllib.parse.urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    s3 = aws.client("s3")
    try:
        if key and not key.endswith("/") and _s3_exists(s3, bucket, key):
            name = posixpath.basename(key)
            with _download_slot(dest, name) as tmp:
                _s3_copy(s3, bucket, key, tmp, budget)
                _materialise(tmp, name, dest, budget)
            return
        prefix = key if not key or key.endswith("/") else key + "/"
        found = False
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if not rel or rel.endswith("/"):
                    continue
                target = _safe_join(dest, rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                _s3_copy(s3, bucket, obj["Key"], target, budget)
                found = True
        if not found:
            raise SourceError(f"nothing found at {url}")
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "403"):
            raise SourceError(f"the builder may not read {url}") from None
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            raise SourceError(f"nothing found at {url} ({code})") from None
        raise SourceError(f"could not read {url}: {code}", retryable=True) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise SourceError(f"could not read {url}: {exc}", retryable=True) from None


def _s3_exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _s3_copy(s3, bucket, key, target, budget):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with open(target, "wb") as out:
        for block in iter(lambda: body.read(_CHUNK), b""):
            budget.take(len(block))
            out.write(block)


# --- single files and archives ---------------------------------------------------------------

class _download_slot:
    """A temporary file outside `dest` to download into, removed afterwards."""

    def __init__(self, dest, name):
        self._dir = tempfile.mkdtemp(prefix="fabu-dl-", dir=Path(dest).parent)
        self.path = Path(self._dir) / "download"

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self._dir, ignore_errors=True)


def _materialise(path: Path, name: str, dest: Path, budget):
    """Unpack an archive into `dest`, or move a plain file there under its own name."""
    _check_name(name)
    lower = name.lower()
    if not lower.endswith(ARCHIVE_SUFFIXES):
        shutil.move(path, dest / name)
        return
    staging = Path(tempfile.mkdtemp(prefix="fabu-unpack-", dir=dest.parent))
    try:
        if lower.endswith(".zip"):
            _unzip(path, staging, name, budget)
        else:
            _untar(path, staging, name, budget)
        root = staging
        children = list(staging.iterdir())
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            root = children[0]
        for child in root.iterdir():
            shutil.move(child, dest / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _untar(path, staging, name, budget):
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            budget.take(sum(m.size for m in members if m.isfile()))
            # The "data" filter refuses absolute paths, "..", links leaving the tree and devices.
            tar.extractall(staging, filter="data")
    except tarfile.FilterError as exc:
        raise SourceError(f"archive {name} has an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(f"{name} is not a readable tar archive: {exc}") from None


def _unzip(path, staging, name, budget):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            budget.take(sum(i.file_size for i in infos))
            for info in infos:
                _unzip_member(zf, info, staging, name)
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{name} is not a readable zip archive: {exc}") from None


def _unzip_member(zf, info, staging, name):
    target = _safe_join(staging, info.filename, archive=name)
    mode = info.external_attr >> 16
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(mode):
        link = zf.read(info).decode("utf-8", "surrogateescape")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(info.filename), link))
        if posixpath.isabs(link) or resolved.startswith("../") or resolved == "..":
            raise SourceError(f"archive {name} has an unsafe entry: {info.filename!r} links "
                              f"outside the tree")
        os.symlink(link, target)
        return
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
    target.chmod(0o755 if mode & 0o111 else 0o644)


def _safe_join(root: Path, rel: str, archive=None) -> Path:
    """root/rel, refusing absolute paths, drive letters and `..` components."""
    parts = rel.replace("\\", "/").split("/")
    if rel.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        where = f"archive {archive}" if archive else "the source"
        raise SourceError(f"{where} has an unsafe entry: {rel!r}")
    return root.joinpath(*[p for p in parts if p not in ("", ".")])


def _check_name(name):
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise SourceError(f"the source has an unsafe file name {name!r}")


# --- helpers ---------------------------------------------------------------------------------

def _host_port(url):
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443, "ftp": 21, "ftps": 21, "git": 9418}.get(parts.scheme)
    port = parts.port or default
    return f"{parts.hostname}:{port}" if port else (parts.hostname or url)


def _is_network_error(exc):
    names = {type(e).__name__ for e in _causes(exc)}
    return bool(names & {"MaxRetryError", "NewConnectionError", "ConnectTimeoutError",
                         "ReadTimeoutError", "ProtocolError", "ConnectionRefusedError",
                         "TimeoutError", "gaierror"})


def _network_reason(text):
    """The "[Errno 111] Connection refused" at the heart of a urllib3 retry message."""
    found = re.search(r"\[Errno -?\d+\] [^\"')]+", text)
    return found.group(0) if found else text


def _causes(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


class _socket_timeout:
    """Bound plain-socket transports (git://) that take no timeout of their own."""

    def __init__(self, seconds):
        self._seconds = seconds

    def __enter__(self):
        self._previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self._seconds)

    def __exit__(self, *exc):
        socket.setdefaulttimeout(self._previous)


def _text(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


_FETCHERS = {"git": _fetch_git, "svn": _fetch_svn, "ftp": _fetch_ftp, "ftps": _fetch_ftp,
             "http": _fetch_http, "https": _fetch_http, "s3": _fetch_s3}
