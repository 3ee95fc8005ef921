"""Fixtures for the build tests: moto in-process, local git/HTTP/FTP servers, sample trees."""
import contextlib
import functools
import http.server
import os
import socket
import threading
from pathlib import Path

import pytest

from chalicelib import aws as chalice_aws


def free_port():
    """A localhost port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def aws_env(aws):
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


@contextlib.contextmanager
def http_server(directory: Path, auth=None):
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
def ftp_server(directory: Path, user="deploy", password="s3cret"):
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


def tree_listing(root: Path):
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
