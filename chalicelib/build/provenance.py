"""What a release's source resolved to (``Release.provenance``), its ``REVISION`` file, its changes.

A record is one JSON object, every string cut to a limit and nothing secret in it (URLs without
their user-info, never a credential)::

    {"type": "git", "url": "https://git.example.com/app.git", "ref": "v2.1",
     "revision": "<sha>", "commit": "<sha>", "subject": "...", "author": "Ann", "date": "...",
     "changes": {"previous_version": "2.0", "previous_commit": "<sha>", "total": 3,
                 "truncated": false, "commits": [{"sha", "subject", "author", "date"}, ...]}}

``revision`` is always the one string that names what was built (git sha, svn revision, http
ETag or Last-Modified, S3 version id or ETag, a CI commit); the source fetchers
(``chalicelib.build.sources``) fill the rest per kind. ``changes`` (git only) lists at most
``MAX_COMMITS`` commits since the project's previous ready git release, newest first, or says why
it cannot (``changes_unknown``). CI uploads carry ``{"type": "ci", ...}`` from their ``commit``.
"""
import datetime
import heapq
import re
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from chalicelib.times import format_time

#: The most commits a release lists as its changes (``truncated`` and ``total`` say the rest).
MAX_COMMITS = 100
#: The most commits walked to count them (a longer history is counted as "more than").
MAX_WALK = 10_000
#: How many older releases are looked at to find the previous git release.
MAX_PREVIOUS_LOOKUP = 50
#: Longest kept value of each field (characters); anything longer is cut.
LIMITS = {"sha": 64, "subject": 200, "author": 100, "date": 40, "url": 500, "ref": 255,
          "etag": 200, "last_modified": 64, "revision": 200, "version_id": 1024, "note": 300}
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")
_REVISION_NAME = "REVISION"


def clip(value: object, field: str) -> str | None:
    """``value`` as text of at most ``LIMITS[field]`` characters, one line (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value).split()) if field != "subject" else str(value).strip()
    text = text.splitlines()[0].strip() if text else text
    limit = LIMITS[field]
    return text if len(text) <= limit else text[:limit - 1] + "…"


def public_url(url: str) -> str:
    """``url`` without user-info, query or fragment (a token or a presigned signature)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def record(kind: str, url: str, **fields: object) -> dict:
    """A provenance record of ``kind``: ``url`` (``public_url``) and the non-empty ``fields``."""
    out = {"type": kind, "url": clip(public_url(url), "url")}
    for name, value in fields.items():
        if value is not None and value != "":
            out[name] = value if isinstance(value, (int, bool, dict, list)) else clip(
                value, name if name in LIMITS else "revision")
    return out


# ----------------------------------------------------------------------------- git commits

def commit_entry(sha: str, commit: Any) -> dict:
    """``{sha, subject, author, date}`` of a dulwich commit (author name only, date ISO 8601)."""
    name = commit.author.decode("utf-8", "replace").split(" <", 1)[0]
    when = datetime.datetime.fromtimestamp(commit.author_time, datetime.timezone.utc)
    message = commit.message.decode("utf-8", "replace").strip()
    return {"sha": clip(sha, "sha"), "subject": clip(message.splitlines()[0] if message else "",
                                                      "subject"),
            "author": clip(name, "author"), "date": format_time(when)}


def commits_between(lookup: Callable[[str], Any], head: str, previous: str) -> dict:
    """The commits reachable from ``head`` but not from ``previous``, newest first.

    ``lookup(sha)`` is a dulwich commit, or None where the fetched (shallow) history ends.
    ``{"total", "truncated", "commits"}`` (at most ``MAX_COMMITS``); ``total_at_least`` when the
    walk stopped at ``MAX_WALK`` commits.
    """
    excluded = _reachable(lookup, previous)
    seen, heap, counter, picked, total = {head}, [], 0, [], 0
    first = lookup(head)
    if first is not None and head not in excluded:
        heap.append((-first.commit_time, counter, head, first))
    while heap and total < MAX_WALK:
        _, _, sha, commit = heapq.heappop(heap)
        total += 1
        if len(picked) < MAX_COMMITS:
            picked.append(commit_entry(sha, commit))
        for parent in commit.parents:
            parent = parent.decode() if isinstance(parent, bytes) else parent
            if parent in seen or parent in excluded:
                continue
            seen.add(parent)
            found = lookup(parent)
            if found is not None:
                counter += 1
                heapq.heappush(heap, (-found.commit_time, counter, parent, found))
    out = {"total": total, "truncated": total > len(picked), "commits": picked}
    if heap:
        out["total_at_least"] = True
    return out


