"""Fetch an svn source with ``svn export`` (``ref`` is a revision); clear when svn is missing.

``svn info --xml`` resolves the revision first (the provenance record) and the export is pinned to
it. The password goes in on stdin (``--password-from-stdin``), never on the command line. The whole
export gets ten times the network timeout. svn's error codes decide the message and whether a retry
may help.

svn is a separate program that resolves and connects by itself, so its connection cannot be
pinned: the URL's host is checked against the network rule (``chalicelib.netguard``) right
before svn starts. What remains: a DNS answer that changes in the milliseconds between that check
and svn's own lookup, and whatever svn's configuration (proxies in ``~/.subversion/servers``)
does. ``file://`` works only in stage ``local``.
"""
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

from chalicelib import netguard
from chalicelib.build import provenance
from chalicelib.build.sources.base import Job, SourceError, host_port, redact

_AUTH_FAILED = ("E170001", "E215004", "Authentication failed")
_NOT_FOUND = ("E160013", "E170000", "E160006", "E195012", "E205000", "W160013", "W170000",
              "E200009")  # the W codes and E200009: ``svn info`` of a missing URL
_UNREACHABLE = ("E170013", "E670002", "E120108", "E000111", "E175012")


def fetch(job: Job, dest: Path) -> dict:
    """``svn export`` `job.url` (at revision `job.ref` when given) into `dest`.

    The revision is resolved first (``svn info --xml``) and the export pinned to it, so the
    returned provenance record names exactly what was exported.
    """
    svn = shutil.which("svn")
    if svn is None:
        raise SourceError("svn not available on this builder")
    try:
        netguard.check_url(job.url, timeout=job.timeout)  # Refused reaches the dispatcher
    except OSError as exc:
        raise SourceError(f"could not connect to {host_port(job.url)}: {exc}",
                          retryable=True) from None
    common = ["--non-interactive", "--config-option",
              f"servers:global:http-timeout={int(job.timeout)}"]
    secret = None
    if job.creds:
        common += ["--username", job.creds.username or "fabu", "--password-from-stdin",
                   "--no-auth-cache"]
        secret = job.creds.password + "\n"
    shown = redact(job.url)
    info = _run([svn, "info", "--xml", *common, "--revision", str(job.ref or "HEAD"), job.url],
                secret, job.timeout * 2, shown, job.ref, "reading")
    found = _provenance(info, shown, job.ref)
    pinned = found.get("revision") or job.ref
    cmd = [svn, "export", "--force", "--quiet", *common]
    if pinned:
        cmd += ["--revision", str(pinned)]
    _run(cmd + [job.url, str(dest)], secret, job.timeout * 10, shown, job.ref, "exporting")
    job.budget.take(sum(p.stat().st_size for p in dest.rglob("*")
                        if p.is_file() and not p.is_symlink()))
    return found


def _run(cmd: list[str], secret: str | None, timeout: float, shown: str, ref: str | None,
         doing: str) -> str:
    """Run one svn command; its stdout, or the SourceError its stderr means."""
    try:
        done = subprocess.run(cmd, input=secret, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SourceError(f"timed out after {timeout}s {doing} {shown}", retryable=True) from None
    if done.returncode != 0:
        raise export_error(done.stderr.strip(), shown, ref)
    return done.stdout


def _provenance(xml_text: str, shown: str, ref: str | None) -> dict:
    """The record of ``svn info --xml``: the revision, and the last change's revision, author
    and date."""
    try:
        entry = ElementTree.fromstring(xml_text).find("entry")
    except ElementTree.ParseError:
        entry = None
    if entry is None:
        return provenance.record("svn", shown, ref=ref)
    commit = entry.find("commit")
    return provenance.record(
        "svn", shown, ref=ref, revision=entry.get("revision"),
        last_changed_revision=commit.get("revision") if commit is not None else None,
        author=commit.findtext("author") if commit is not None else None,
        date=commit.findtext("date") if commit is not None else None)


def export_error(stderr: str, shown: str, ref: str | None) -> SourceError:
    """The SourceError a failed ``svn export`` with this stderr means."""
    if any(code in stderr for code in _AUTH_FAILED):
        return SourceError(f"authentication failed for {shown}")
    if any(code in stderr for code in _NOT_FOUND):
        what = f"revision {ref!r} of {shown}" if ref else shown
        first = next((line for line in stderr.splitlines()
                      if any(code in line for code in _NOT_FOUND)), stderr)
        return SourceError(f"svn could not find {what}: {_last_line(first)}")
    if any(code in stderr for code in _UNREACHABLE):
        return SourceError(f"could not connect to {shown}: {_last_line(stderr)}", retryable=True)
    return SourceError(f"svn export of {shown} failed: {_last_line(stderr)}")


def _last_line(text):
    return text.splitlines()[-1] if text else "no error output"
