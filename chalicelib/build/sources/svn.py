"""Fetch an svn source with ``svn export`` (``ref`` is a revision); clear when svn is missing.

The password goes in on stdin (``--password-from-stdin``), never on the command line. The whole
export gets ten times the network timeout. svn's error codes decide the message and whether a
retry may help.

svn is a separate program that resolves and connects by itself, so its connection cannot be
pinned: the URL's host is checked against the network rule (``chalicelib.netguard``) right
before svn starts. What remains: a DNS answer that changes in the milliseconds between that check
and svn's own lookup, and whatever svn's configuration (proxies in ``~/.subversion/servers``)
does. ``file://`` works only in stage ``local``.
"""
import shutil
import subprocess
from pathlib import Path

from chalicelib import netguard
from chalicelib.build.sources.base import Job, SourceError, host_port, redact

_AUTH_FAILED = ("E170001", "E215004", "Authentication failed")
_NOT_FOUND = ("E160013", "E170000", "E160006", "E195012", "E205000")
_UNREACHABLE = ("E170013", "E670002", "E120108", "E000111", "E175012")


def fetch(job: Job, dest: Path) -> None:
    """``svn export`` `job.url` (at revision `job.ref` when given) into `dest`."""
    svn = shutil.which("svn")
    if svn is None:
        raise SourceError("svn not available on this builder")
    try:
        netguard.check_url(job.url, timeout=job.timeout)  # Refused reaches the dispatcher
    except OSError as exc:
        raise SourceError(f"could not connect to {host_port(job.url)}: {exc}",
                          retryable=True) from None
    cmd = [svn, "export", "--force", "--quiet", "--non-interactive",
           "--config-option", f"servers:global:http-timeout={int(job.timeout)}"]
    if job.ref:
        cmd += ["--revision", str(job.ref)]
    secret = None
    if job.creds:
        cmd += ["--username", job.creds.username or "fabu", "--password-from-stdin",
                "--no-auth-cache"]
        secret = job.creds.password + "\n"
    cmd += [job.url, str(dest)]
    shown = redact(job.url)
    try:
        done = subprocess.run(cmd, input=secret, capture_output=True, text=True,
                              timeout=job.timeout * 10)
    except subprocess.TimeoutExpired:
        raise SourceError(f"timed out after {job.timeout * 10}s exporting {shown}",
                          retryable=True) from None
    if done.returncode != 0:
        raise export_error(done.stderr.strip(), shown, job.ref)
    job.budget.take(sum(p.stat().st_size for p in dest.rglob("*")
                        if p.is_file() and not p.is_symlink()))


def export_error(stderr: str, shown: str, ref: str | None) -> SourceError:
    """The SourceError a failed ``svn export`` with this stderr means."""
    if any(code in stderr for code in _AUTH_FAILED):
        return SourceError(f"authentication failed for {shown}")
    if any(code in stderr for code in _NOT_FOUND):
        what = f"revision {ref!r} of {shown}" if ref else shown
        return SourceError(f"svn could not find {what}: {_last_line(stderr)}")
    if any(code in stderr for code in _UNREACHABLE):
        return SourceError(f"could not connect to {shown}: {_last_line(stderr)}", retryable=True)
    return SourceError(f"svn export of {shown} failed: {_last_line(stderr)}")


def _last_line(text):
    return text.splitlines()[-1] if text else "no error output"
