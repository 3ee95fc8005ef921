"""Fetch a git source with dulwich (no git binary, so it runs in Lambda).

A depth-1 fetch of the tag, branch, full ref or commit asked for (HEAD when none) into a throw-away
bare repository, then the tree is written out directly, so no ``.git`` ever reaches the scratch
directory. With the previous release's commit (``job.since``) the clone is deepened (8, 64, 512,
... commits, at most ``FABU_GIT_HISTORY_DEPTH``, default 1000) just until that commit is in it, to
list the commits between them. Submodules are skipped. Credentials become HTTP basic auth (username
``x-access-token`` when only a token is given).

Over http(s) dulwich gets ``netclients.pool_manager``: connections only to addresses the network
rule allows (pinned: no second lookup), redirects re-checked, credentials kept to their origin.
git:// and ssh open their own connections: their host is checked right before the fetch.
"""
import contextlib
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from chalicelib import config, netclients, netguard
from chalicelib.build import provenance
from chalicelib.build.sources.base import Budget, Job, SourceError, host_port, redact

_NETWORK_ERRORS = {"MaxRetryError", "NewConnectionError", "ConnectTimeoutError",
                   "ReadTimeoutError", "ProtocolError", "ConnectionRefusedError",
                   "TimeoutError", "gaierror"}


class _RefNotFound(Exception):
    """Raised inside dulwich's determine_wants to stop before any object is fetched."""


def fetch(job: Job, dest: Path) -> dict:
    """Write the tree of `job.ref` (HEAD when None) of the repository at `job.url` into `dest`.

    Returns the provenance record: the commit the ref resolved to and, with `job.since`, the
    commits since that one (``_changes``).
    """
    from dulwich.repo import Repo

    client, path = _git_client(job)
    if not job.url.startswith(("http://", "https://", "file://")):
        _check_unpinned(job)
    chosen = {}

    def determine_wants(refs, depth=None):
        sha = pick_ref(refs, job.ref)
        if sha is None:
            raise _RefNotFound()
        chosen["sha"] = sha
        return [sha.encode()]

    with tempfile.TemporaryDirectory(prefix="fabu-git-") as gitdir:
        repo = Repo.init_bare(gitdir)
        try:
            with _socket_timeout(job.timeout):
                client.fetch(path, repo, determine_wants=determine_wants, depth=1)
        except Exception as exc:
            raise _fetch_error(exc, job) from None
        commit = _peel(repo, chosen["sha"])
        _write_tree(repo, repo[commit.tree], dest, job.budget)
        head = commit.id.decode()
        entry = provenance.commit_entry(head, commit)
        found = provenance.record("git", redact(job.url), ref=job.ref or "HEAD", revision=head,
                                  commit=head, subject=entry["subject"], author=entry["author"],
                                  date=entry["date"])
        if job.since:
            found["changes"] = _changes(client, path, repo, head, job)
        return found


def _changes(client, path, repo, head: str, job: Job) -> dict:
    """The commits since `job.since`: deepen the shallow clone step by step (8x each time, at
    most ``FABU_GIT_HISTORY_DEPTH`` commits deep) until that commit is in it or it is complete."""
    previous = job.since.lower()
    if previous == head:
        return {"total": 0, "truncated": False, "commits": []}
    cap, depth = max(1, config.int_setting("FABU_GIT_HISTORY_DEPTH", 1000)), 1
    while not _has(repo, previous) and repo.get_shallow() and depth < cap:
        depth = min(cap, depth * 8)
        try:
            with _socket_timeout(job.timeout):
                client.fetch(path, repo, determine_wants=lambda refs, depth=None: [head.encode()],
                             depth=depth)
        except Exception as exc:  # noqa: BLE001 - the tree is built: say why the list is missing
            reason = exc.message if isinstance(exc, SourceError) else network_reason(str(exc))
            return {"changes_unknown": provenance.clip(
                f"could not fetch the history since {previous[:12]}: {reason}", "note")}
    if _has(repo, previous):
        return provenance.commits_between(lambda sha: _commit_or_none(repo, sha), head, previous)
    if not repo.get_shallow():
        why = f"previous commit {previous[:12]} is not an ancestor of {head[:12]}"
    else:
        why = (f"previous commit {previous[:12]} is not among the {depth} newest commits of "
               f"{head[:12]} (FABU_GIT_HISTORY_DEPTH)")
    return {"changes_unknown": why}