def _reachable(lookup, start):
    """Every sha reachable from ``start`` in the fetched history (bounded by ``MAX_WALK``)."""
    seen, todo = set(), [start]
    while todo and len(seen) < MAX_WALK:
        sha = todo.pop()
        if sha in seen:
            continue
        seen.add(sha)
        commit = lookup(sha)
        if commit is not None:
            todo.extend(p.decode() if isinstance(p, bytes) else p for p in commit.parents)
    return seen


def previous_git(release: Release) -> dict | None:
    """The project's newest ready git release created before ``release``: its provenance with
    ``version``; None when there is none among the ``MAX_PREVIOUS_LOOKUP`` before it."""
    older = Release.created_index.query(
        release.project, Release.created_at < release.created_at, scan_index_forward=False,
        limit=MAX_PREVIOUS_LOOKUP, page_size=MAX_PREVIOUS_LOOKUP)
    for item in older:
        prov = item.provenance or {}
        if (item.version != release.version and item.state == ReleaseState.READY
                and prov.get("type") == "git" and prov.get("commit")):
            return dict(prov, version=item.version)
    return None


def since_for(previous: dict | None, url: str) -> str | None:
    """The commit to list changes since: the previous release's, when it came from ``url``."""
    if previous and previous.get("url") == clip(public_url(url), "url"):
        return previous["commit"]
    return None


def finish(found: dict, previous: dict | None) -> dict:
    """``found`` (a fetcher's record) with its ``changes`` named after the previous release."""
    if found.get("type") != "git" or previous is None:
        found.pop("changes", None)
        return found
    base = {"previous_version": clip(previous["version"], "revision"),
            "previous_commit": previous["commit"]}
    changes = found.get("changes")
    if changes is None:  # the fetcher was not asked: the previous release came from elsewhere
        changes = {"changes_unknown": clip(
            f"the previous release {previous['version']} was built from another repository "
            f"({previous.get('url')})", "note")}
    found["changes"] = {**base, **changes}
    return found


# ----------------------------------------------------------------------------- CI uploads

def from_ci(commit: object) -> dict | None:
    """The record of a CI upload's ``commit: {sha, subject?, ref?, url?}``; 400 naming the field."""
    if commit is None:
        return None
    if not isinstance(commit, dict):
        raise ValidationError("commit must be an object {sha, subject?, ref?, url?}",
                              {"commit": "must be an object"})
    unknown = sorted(set(commit) - {"sha", "subject", "ref", "url"})
    if unknown:
        raise ValidationError(f"commit has unknown field {unknown[0]!r}",
                              {f"commit.{unknown[0]}": "is not a field of commit"})
    sha = commit.get("sha")
    if not isinstance(sha, str) or not _HEX.fullmatch(sha):
        raise ValidationError("commit.sha must be 7 to 64 hex digits",
                              {"commit.sha": "must be 7 to 64 hex digits"})
    for name, limit in (("subject", LIMITS["subject"]), ("ref", LIMITS["ref"]),
                        ("url", LIMITS["url"])):
        value = commit.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise ValidationError(f"commit.{name} must be a string of at most {limit} characters",
                                  {f"commit.{name}": f"must be a string of at most {limit} "
                                                     "characters"})
    url = commit.get("url")
    if url is not None and not re.fullmatch(r"https?://[^\s@/]+(/\S*)?", url):
        raise ValidationError("commit.url must be an http(s) URL without user-info",
                              {"commit.url": "must be an http(s) URL without user-info"})
    sha = sha.lower()
    out = {"type": "ci", "revision": sha, "commit": sha}
    for name in ("subject", "ref", "url"):
        if commit.get(name):
            out[name] = clip(commit[name], name)
    return out


# ----------------------------------------------------------------------------- REVISION, summaries

