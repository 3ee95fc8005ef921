"""Fixtures for the build tests: moto in-process, local git/HTTP/FTP servers, sample trees."""
import contextlib
import functools
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from chalicelib import aws as chalice_aws


def free_port() -> int:
    """A localhost port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def aws_env(aws: dict) -> Iterator[ModuleType]:
    """The suite's moto server with the stack of infra/resources.json, data wiped."""
    yield chalice_aws


def make_git_repo(root: Path) -> Path:
    """A repository with an annotated tag v1, a lightweight tag v2, a branch `feature`.

    v1: app.txt "one", bin/run (executable), link -> app.txt, .gitignore
    v2 (= main): app.txt "two"; feature: adds feature.txt
    """
    from dulwich import porcelain
    repo_path = root / "repo"
    repo = porcelain.init(str(repo_path))
    author = b"Test <test@example.com>"

    def commit(message):
        porcelain.add(repo, paths=[str(p) for p in repo_path.rglob("*")
                                   if ".git" not in p.parts and not p.is_dir()])
        return porcelain.commit(repo, message=message, author=author, committer=author)

    (repo_path / "app.txt").write_text("one\n")
    (repo_path / "bin").mkdir()
    (repo_path / "bin" / "run").write_text("#!/bin/sh\necho run\n")
    (repo_path / "bin" / "run").chmod(0o755)
    os.symlink("app.txt", repo_path / "link")
    (repo_path / ".gitignore").write_text("*.log\n")
    commit(b"one")
    porcelain.tag_create(repo, b"v1", author=author, message=b"v1", annotated=True)
    (repo_path / "app.txt").write_text("two\n")
    commit(b"two")
    porcelain.tag_create(repo, b"v2", annotated=False)
    porcelain.branch_create(repo, b"feature")
    porcelain.checkout(repo, b"feature")
    (repo_path / "feature.txt").write_text("feature\n")
    commit(b"feature")
    porcelain.checkout(repo, b"master" if b"refs/heads/master" in repo.refs else b"main")
    return repo_path


def archive_site(root: Path) -> Path:
    """``root/site`` with a plain file, a tarball and a zip, and archives that try to escape.

    app.jar; app-1.0.tar.gz (one top directory app-1.0/ with README and bin/start); app.zip
    (a.txt, dir/b.txt); evil.tgz (../../escape.txt); evil-link.tgz (a link to /etc/passwd);
    evil.zip (../escape.txt).
    """
    site = root / "site"
    site.mkdir()
    (site / "app.jar").write_bytes(b"jar bytes")
    with tarfile.open(site / "app-1.0.tar.gz", "w:gz") as tar:
        for name, data in (("app-1.0/README", b"readme\n"), ("app-1.0/bin/start", b"#!/bin/sh\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(site / "app.zip", "w") as zf:
        zf.writestr("a.txt", "a\n")
        zf.writestr("dir/b.txt", "b\n")
    with tarfile.open(site / "evil.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with tarfile.open(site / "evil-link.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with zipfile.ZipFile(site / "evil.zip", "w") as zf:
        zf.writestr("../escape.txt", "evil")
    return site


@contextlib.contextmanager
def http_server(directory: Path, auth: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1; with auth=(user, password) require HTTP basic auth."""
    import base64
    expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="x"')
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def ftp_server(directory: Path, user: str = "deploy", password: str = "s3cret") -> Iterator[str]:
    """pyftpdlib on 127.0.0.1 serving `directory` to one user."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(directory), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0.1})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"ftp://127.0.0.1:{server.address[1]}"
    finally:
        server.close_all()
        thread.join(timeout=5)


def tree_listing(root: Path) -> dict[str, bytes | str]:
    """{relative path: content or '-> target' or '/'} of a directory, for comparisons."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "/"
        else:
            out[rel] = path.read_bytes()
    return out
