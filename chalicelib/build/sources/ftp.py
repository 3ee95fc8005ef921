"""Fetch an ftp/ftps source with ftplib: one file, or a directory tree when the path is one.

Login is anonymous without credentials; ftps verifies the server's certificate against its host
name and switches the data channel to TLS (``PROT P``). A single file goes through
``archives.materialise`` (an archive is unpacked); a directory is copied recursively, listed with
MLSD when the server has it, else NLST and a ``cwd`` probe.

The control connection goes through ``netguard.connect`` (to an address the network rule allows,
never resolved twice); passive data connections go to the same address (the server's PASV
address is ignored, as ftplib does) on a port that is checked too.
"""
import ftplib
import posixpath
import socket
import ssl
import sys
import urllib.parse
from pathlib import Path

from chalicelib import netguard
from chalicelib.build import provenance
from chalicelib.build.sources.archives import check_name, download_slot, materialise
from chalicelib.build.sources.base import CHUNK, Budget, Job, SourceError, redact


def fetch(job: Job, dest: Path) -> dict:
    """Download the file or directory tree at `job.url` into `dest`.

    Returns the provenance record: the URL and, for one file, its ``MDTM`` modification time.
    """
    parts = urllib.parse.urlsplit(job.url)
    host, port = parts.hostname or "", parts.port or 21
    remote = urllib.parse.unquote(parts.path) or "/"
    timeout = job.timeout
    ftp = (_GuardedFTPS(timeout=timeout, context=ssl.create_default_context())
           if parts.scheme == "ftps" else _GuardedFTP(timeout=timeout))
    try:
        try:
            ftp.connect(host, port)
        except (OSError, EOFError) as exc:
            raise SourceError(f"could not connect to {host}:{port}: {exc}", retryable=True) from None
        try:
            user = (job.creds.username if job.creds else None) or parts.username or "anonymous"
            ftp.login(user, job.creds.password if job.creds else "anonymous@")
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm:
            raise SourceError(f"authentication failed for {redact(job.url)}") from None
        _download(ftp, remote, dest, job.budget)
        modified = _mdtm(ftp, remote)
        return provenance.record(parts.scheme, redact(job.url), last_modified=modified,
                                 revision=modified)
    except ftplib.error_perm as exc:
        raise SourceError(f"the FTP server refused {redact(job.url)}: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise SourceError(f"the FTPS server {host}:{port} has no certificate valid for {host}: "
                          f"{exc.verify_message}") from None
    except (ftplib.error_temp, socket.timeout, TimeoutError, ConnectionError, EOFError,
            ssl.SSLError) as exc:
        raise SourceError(f"FTP transfer from {host}:{port} failed: {exc}", retryable=True) from None
    finally:
        try:
            ftp.close()
        except OSError:
            pass


def _mdtm(ftp: ftplib.FTP, remote: str) -> str | None:
    """The file's modification time (``MDTM``, UTC ``YYYYMMDDhhmmss``); None for a directory or a
    server without MDTM."""
    try:
        answer = ftp.sendcmd(f"MDTM {remote}")
    except (*ftplib.all_errors, EOFError):
        return None
    code, _, value = answer.partition(" ")
    return value.strip() if code == "213" and value.strip() else None


class _Guarded:
    """``connect`` through ``netguard.connect``; passive data addresses checked as well."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        if source_address is not None:
            self.source_address = source_address
        sys.audit("ftplib.connect", self, self.host, self.port)
        self.sock = netguard.connect(self.host, self.port, self.timeout, self.source_address)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def makepasv(self):
        host, port = super().makepasv()
        problem = netguard.address_problem(host, port)
        if problem:
            raise netguard.Refused(f"the FTP server's data connection: {problem}")
        return host, port


class _GuardedFTP(_Guarded, ftplib.FTP):
    pass


class _GuardedFTPS(_Guarded, ftplib.FTP_TLS):
    pass


def _download(ftp, remote, dest, budget):
    try:
        ftp.cwd(remote)
    except ftplib.error_perm:
        name = posixpath.basename(remote.rstrip("/")) or "download"
        with download_slot(dest) as tmp:
            with open(tmp, "wb") as out:
                ftp.retrbinary(f"RETR {remote}", budget.writer(out), blocksize=CHUNK)
            materialise(tmp, name, dest, budget)
        return
    _copy_tree(ftp, remote.rstrip("/") or "/", dest, budget)


def _copy_tree(ftp, remote: str, dest: Path, budget: Budget):
    for name, is_dir in _list(ftp, remote):
        check_name(name)
        child = posixpath.join(remote, name)
        if is_dir:
            (dest / name).mkdir()
            _copy_tree(ftp, child, dest / name, budget)
        else:
            with open(dest / name, "wb") as out:
                ftp.retrbinary(f"RETR {child}", budget.writer(out), blocksize=CHUNK)


def _list(ftp, remote):
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