def revision_text(prov: dict) -> str:
    """The ``REVISION`` file: the revision on line 1, then ``key: value`` lines of the source.

    No project, version or build time: the same source gives the same bytes, and a promoted
    artifact stays byte-identical in every project it reaches.
    """
    lines = [prov.get("revision") or "unknown"]
    for key in ("type", "url", "ref", "commit", "subject", "author", "date", "etag",
                "last_modified", "version_id", "last_changed_revision"):
        if prov.get(key) not in (None, ""):
            lines.append(f"{key}: {prov[key]}")
    return "\n".join(lines) + "\n"


def write_revision_file(tree: Path, prov: dict) -> dict:
    """Write ``REVISION`` at the tree root; fabu's replaces the source's own (``prov["note"]``)."""
    target = Path(tree) / _REVISION_NAME
    if target.is_symlink() or target.is_file():
        target.unlink()
        prov["note"] = "the source's own REVISION file was replaced by fabu's"
    elif target.exists():
        shutil.rmtree(target)
        prov["note"] = "the source's own REVISION directory was replaced by fabu's REVISION file"
    target.write_text(revision_text(prov), encoding="utf-8")
    target.chmod(0o644)
    return prov


def describe(prov: dict | None) -> str | None:
    """One line: ``git abc1234 'subject'``, ``svn r42``, ``http ETag "x"``, ``ci abc1234``."""
    if not prov:
        return None
    kind, revision = prov.get("type"), prov.get("revision")
    if kind in ("git", "ci") and prov.get("commit"):
        subject = f" {prov['subject']!r}" if prov.get("subject") else ""
        return f"{kind} {prov['commit'][:7]}{subject}"
    if kind == "svn" and revision:
        return f"svn r{revision}"
    if prov.get("etag"):
        return f"{kind} ETag {prov['etag']}"
    if prov.get("last_modified"):
        return f"{kind} Last-Modified {prov['last_modified']}"
    return f"{kind} {revision}" if revision else kind


def summary(prov: dict | None) -> dict | None:
    """The record without its commit list (for lists and events): ``changes`` as counts."""
    if not prov:
        return None
    out = {k: v for k, v in prov.items() if k != "changes"}
    changes = prov.get("changes")
    if changes:
        out["changes"] = {k: v for k, v in changes.items() if k != "commits"}
    out["built_from"] = describe(prov)
    return out


# ----------------------------------------------------------------------------- notifications

#: Commit subjects a new rollout's notification lists (the rest is counted): ~8 KB at most.
NOTIFY_COMMITS = 20


def whats_changing(project: str, version: str | None) -> dict | None:
    """What a rollout of ``version`` brings, for its notifications: ``built_from``, ``revision``
    and, for git, the first ``NOTIFY_COMMITS`` commits since the previous release (``more``
    counts the rest); None when the release records no provenance."""
    if not version:
        return None
    try:
        release = Release.get(project, version)
    except Release.DoesNotExist:
        return None
    prov = release.provenance
    if not prov:
        return None
    changes = prov.get("changes") or {}
    commits = changes.get("commits") or []
    shown = [{"sha": c.get("sha", "")[:12], "subject": c.get("subject"), "author": c.get("author")}
             for c in commits[:NOTIFY_COMMITS]]
    out = {"built_from": describe(prov), "revision": prov.get("revision"), "commits": shown}
    if changes:
        total = changes.get("total", len(commits))
        out.update(previous_version=changes.get("previous_version"), total=total,
                   more=max(0, total - len(shown)))
        if changes.get("changes_unknown"):
            out["changes_unknown"] = changes["changes_unknown"]
    return out


def changing_text(changing: dict) -> str:
    """The lines a notification shows for ``whats_changing``."""
    lines = [f"Built from {changing['built_from']}."]
    if changing.get("changes_unknown"):
        lines.append(f"What's changing: unknown ({changing['changes_unknown']}).")
    elif changing.get("total") is not None:
        count = changing["total"]
        more = "more than " if count >= MAX_WALK else ""
        lines.append(f"What's changing since {changing.get('previous_version')}: {more}{count} "
                     f"commit{'' if count == 1 else 's'}")
        lines += [f"• {c['subject']} ({c['author']}, {c['sha'][:7]})"
                  for c in changing["commits"]]
        if changing.get("more"):
            lines.append(f"… and {changing['more']} more")
    return "\n".join(lines)