def _has(repo, sha: str) -> bool:
    return sha.encode() in repo.object_store


def _commit_or_none(repo, sha: str):
    """The commit `sha` of the fetched history; None past its shallow end."""
    from dulwich.objects import Commit
    try:
        obj = repo.object_store[sha.encode()]
    except KeyError:
        return None
    return obj if isinstance(obj, Commit) else None


def pick_ref(refs: dict, ref: str | None) -> str | None:
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


def network_reason(text: str) -> str:
    """The "[Errno 111] Connection refused" at the heart of a urllib3 retry message."""
    found = re.search(r"\[Errno -?\d+\] [^\"')]+", text)
    return found.group(0) if found else text


def _git_client(job):
    from dulwich.client import get_transport_and_path
    kwargs = {}
    if job.creds:
        kwargs = {"username": job.creds.username or "x-access-token", "password": job.creds.password}
    if job.url.startswith(("http://", "https://")):
        from dulwich.client import default_user_agent_string
        kwargs["pool_manager"] = netclients.pool_manager(
            job.timeout, headers={"User-agent": default_user_agent_string()})
    return get_transport_and_path(job.url, **kwargs)


def _check_unpinned(job):
    """git:// and ssh resolve the host themselves: check it right before they do."""
    try:
        netguard.check_url(job.url, timeout=job.timeout)
    except OSError as exc:
        raise SourceError(f"could not connect to {host_port(job.url)}: {exc}",
                          retryable=True) from None


def _fetch_error(exc, job):
    """The SourceError a failed dulwich fetch means; re-raises what is no fetch failure."""
    from dulwich.client import HTTPUnauthorized
    from dulwich.errors import GitProtocolError, NotGitRepository

    shown, where = redact(job.url), host_port(job.url)
    if isinstance(exc, _RefNotFound):
        return SourceError(f"git ref {job.ref or 'HEAD'!r} not found in {shown}")
    if isinstance(exc, HTTPUnauthorized):
        return SourceError(f"authentication failed for {shown}")
    if isinstance(exc, NotGitRepository):
        return SourceError(f"{shown} is not a git repository")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return SourceError(f"timed out after {job.timeout}s fetching {shown}", retryable=True)
    if isinstance(exc, (ConnectionError, socket.gaierror)):
        return SourceError(f"could not connect to {where}: {exc}", retryable=True)
    if isinstance(exc, GitProtocolError):
        text = str(exc)
        if _is_network_error(exc) or "Max retries exceeded" in text:
            return SourceError(f"could not connect to {where}: {network_reason(text)}",
                               retryable=True)
        if "401" in text or "403" in text or "uthenticat" in text:
            return SourceError(f"authentication failed for {shown}")
        if "not found" in text.lower() or "404" in text:
            return SourceError(f"{shown} is not a git repository (or not readable)")
        return SourceError(f"git fetch from {shown} failed: {text}", retryable=True)
    if _is_network_error(exc):  # urllib3/dulwich raise many kinds for a dead host
        return SourceError(f"could not connect to {where}: {network_reason(str(exc))}",
                           retryable=True)
    raise exc


def _peel(repo, sha):
    from dulwich.objects import Commit, Tag
    obj = repo[sha.encode() if isinstance(sha, str) else sha]
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise SourceError(f"git ref points at a {obj.type_name.decode()}, not a commit")
    return obj


def _write_tree(repo, tree, dest: Path, budget: Budget):
    for entry in tree.items():
        name = entry.path.decode("utf-8", "surrogateescape")
        if name in ("", ".", "..", ".git") or "/" in name:
            raise SourceError(f"git tree has an unsafe entry name {name!r}")
        target = dest / name
        if stat.S_ISDIR(entry.mode):
            target.mkdir()
            _write_tree(repo, repo[entry.sha], target, budget)
        elif stat.S_ISLNK(entry.mode):
            os.symlink(repo[entry.sha].data, target)
        elif stat.S_ISREG(entry.mode):
            data = repo[entry.sha].data
            budget.take(len(data))
            target.write_bytes(data)
            target.chmod(0o755 if entry.mode & 0o111 else 0o644)
        # else: a submodule (gitlink); its commit lives in another repository.


def _is_network_error(exc):
    return bool({type(e).__name__ for e in _causes(exc)} & _NETWORK_ERRORS)


def _causes(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound plain-socket transports (git://) that take no timeout of their own."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _text(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
